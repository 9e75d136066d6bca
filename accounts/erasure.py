"""Deleting an account (the UK GDPR's right to erasure) without breaking an organisation's books.

The rule (README, "Account deletion"): the person's row goes, with their notifications, sessions and
idempotency keys. Their workloads stay, because the organisation accounts for what ran, but their
owner becomes the organisation's "deleted user" placeholder, and so does the actor of every event
they caused. The placeholder is an inactive account with no usable password, no name of anyone, and
an address at the reserved `.invalid` domain; it never appears among members.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import signals
from accounts.membership import audit_record, member_require_operator_remains
from accounts.models import AuditAction, Organization, Role, User

PLACEHOLDER_NAME = "Deleted user"


def organization_deleted_user(*, organization: Organization) -> User:
    """The organisation's placeholder for erased accounts; created on first use."""
    placeholder, created = User.objects.get_or_create(
        email=f"deleted-user+{organization.pk}@pylon.invalid",
        defaults={
            "user_name": PLACEHOLDER_NAME,
            "organization": organization,
            "role": Role.USER,
            "is_active": False,
            "is_placeholder": True,
        },
    )
    if created:
        placeholder.set_unusable_password()
        placeholder.save(update_fields=["password"])
    return placeholder


@transaction.atomic
def user_delete(*, user: User, password: str) -> None:
    """Erase ``user`` (the password confirms it is them); see the module's rule. An organisation's
    last operator is refused while it has other members (``membership.member_require_operator_remains``)."""
    if not user.check_password(password):
        raise ValidationError({"password": [ValidationError("The password is wrong.", code="wrong_password")]})
    # The organisation's lock first, then the account's: the order the membership services take them in.
    member_require_operator_remains(member=User.objects.get(pk=user.pk))
    user = User.objects.select_for_update().get(pk=user.pk)
    placeholder = organization_deleted_user(organization=user.organization) if user.organization_id else None
    signals.account_erasing.send(sender=User, user=user, placeholder=placeholder)
    if user.organization_id:
        # Who is gone is not kept (that would keep them); that someone left, and when, is.
        audit_record(organization_id=user.organization_id, actor=None, action=AuditAction.ACCOUNT_DELETED)
    user.delete()
