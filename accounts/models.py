import secrets
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud


def generate_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(10))


class Organization(models.Model):
    """A company or team whose operators schedule its members' workloads (the old `operators`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=60, unique=True)
    join_code = models.CharField(
        max_length=32,
        unique=True,
        default=generate_join_code,
        help_text="Given to people who should register into this organisation.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    USER = "USER", "User"
    OPERATOR = "OPERATOR", "Operator"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        # Logins are case-insensitive, like the unique constraint on email.
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their email.

    Roles: a USER submits and follows their own workloads; an OPERATOR schedules every workload of
    their organisation. The *service role* is a staff user who is not an operator (or a
    superuser): full access for backend operations. An operator may also be staff, to use the
    Django admin; that does not widen what they see beyond their organisation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    user_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        help_text="Empty only for service accounts.",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the owner proved they receive mail at `email`; empty until then."
    )
    pending_email = models.EmailField(
        max_length=254, blank=True, help_text="A new address waiting for its confirmation; `email` changes then."
    )
    session_generation = models.PositiveIntegerField(
        default=0,
        help_text="Tokens carry the value current when they were minted; raising it (sign out everywhere, "
        "a password change) refuses every token minted before.",
    )
    is_placeholder = models.BooleanField(
        default=False,
        help_text="The organisation's 'deleted user': owns the workloads of erased accounts; never signs in.",
    )
    is_api_key_principal = models.BooleanField(
        default=False,
        editable=False,
        help_text="The user an API key acts as (``apikeys``): no member, no operator of anyone's; never signs in.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        indexes = [models.Index(fields=["organization", "role"])]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False) | models.Q(is_staff=True),
                name="accounts_user_member_has_organization",
            ),
            models.CheckConstraint(
                condition=~models.Q(role="OPERATOR") | models.Q(organization__isnull=False),
                name="accounts_user_operator_has_organization",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    #: The JWT claim holding ``session_generation`` (tokens minted before it existed count as 0).
    SESSION_CLAIM = "sgen"

    def token_revoked(self, payload) -> bool:
        """Whether a token (its claims) was minted before the last sign-out-everywhere."""
        return payload.get(self.SESSION_CLAIM, 0) != self.session_generation

    @property
    def is_person(self) -> bool:
        """A member who signs in: neither a "deleted user" placeholder nor an API key's principal."""
        return not (self.is_placeholder or self.is_api_key_principal)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR

    @property
    def is_service_role(self) -> bool:
        return self.is_superuser or (self.is_staff and self.role != Role.OPERATOR)

    @property
    def access_role(self) -> str:
        """Whom the access rules treat this user as: ``USER``, ``OPERATOR`` or ``SERVICE`` (the
        service role, which ``role`` alone does not show: a superuser's ``role`` is USER)."""
        return "SERVICE" if self.is_service_role else self.role

    def operates(self, organization_id) -> bool:
        """May act as an operator in this organisation: its own operators, and the service role."""
        return self.is_service_role or (self.is_operator and self.organization_id == organization_id)


class AuditAction(models.TextChoices):
    JOIN_CODE_ROTATED = "JOIN_CODE_ROTATED", "Join code rotated"
    MEMBER_DEACTIVATED = "MEMBER_DEACTIVATED", "Member deactivated"
    MEMBER_REACTIVATED = "MEMBER_REACTIVATED", "Member reactivated"
    ROLE_CHANGED = "ROLE_CHANGED", "Role changed"
    MEMBER_MOVED = "MEMBER_MOVED", "Member moved to another organisation"
    ACCOUNT_DELETED = "ACCOUNT_DELETED", "Account deleted"
    MEMBER_CREATED = "MEMBER_CREATED", "Member created in the admin"
    STAFF_GRANTED = "STAFF_GRANTED", "Admin sign-in granted"
    STAFF_REVOKED = "STAFF_REVOKED", "Admin sign-in revoked"
    SUPERUSER_GRANTED = "SUPERUSER_GRANTED", "Superuser granted"
    SUPERUSER_REVOKED = "SUPERUSER_REVOKED", "Superuser revoked"
    GROUPS_CHANGED = "GROUPS_CHANGED", "Admin groups changed"
    PERMISSIONS_CHANGED = "PERMISSIONS_CHANGED", "Admin permissions changed"


class AuditEntry(models.Model):
    """One change to an organisation's membership: who did what to whom, and when. Append-only."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        "User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the change; empty once their account is deleted.",
    )
    target = models.ForeignKey(
        "User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member changed; empty for organisation-wide changes and once the account is deleted.",
    )
    action = models.CharField(max_length=24, choices=AuditAction.choices)
    from_value = models.CharField(
        max_length=64, blank=True, help_text="The value before (a role, an organisation's slug), if any."
    )
    to_value = models.CharField(
        max_length=64, blank=True, help_text="The value after (a role, an organisation's slug), if any."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.created_at:%Y-%m-%d %H:%M})"


class SentAccountEmail(models.Model):
    """An account email sent for one outbox event: the record that makes a redelivered event (the
    outbox delivers at least once) send nothing twice. Holds no address and no token."""

    event_id = models.PositiveBigIntegerField(unique=True, help_text="The outbox event the email answered.")
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"email for event #{self.event_id}"
