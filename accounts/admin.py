from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from accounts import membership, selectors
from accounts.forms import UserAdminChangeForm, UserAdminCreationForm
from accounts.models import AuditEntry, Organization, User
from pylon.console.options import ReadOnlyModelAdmin
from pylon.core.exceptions import ApplicationError


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "join_code", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return selectors.organization_list(fetched_by=request.user)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    ordering = ["email"]
    list_display = ["email", "user_name", "role", "organization", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "organization", "is_active", "is_staff"]
    search_fields = ["email", "user_name"]
    list_select_related = ["organization"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("user_name", "role", "organization")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "user_name", "role", "organization", "usable_password", "password1", "password2"),
            },
        ),
    )

    def get_queryset(self, request):
        # The API's rule: an operator who is staff manages the members of their own organisation only.
        return selectors.user_list(fetched_by=request.user)

    def get_list_filter(self, request):
        # The filter's choices are every organisation: only the service role may see them all.
        if request.user.is_service_role:
            return self.list_filter
        return [name for name in self.list_filter if name != "organization"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Who may only view a member gets no "Reset password" link (it would answer 403).
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
                for name, options in fieldsets
            ]
        return fieldsets

    def get_list_display(self, request):
        if request.user.is_service_role:
            return self.list_display
        return [name for name in self.list_display if name != "organization"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_service_role:
            # Operators cannot grant staff, superuser or move people between organisations.
            readonly += ["organization", "is_staff", "is_superuser", "groups", "user_permissions"]
        return readonly

    # Membership changes (organisation, role, activation) are the services' (``membership.member_update``):
    # checked and audited as through the API; so are admin access (``member_admin_access_update``) and a
    # new account (``member_create``). The rest of the form is saved as Django does, first, so that the
    # services' own writes (staff and the Operators group for a role) have the last word.
    def save_model(self, request, obj, form, change):
        if not change:
            membership.member_create(member=obj, by=request.user)
            return
        form.edit_savepoint = transaction.savepoint()  # a refused membership change undoes the whole edit
        form.membership_changes = self._changes(form, membership.MEMBERSHIP_FIELDS)
        form.access_changes = self._changes(form, membership.ADMIN_ACCESS_FIELDS)
        stored = User.objects.get(pk=obj.pk)
        for name in [*form.membership_changes, *form.access_changes]:
            if name not in self._RELATIONS:
                setattr(obj, name, getattr(stored, name))
        super().save_model(request, obj, form, change)

    _RELATIONS = ("groups", "user_permissions")  # saved by ``save_m2m`` unless taken out of its data

    @staticmethod
    def _changes(form, names):
        return {name: form.cleaned_data[name] for name in names if name in form.changed_data}

    def save_related(self, request, form, formsets, change):
        access_changes = getattr(form, "access_changes", {})
        for name in self._RELATIONS:
            if name in access_changes:
                del form.cleaned_data[name]  # the service sets it
        super().save_related(request, form, formsets, change)
        changes = getattr(form, "membership_changes", None)
        if not (changes or access_changes):
            return
        try:
            membership.member_admin_access_update(member=form.instance, by=request.user, **access_changes)
            membership.member_update(member=form.instance, by=request.user, **changes)
        except (ApplicationError, PermissionDenied, ValidationError) as exc:  # e.g. lost a race to the form's check
            transaction.savepoint_rollback(form.edit_savepoint)
            request.membership_refused = True
            self.message_user(
                request, f"The membership change was refused: {getattr(exc, 'message', exc)}", messages.ERROR
            )

    def log_change(self, request, obj, message):
        if not getattr(request, "membership_refused", False):  # nothing changed
            return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        if getattr(request, "membership_refused", False):
            return HttpResponseRedirect(request.path)  # back to the form, without "changed successfully"
        return super().response_change(request, obj)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    """The membership audit log: read-only for everyone (the services write it)."""

    list_display = ["created_at", "action", "actor", "target", "from_value", "to_value", "organization"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor__email", "target__email"]
    list_select_related = ["actor", "target", "organization"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return selectors.audit_entry_list(fetched_by=request.user)
