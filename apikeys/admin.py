"""API keys in the operators' console: an operator sees, creates and revokes their organisation's
keys (through the same selector and services as the API); the secret is shown once, on creation."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from accounts import selectors as account_selectors
from apikeys import selectors, services
from apikeys.models import ApiKey, ApiKeyScope


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyCreationForm
    list_display = [
        "name",
        "prefix",
        "organization",
        "scope_list",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "prefix"]
    list_select_related = ["organization", "created_by"]
    actions = ["revoke"]

    def _may(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and (user.is_operator or user.is_service_role)

    def has_module_permission(self, request):
        return self._may(request)

    def has_view_permission(self, request, obj=None):
        return self._may(request)

    def has_add_permission(self, request):
        return self._may(request)

    def has_change_permission(self, request, obj=None):
        return False  # a key is created and revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay, for the audit trail of what they did

    def get_queryset(self, request):
        return selectors.api_key_list(fetched_by=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = account_selectors.organization_list(fetched_by=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        key, secret = services.api_key_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"),
            created_by=request.user,
        )
        for field in ApiKey._meta.concrete_fields:  # the admin logs and redirects with ``obj``
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        messages.warning(request, f"The key's secret, shown this once — store it now: {secret}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            try:
                services.api_key_revoke(key=key, revoked_by=request.user)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.log_change(request, key, "Revoked")
            revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)
