from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import organization, privacy, recovery, views

router = SimpleRouter()
router.register("accounts/users", views.MemberViewSet, basename="member")
router.register("accounts/organizations", organization.OrganizationViewSet, basename="organization")
router.register("accounts/audit", organization.AuditEntryViewSet, basename="audit-entry")

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout/everywhere/", recovery.LogoutEverywhereView.as_view(), name="auth-logout-everywhere"),
    path("auth/me/", views.MeView.as_view(), name="auth-me"),
    path("auth/me/export/", privacy.AccountExportView.as_view(), name="auth-me-export"),
    path("auth/me/delete/", privacy.AccountDeleteView.as_view(), name="auth-me-delete"),
    path("auth/password/change/", recovery.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", recovery.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password/reset/confirm/",
        recovery.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/email/confirm/", recovery.EmailConfirmView.as_view(), name="auth-email-confirm"),
    path(
        "auth/email/confirmation/resend/",
        recovery.EmailConfirmationResendView.as_view(),
        name="auth-email-confirmation-resend",
    ),
    *router.urls,
]
