from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from accounts.membership import LastOperator, member_require_operator_remains
from accounts.models import Role, User


class UserAdminCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "user_name", "role", "organization")

    def clean_organization(self):
        # Only a staff service account has none, and this form makes no staff (the database refuses it).
        organization = self.cleaned_data.get("organization")
        if organization is None:
            raise ValidationError("A member needs an organisation.", code="required")
        return organization


class UserAdminChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        member = self.instance  # as stored: the form's values are applied after ``clean``
        stays_operator = (
            cleaned.get("role", member.role) == Role.OPERATOR
            and cleaned.get("is_active", member.is_active)
            and getattr(cleaned.get("organization", member.organization), "pk", None) == member.organization_id
        )
        if not stays_operator:
            try:
                member_require_operator_remains(member=member, lock=False)  # the service checks again, locked
            except LastOperator as exc:
                raise ValidationError(exc.message, code=exc.code) from None
        return cleaned
