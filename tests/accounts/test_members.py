import pytest

from conftest import REQUEST_OVERHEAD_QUERIES
from tests.accounts.factories import OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/accounts/users/"


def ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def test_operator_lists_exactly_their_organisation(make_client, operator, user, other_organization):
    colleague = UserFactory(organization=operator.organization)
    stranger = UserFactory(organization=other_organization)
    OperatorFactory(organization=other_organization)
    response = make_client(operator).get(USERS)
    assert response.status_code == 200
    assert ids(response) == {str(operator.id), str(user.id), str(colleague.id)}
    assert str(stranger.id) not in ids(response)
    assert response.json()["count"] == 3


def test_operator_cannot_read_a_member_of_another_organisation(make_client, operator, other_organization):
    stranger = UserFactory(organization=other_organization)
    response = make_client(operator).get(f"{USERS}{stranger.id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_plain_user_may_not_list_members(make_client, user):
    response = make_client(user).get(USERS)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_service_role_lists_everyone(make_client, service_user, user, other_organization):
    stranger = UserFactory(organization=other_organization)
    assert {str(user.id), str(stranger.id), str(service_user.id)} <= ids(
        make_client(service_user).get(f"{USERS}?page_size=100")
    )


def test_staff_operator_is_still_scoped_to_their_organisation(make_client, operator, other_organization):
    operator.is_staff = True
    operator.save()
    stranger = UserFactory(organization=other_organization)
    assert str(stranger.id) not in ids(make_client(operator).get(USERS))


def test_filter_and_search(make_client, operator):
    UserFactory(organization=operator.organization, user_name="Findable Person")
    client = make_client(operator)
    assert [row["user_name"] for row in client.get(f"{USERS}?search=findable").json()["results"]] == ["Findable Person"]
    assert {row["role"] for row in client.get(f"{USERS}?role=OPERATOR").json()["results"]} == {"OPERATOR"}
    assert client.get(f"{USERS}?role=KING").status_code == 400


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(make_client, operator, django_assert_num_queries, rows):
    client = make_client(operator)
    UserFactory.create_batch(rows, organization=operator.organization)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # count, page with organisation joined
        assert client.get(USERS).status_code == 200


@pytest.mark.django_db
def test_who_operates_an_organisation(organization, other_organization):
    from tests.accounts.factories import OperatorFactory, ServiceUserFactory, UserFactory

    operator = OperatorFactory(organization=organization)
    assert operator.operates(organization.pk)
    assert not operator.operates(other_organization.pk)
    assert not UserFactory(organization=organization).operates(organization.pk)
    assert ServiceUserFactory().operates(other_organization.pk)
