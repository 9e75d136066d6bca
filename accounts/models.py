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
