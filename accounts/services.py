"""Writes for accounts and organisations (HackSoft styleguide: business rules live here)."""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import selectors
from accounts.models import Organization, Role, SentAccountEmail, User
from accounts.tokens import email_confirmation_tokens, password_reset_tokens, user_from_link
from outbox import selectors as outbox_selectors
from outbox import services as outbox
from outbox.models import EventType
from pylon.core.exceptions import ApplicationError, ErrorCode
from pylon.services import model_update

PROFILE_FIELDS = ["user_name"]
BAD_LINK = "This link is invalid, has been used already or has expired: ask for a new one."


class EmailNotVerified(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = ErrorCode.EMAIL_NOT_VERIFIED


class NothingToConfirm(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = ErrorCode.CONFLICT


def user_require_verified_email(*, user: User, to: str) -> None:
    """Refuse ``to`` (what the caller tried, e.g. "submit workloads") until the address is confirmed."""
    if not user.email_verified:
        raise EmailNotVerified(
            f"Confirm your email address {user.email} before you {to}: follow the link we emailed you, or ask "
            "for a new one at POST /api/v1/auth/email/confirmation/resend/."
        )


def user_require_may_sign_in(*, user: User) -> None:
    if not settings.ACCOUNTS_ALLOW_UNVERIFIED_SIGN_IN:
        user_require_verified_email(user=user, to="sign in")


def _validated_password(password: str, *, user: User, field: str) -> str:
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from None
    return password


def organization_get_default() -> Organization:
    """The organisation of people who register without a join code; created on first use."""
    organization, _ = Organization.objects.get_or_create(
        slug=settings.DEFAULT_ORGANIZATION_SLUG,
        defaults={"name": settings.DEFAULT_ORGANIZATION_NAME},
    )
    return organization


def _organization_for_join_code(join_code: str | None) -> Organization:
    if not join_code:
        return organization_get_default()
    organization = Organization.objects.filter(join_code=join_code.strip().upper()).first()
    if organization is None:
        raise ValidationError({"join_code": ["No organisation has this join code."]}, code="invalid")
    return organization


@transaction.atomic
def user_register(*, email: str, password: str, user_name: str = "", join_code: str | None = None) -> User:
    """Create a USER in the organisation the join code names (or the default one).

    Nobody chooses their own role or organisation id here: operators are promoted by staff.
    """
    organization = _organization_for_join_code(join_code)
    user = User(
        email=User.objects.normalize_email(email).lower(),
        user_name=user_name,
        role=Role.USER,
        organization=organization,
    )
    if User.objects.filter(email__iexact=user.email).exists():
        raise ValidationError({"email": ["A user with this email already exists."]}, code="unique")
    user.set_password(_validated_password(password, user=user, field="password"))
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent registration won the unique email
        raise ValidationError({"email": ["A user with this email already exists."]}, code="unique")
    _email_owed(EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED, user=user, actor=user)
    return user


@transaction.atomic
def account_email_owe(*, event_type: str, user_id) -> bool:
    """Owe the account ``user_id`` an account email, if it may still receive one; True when owed."""
    user = selectors.user_for_email(user_id=user_id)
    if user is None:
        return False
    _email_owed(event_type, user=user, actor=None)
    return True


def _email_owed(event_type: str, *, user: User, actor: User | None) -> None:
    """Owe ``user`` an account email: an outbox event in the caller's transaction, so a broker outage
    delays it and never loses it (``accounts.handlers`` sends it). It names the account only: the
    link's token is made when the message is sent, so no secret is in the log or the broker."""
    outbox.event_record(type=event_type, organization_id=user.organization_id, subject_id=user.pk, actor=actor)


@transaction.atomic
def account_email_send_once(*, event_id: int, user_id, send: Callable[..., None]) -> bool:
    """Send an account email (``send(user=...)``) for outbox event ``event_id``, unless it was sent for
    that event already or the account may no longer receive mail; True when sent. The record and
    the send share a transaction: a send that fails leaves no record (the event is delivered again),
    and a concurrent run of the same event waits on the record's unique id, then finds it."""
    user = selectors.user_for_email(user_id=user_id)
    if user is None:
        return False
    _, created = SentAccountEmail.objects.get_or_create(event_id=event_id)
    if created:
        send(user=user)
    return created


def account_emails_prune(*, before: datetime) -> int:
    """Delete the records of account emails sent before ``before`` whose event can no longer be
    delivered (handled, or pruned from the log): nothing is left for them to send twice. Returns how many."""
    stale = SentAccountEmail.objects.filter(sent_at__lt=before).exclude(
        event_id__in=outbox_selectors.events_pending().values("id")
    )
    deleted, _ = stale.delete()
    return deleted


def _ensure_email_free(email: str, *, user: User) -> None:
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise ValidationError({"email": ["A user with this email already exists."]}, code="unique")


@transaction.atomic
def user_update_profile(*, user: User, data: dict) -> User:
    """Change the name at once; a new email address only once it is confirmed (``pending_email``
    until then, with a confirmation sent to it). Sending the current address cancels a pending one."""
    confirmation_owed = False
    if "email" in data:
        email = User.objects.normalize_email(data["email"]).lower()
        pending = "" if email == user.email else email
        if pending:
            _ensure_email_free(pending, user=user)
        if pending != user.pending_email:
            user.pending_email = pending
            user.save(update_fields=["pending_email"])
            confirmation_owed = bool(pending)
    user, _ = model_update(instance=user, fields=PROFILE_FIELDS, data=data)
    if confirmation_owed:  # recorded last, as events are (``outbox.services.events_record``)
        _email_owed(EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED, user=user, actor=user)
    return user


@transaction.atomic
def email_confirmation_resend(*, user: User) -> None:
    if user.email_verified and not user.pending_email:
        raise NothingToConfirm(f"{user.email} is confirmed already.")
    _email_owed(EventType.ACCOUNT_EMAIL_CONFIRMATION_REQUESTED, user=user, actor=user)


@transaction.atomic
def email_confirm(*, uid: str, token: str) -> User:
    """Follow a confirmation link: the pending address becomes the login, or the address is confirmed.
    Confirming changes what the token hashed, so the link works once."""
    user = user_from_link(uid=uid, token=token, generator=email_confirmation_tokens)
    if user is None:
        raise ValidationError({"token": [ValidationError(BAD_LINK, code="invalid")]})
    user = User.objects.select_for_update().get(pk=user.pk)
    fields = ["email_verified_at"]
    if user.pending_email:
        _ensure_email_free(user.pending_email, user=user)  # taken since it was asked for
        user.email, user.pending_email = user.pending_email, ""
        fields += ["email", "pending_email"]
    user.email_verified_at = timezone.now()
    try:
        with transaction.atomic():
            user.save(update_fields=fields)
    except IntegrityError:
        raise ValidationError({"email": ["A user with this email already exists."]}, code="unique") from None
    return user


@transaction.atomic
def user_sessions_revoke(*, user: User) -> None:
    """Sign out everywhere: blacklist every refresh token of ``user``, and refuse every token minted
    before (their ``session_generation`` claim is now behind; checked on every request and refresh)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken=None)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in live.values_list("pk", flat=True)], ignore_conflicts=True
    )


def _password_set(*, user: User, password: str) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])
    user_sessions_revoke(user=user)


@transaction.atomic
def user_password_change(*, user: User, current_password: str, new_password: str) -> User:
    """Set a new password (the current one proves it is the owner) and revoke every session."""
    if not user.check_password(current_password):
        raise ValidationError(
            {"current_password": [ValidationError("The current password is wrong.", code="wrong_password")]}
        )
    _password_set(user=user, password=_validated_password(new_password, user=user, field="new_password"))
    return user


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Email a reset link if ``email`` names an account that may reset; say nothing either way."""
    user = selectors.user_for_password_reset(email=email)
    if user is not None:
        _email_owed(EventType.ACCOUNT_PASSWORD_RESET_REQUESTED, user=user, actor=None)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Follow a reset link: set the password and revoke every session. The new password changes what
    the token hashed, so the link works once. Receiving the link also proves the address."""
    user = user_from_link(uid=uid, token=token, generator=password_reset_tokens)
    if user is None:
        raise ValidationError({"token": [ValidationError(BAD_LINK, code="invalid")]})
    _password_set(user=user, password=_validated_password(new_password, user=user, field="new_password"))
    if not user.email_verified:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


def refresh_token_blacklist(*, token: RefreshToken) -> None:
    """Blacklist ``token``; of concurrent calls with one token exactly one succeeds.

    simplejwt's ``blacklist()`` is check-then-insert (``get_or_create``), so parallel refreshes of one
    token all passed and each minted a pair. Here the blacklist row is *inserted*: its one-to-one
    column is unique, so a second insert waits for the first transaction and then fails, and the
    loser gets a ``TokenError`` (401 ``token_not_valid``) before it mints anything.
    """
    jti = token.payload[jwt_settings.JTI_CLAIM]
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={
            # Callable: looked up only when the row is missing (tokens minted here always have one).
            "user": lambda: User.objects.filter(
                **{jwt_settings.USER_ID_FIELD: token.payload.get(jwt_settings.USER_ID_CLAIM)}
            ).first(),
            "created_at": token.current_time,
            "token": str(token),
            "expires_at": datetime_from_epoch(token.payload["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise TokenError("Token is blacklisted") from None


def user_logout(*, refresh_token: str) -> None:
    """Blacklist the refresh token so it can never mint access tokens again."""
    refresh_token_blacklist(token=RefreshToken(refresh_token))  # a bad token: TokenError, 401 token_not_valid


OPERATORS_GROUP = "Operators"
# What an operator may do in the Django admin; rows are still limited to their organisation.
OPERATOR_ADMIN_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "view_organization"),
    ("accounts", "view_auditentry"),
    ("zones", "view_gridzone"),
    ("workloads", "view_computeworkload"),
    ("workloads", "change_computeworkload"),
    ("workloads", "view_workloadevent"),
    ("workloads", "view_capacityoverbooking"),
    ("scheduling", "view_schedulingpolicy"),
    ("scheduling", "change_schedulingpolicy"),
    ("scheduling", "view_recommendation"),
    ("scheduling", "view_schedulingoutcome"),
]


def _operator_permissions_grant(group: Group, *, using: str = "default") -> None:
    wanted = Permission.objects.using(using).none()
    for app_label, codename in OPERATOR_ADMIN_PERMISSIONS:
        wanted |= Permission.objects.using(using).filter(content_type__app_label=app_label, codename=codename)
    group.permissions.add(*wanted)


def operator_group_ensure() -> Group:
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    _operator_permissions_grant(group)
    return group


def operator_group_refresh(*, using: str = "default") -> None:
    """Give an existing Operators group every permission ``OPERATOR_ADMIN_PERMISSIONS`` names (run at
    each migrate); no group yet is left so: the first operator granted admin access creates it."""
    group = Group.objects.using(using).filter(name=OPERATORS_GROUP).first()
    if group is not None:
        _operator_permissions_grant(group, using=using)


def operator_grant_admin_access(*, user: User) -> User:
    """Let an operator use the Django admin (staff flag and the Operators group)."""
    if user.role != Role.OPERATOR:
        raise ValidationError({"role": ["Only operators get operator admin access."]})
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(operator_group_ensure())
    return user


def operator_revoke_admin_access(*, user: User) -> User:
    """Undo ``operator_grant_admin_access`` (a demoted operator must not keep staff: a staff member who
    is not an operator is the service role)."""
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    user.groups.remove(*user.groups.filter(name=OPERATORS_GROUP))
    return user
