"""Demo organisations and people. The logins are documented in README.md."""

from django.utils import timezone

from accounts.models import Organization, Role, User
from accounts.services import operator_grant_admin_access

DEMO_PASSWORD = "pylon-demo-2026"

DEMO_ORGANIZATIONS = [
    {
        "name": "Northwind Compute",
        "slug": "northwind",
        "join_code": "NORTHWIND",
        "operator": ("ops@northwind.example", "Olivia Operator"),
        "users": [("ada@northwind.example", "Ada Lovelace"), ("alan@northwind.example", "Alan Turing")],
    },
    {
        "name": "Bramble AI Labs",
        "slug": "bramble",
        "join_code": "BRAMBLE",
        "operator": ("ops@bramble.example", "Oscar Operator"),
        "users": [("grace@bramble.example", "Grace Hopper"), ("linus@bramble.example", "Linus Pauling")],
    },
]
SERVICE_ACCOUNT = ("admin@pylon.example", "Pylon Service")


def _person(email: str, name: str, **fields) -> User:
    user, created = User.objects.update_or_create(email=email, defaults={"user_name": name, **fields})
    if not user.email_verified:  # the demo's addresses count as confirmed, so its users can submit
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    if created or not user.has_usable_password():
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def seed_people() -> dict[str, list[User]]:
    """Two organisations with one operator and two users each, and a service (staff) account.

    Idempotent: running it again changes nothing but resets roles and names to the demo's.
    """
    people: dict[str, list[User]] = {}
    for spec in DEMO_ORGANIZATIONS:
        organization, _ = Organization.objects.update_or_create(
            slug=spec["slug"], defaults={"name": spec["name"], "join_code": spec["join_code"]}
        )
        operator = _person(*spec["operator"], role=Role.OPERATOR, organization=organization)
        operator_grant_admin_access(user=operator)
        users = [_person(email, name, role=Role.USER, organization=organization) for email, name in spec["users"]]
        people[spec["slug"]] = [operator, *users]
    email, name = SERVICE_ACCOUNT
    service = _person(email, name, role=Role.USER, organization=None, is_staff=True, is_superuser=True)
    people["service"] = [service]
    return people
