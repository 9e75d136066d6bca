"""Writes of organisation management: the join code, members' activation, roles and organisation,
and what the admin alone changes (accounts it creates, admin access). Every change is an
``AuditEntry`` written in the same transaction as the change (who, what, to whom, when), whether it
comes from the API or the admin (``member_update``, ``member_create``, ``member_admin_access_update``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from rest_framework import status

from accounts import selectors, services
from accounts.models import AuditAction, AuditEntry, Organization, Role, User, generate_join_code
from pylon.core.exceptions import ApplicationError, ErrorCode


class LastOperator(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = ErrorCode.LAST_OPERATOR


def audit_record(
    *,
    organization_id,
    actor: User | None,
    action: str,
    target: User | None = None,
    from_value: str = "",
    to_value: str = "",
) -> AuditEntry:
    return AuditEntry.objects.create(
        organization_id=organization_id,
        actor=actor,
        target=target,
        action=action,
        from_value=from_value,
        to_value=to_value,
    )


def _require_operator_of(by: User, organization_id) -> None:
    if not by.operates(organization_id):
        raise PermissionDenied("Only operators of the organisation may do this.")


@transaction.atomic
def organization_join_code_rotate(*, organization: Organization, by: User) -> Organization:
    """A new join code: the old one stops working at once (people already in stay)."""
    _require_operator_of(by, organization.pk)
    for _ in range(5):
        organization.join_code = generate_join_code()
        try:
            with transaction.atomic():
                organization.save(update_fields=["join_code"])
            break
        except IntegrityError:  # 32^10 codes: a clash is all but impossible; try another
            continue
    audit_record(organization_id=organization.pk, actor=by, action=AuditAction.JOIN_CODE_ROTATED)
    return organization


def member_require_operator_remains(*, member: User, lock: bool = True) -> None:
    """The rule, for every caller (the service role too: it promotes a successor first): an
    organisation with other active members keeps an active operator, so ``member`` may not stop
    being one (be demoted, deactivated, moved or deleted) if they are its last. A sole member may:
    nobody is left without an operator. Call it before the change; ``lock`` holds the organisation's
    row to the commit, so that two such changes at once cannot both see the other operator remain."""
    if not (member.organization_id and member.role == Role.OPERATOR and member.is_active and member.is_person):
        return
    if lock:
        list(Organization.objects.select_for_update().filter(pk=member.organization_id).values_list("pk"))
    others = selectors.member_list_active(organization_id=member.organization_id).exclude(pk=member.pk)
    if others.exists() and not others.filter(role=Role.OPERATOR).exists():
        raise LastOperator(
            f"{member.email} is the organisation's last operator: make another member an operator first."
        )


def _require_may_manage(member: User, by: User) -> None:
    _require_operator_of(by, member.organization_id)
    if member.pk == by.pk:
        raise PermissionDenied("You cannot change your own membership; ask another operator.")
    if member.is_service_role and not by.is_service_role:
        raise PermissionDenied("Only the service role may change a service account.")


def _member_set_active(*, member: User, by: User, active: bool) -> User:
    _require_may_manage(member, by)
    if member.is_active == active:
        return member  # nothing changes, nothing is recorded
    if not active:
        member_require_operator_remains(member=member)
    member.is_active = active
    member.save(update_fields=["is_active"])
    if not active:
        services.user_sessions_revoke(user=member)
    action = AuditAction.MEMBER_REACTIVATED if active else AuditAction.MEMBER_DEACTIVATED
    audit_record(organization_id=member.organization_id, actor=by, action=action, target=member)
    return member


@transaction.atomic
def member_deactivate(*, member: User, by: User) -> User:
    """The member can no longer sign in, and every session of theirs ends now. Their workloads stay."""
    return _member_set_active(member=member, by=by, active=False)


@transaction.atomic
def member_reactivate(*, member: User, by: User) -> User:
    """The member may sign in again (with their old password)."""
    return _member_set_active(member=member, by=by, active=True)


@transaction.atomic
def member_role_change(*, member: User, role: str, by: User) -> User:
    """The service role makes a member an operator (with the operators' admin access) or a user (who
    loses it: a staff member who is not an operator would count as the service role)."""
    if not by.is_service_role:
        raise PermissionDenied("Only the service role may change roles.")
    if member.organization_id is None:
        raise ValidationError({"role": ["A service account has no organisation to have a role in."]})
    if member.pk == by.pk:
        raise PermissionDenied("You cannot change your own role.")
    previous = member.role
    if role == previous:
        return member
    member_require_operator_remains(member=member)
    member.role = role
    member.save(update_fields=["role"])
    if role == Role.OPERATOR:
        services.operator_grant_admin_access(user=member)
    elif not member.is_superuser:
        services.operator_revoke_admin_access(user=member)
    audit_record(
        organization_id=member.organization_id,
        actor=by,
        action=AuditAction.ROLE_CHANGED,
        target=member,
        from_value=previous,
        to_value=role,
    )
    return member


@transaction.atomic
def member_move(*, member: User, organization: Organization | None, by: User) -> User:
    """The service role moves a member to another organisation (or a service account out of any);
    recorded in the log of each organisation involved, from one slug to the other."""
    if not by.is_service_role:
        raise PermissionDenied("Only the service role may move members between organisations.")
    previous = member.organization
    if getattr(organization, "pk", None) == member.organization_id:
        return member
    member_require_operator_remains(member=member)
    member.organization = organization
    member.save(update_fields=["organization"])
    for involved in [org for org in (previous, organization) if org is not None]:  # each one's log
        audit_record(
            organization_id=involved.pk,
            actor=by,
            action=AuditAction.MEMBER_MOVED,
            target=member,
            from_value=getattr(previous, "slug", ""),
            to_value=getattr(organization, "slug", ""),
        )
    return member


#: What ``member_update`` changes, in this order, each through its own service.
MEMBERSHIP_FIELDS = ("organization", "role", "is_active")


@transaction.atomic
def member_update(*, member: User, by: User, **changes) -> User:
    """Apply membership changes (``organization``, ``role``, ``is_active``: only those given) through
    the services above, so an edit in the admin is checked and audited like one through the API."""
    unknown = set(changes) - set(MEMBERSHIP_FIELDS)
    if unknown:
        raise ValueError(f"not membership fields: {', '.join(sorted(unknown))}")
    if "organization" in changes:
        member = member_move(member=member, organization=changes["organization"], by=by)
    if "role" in changes:
        member = member_role_change(member=member, role=changes["role"], by=by)
    if "is_active" in changes:
        member = _member_set_active(member=member, by=by, active=changes["is_active"])
    return member


def _audit_member(member: User, *, by: User, action: str, from_value: str = "", to_value: str = "") -> None:
    """Record a change to ``member`` in their organisation's log. A service account belongs to no
    organisation, so it has no log to record in (the admin's own history still lists the edit)."""
    if member.organization_id is not None:
        audit_record(
            organization_id=member.organization_id,
            actor=by,
            action=action,
            target=member,
            from_value=from_value,
            to_value=to_value,
        )


@transaction.atomic
def member_create(*, member: User, by: User) -> User:
    """Save an account built in the admin (its creation form has set the password): only an operator
    of its organisation (the service role for a service account) may; an operator gets the operators'
    admin access, as a promotion gives it; recorded with the new member's role."""
    if member.organization_id is None:
        if not by.is_service_role:
            raise PermissionDenied("Only the service role may create a service account.")
    else:
        _require_operator_of(by, member.organization_id)
    member.save()
    if member.role == Role.OPERATOR:
        services.operator_grant_admin_access(user=member)
    _audit_member(member, by=by, action=AuditAction.MEMBER_CREATED, to_value=member.role)
    return member


#: What ``member_admin_access_update`` changes: who may use the admin, and with which rights.
ADMIN_ACCESS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")
_ADMIN_ACCESS_FLAGS = {
    "is_staff": (AuditAction.STAFF_GRANTED, AuditAction.STAFF_REVOKED),
    "is_superuser": (AuditAction.SUPERUSER_GRANTED, AuditAction.SUPERUSER_REVOKED),
}
_AUDIT_VALUE_LENGTH = AuditEntry._meta.get_field("from_value").max_length


def _names_for_audit(names) -> str:
    text = ", ".join(sorted(names))
    return text if len(text) <= _AUDIT_VALUE_LENGTH else text[: _AUDIT_VALUE_LENGTH - 1] + "…"


def _group_names(groups) -> list[str]:
    return sorted(group.name for group in groups)


def _permission_names(permissions) -> list[str]:
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related("content_type"))


#: The relations among ``ADMIN_ACCESS_FIELDS``: how each names its items, and how its change is recorded.
_ADMIN_ACCESS_RELATIONS = {
    "groups": (_group_names, AuditAction.GROUPS_CHANGED),
    "user_permissions": (_permission_names, AuditAction.PERMISSIONS_CHANGED),
}


def _relation_set(member: User, *, by: User, related, to, names, action: str) -> None:
    """Set one of the member's admin rights relations to ``to``; record it when it changed."""
    before = names(related.all())
    related.set(to)
    after = names(related.all())
    if before != after:
        _audit_member(
            member,
            by=by,
            action=action,
            from_value=_names_for_audit(before),
            to_value=_names_for_audit(after),
        )


@transaction.atomic
def member_admin_access_update(*, member: User, by: User, **changes) -> User:
    """Change who may use the admin and with which rights (``ADMIN_ACCESS_FIELDS``: only those
    given): only the service role may; each change that changes something is recorded."""
    unknown = set(changes) - set(ADMIN_ACCESS_FIELDS)
    if unknown:
        raise ValueError(f"not admin access fields: {', '.join(sorted(unknown))}")
    if not by.is_service_role:
        raise PermissionDenied("Only the service role may change admin access.")
    for flag, (granted, revoked) in _ADMIN_ACCESS_FLAGS.items():
        if flag in changes and bool(changes[flag]) != getattr(member, flag):
            setattr(member, flag, bool(changes[flag]))
            member.save(update_fields=[flag])
            _audit_member(member, by=by, action=granted if changes[flag] else revoked)
    for name, (names, action) in _ADMIN_ACCESS_RELATIONS.items():
        if name in changes:
            _relation_set(member, by=by, related=getattr(member, name), to=changes[name], names=names, action=action)
    return member
