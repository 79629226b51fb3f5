"""The OpenAPI schema and the interactive docs, served by the app itself (nothing from a CDN)."""

import re


def test_the_schema_describes_the_api(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/public/status/" in paths
    assert "/api/v1/applications/{id}/transition/" in paths


def test_the_docs_pages_load_their_assets_from_the_app(client, db):
    for page in ("/api/docs/",):
        html = client.get(page).content.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources
        assert all(source.startswith("/") for source in sources), sources
