"""Reads for accounts: who may see which users is decided here, once."""

from django.db.models import QuerySet

from accounts.models import AuditEntry, Organization, Role, User


def _people() -> QuerySet[User]:
    """Accounts of people (``User.is_person``): not an organisation's "deleted user" placeholder nor
    an API key's principal. Only people are members: listed, counted and operators of anything."""
    return User.objects.filter(is_placeholder=False, is_api_key_principal=False)


def user_list(*, fetched_by: User) -> QuerySet[User]:
    """Members visible to the caller: the service role sees everyone, an operator their
    organisation, anyone else nobody (the view also refuses them with a 403)."""
    users = _people().select_related("organization")
    if fetched_by.is_service_role:
        return users
    if fetched_by.is_operator and fetched_by.organization_id:
        return users.filter(organization_id=fetched_by.organization_id)
    return users.none()


def member_list_active(*, organization_id) -> QuerySet[User]:
    """The people who are active members of an organisation (what the last-operator rule counts)."""
    return _people().filter(organization_id=organization_id, is_active=True)


def operator_list_active(*, organization_id) -> QuerySet[User]:
    """The organisation's active operators (people: a key's principal operates, but is no one to tell)."""
    return operator_list_active_of(organization_ids=[organization_id])


def operator_list_active_of(*, organization_ids) -> QuerySet[User]:
    """The active operators of any of ``organization_ids``, in one query (``operator_list_active``'s rule)."""
    return _people().filter(organization_id__in=list(organization_ids), is_active=True, role=Role.OPERATOR)


def profile_list(*, fetched_by: User) -> QuerySet[User]:
    """The caller's own account: the one row ``/auth/me/`` reads and changes."""
    return User.objects.select_related("organization").filter(pk=fetched_by.pk)


def organization_list(*, fetched_by: User) -> QuerySet[Organization]:
    """Organisations the caller may act in: all for the service role, else their own."""
    if fetched_by.is_service_role:
        return Organization.objects.all()
    return Organization.objects.filter(pk=fetched_by.organization_id)


def user_for_email(*, user_id) -> User | None:
    """The account an account email goes to: an active person (no placeholder, no key's principal)."""
    return _people().filter(pk=user_id, is_active=True).first()


def user_active(*, user_id) -> User | None:
    """The account ``user_id`` if it may still act (a live stream rechecks its caller with it)."""
    return User.objects.filter(pk=user_id, is_active=True).first()


def user_for_password_reset(*, email: str) -> User | None:
    """The account a reset request names, if it may reset its password (Django's rule: active, and
    with a usable password). None says nothing to the caller: the answer is the same 202."""
    user = _people().filter(email__iexact=email.strip(), is_active=True).first()
    return user if user is not None and user.has_usable_password() else None


def audit_entry_list(*, fetched_by: User) -> QuerySet[AuditEntry]:
    """Membership changes visible to the caller: the service role sees all, an operator their
    organisation's, anyone else none."""
    entries = AuditEntry.objects.select_related("actor", "target")
    if fetched_by.is_service_role:
        return entries
    if fetched_by.is_operator and fetched_by.organization_id:
        return entries.filter(organization_id=fetched_by.organization_id)
    return entries.none()
