"""The OpenAPI schema generates and documents every CRM endpoint."""

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.leads.test_api_auth import ENDPOINTS


def test_it_serves_the_schema(api):
    response = api.get("/api/v1/schema/")

    assert response.status_code == 200


def test_the_schema_and_docs_need_a_login(api):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    for url in ("/api/v1/schema/", "/api/v1/docs/"):
        assert anonymous.get(url).status_code in (401, 403), url
    assert api.get("/api/v1/docs/").status_code == 200


def test_the_schema_is_valid_and_lists_every_endpoint(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)

    validate_schema(schema)
    for endpoint in ENDPOINTS:
        assert f"/api/v1/{endpoint}/" in schema["paths"]
        assert (
            f"/api/v1/{endpoint}/{{{'code' if endpoint == 'statuses' else 'id'}}}/"
            in schema["paths"]
        )
