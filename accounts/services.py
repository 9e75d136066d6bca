"""Writes for accounts and organisations (HackSoft styleguide: business rules live here)."""

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import Organization, Role, User
from pylon.services import model_update

PROFILE_FIELDS = ["user_name", "email"]


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
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list})
    user.set_password(password)
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent registration won the unique email
        raise ValidationError({"email": ["A user with this email already exists."]}, code="unique")
    return user


def user_update_profile(*, user: User, data: dict) -> User:
    if "email" in data:
        data = {**data, "email": User.objects.normalize_email(data["email"]).lower()}
        if User.objects.filter(email__iexact=data["email"]).exclude(pk=user.pk).exists():
            raise ValidationError({"email": ["A user with this email already exists."]}, code="unique")
    user, _ = model_update(instance=user, fields=PROFILE_FIELDS, data=data)
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
    ("zones", "view_gridzone"),
    ("workloads", "view_computeworkload"),
    ("workloads", "change_computeworkload"),
    ("workloads", "view_workloadevent"),
    ("scheduling", "view_schedulingpolicy"),
    ("scheduling", "change_schedulingpolicy"),
    ("scheduling", "view_recommendation"),
    ("scheduling", "view_schedulingoutcome"),
]


def operator_group_ensure() -> Group:
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    wanted = Permission.objects.none()
    for app_label, codename in OPERATOR_ADMIN_PERMISSIONS:
        wanted |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    group.permissions.add(*wanted)
    return group


def operator_grant_admin_access(*, user: User) -> User:
    """Let an operator use the Django admin (staff flag and the Operators group)."""
    if user.role != Role.OPERATOR:
        raise ValidationError({"role": ["Only operators get operator admin access."]})
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(operator_group_ensure())
    return user
