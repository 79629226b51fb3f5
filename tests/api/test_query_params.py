"""Bad query parameters are answered with 400 naming the parameter, never ignored and never a 500."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def client(administrator) -> APIClient:
    api = APIClient()
    api.force_authenticate(administrator)
    return api


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("visited_on_before=", "visited_on_before"),
        ("pending=null", "pending"),
        ("technician=0.5", "technician"),
        ("program_year=-16920458515740492841353216", "program_year"),
        ("page_size=0", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_size=500", "page_size"),
        ("cursor=__main__", "cursor"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(client, query, field):
    response = client.get(f"/api/v1/technical-visits/?{query}")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_an_id_too_large_for_the_database_is_a_400_not_a_500(client):
    response = client.get("/api/v1/installations/?colonia=516575898307168605044736")
    assert response.status_code == 400


def test_good_parameters_still_filter(client):
    assert client.get("/api/v1/technical-visits/?pending=true&page_size=10").status_code == 200
