import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Organization, Role, User

PASSWORD = "correct-horse-battery-staple"


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"organisation-{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    user_name = factory.Faker("name")
    role = Role.USER
    organization = factory.SubFactory(OrganizationFactory)
    password = factory.django.Password(PASSWORD)
    email_verified_at = factory.LazyFunction(timezone.now)  # verified: may submit workloads


class OperatorFactory(UserFactory):
    role = Role.OPERATOR


class ServiceUserFactory(UserFactory):
    organization = None
    is_staff = True
