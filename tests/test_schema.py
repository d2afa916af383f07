"""The OpenAPI document: generated without warnings, valid, and served."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient


def test_schema_generates_valid_without_warnings(tmp_path: Path, db: None) -> None:
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns every generator warning (an unannotated view, a clashing
    # component name) into a failure; --validate checks it against the OpenAPI spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert text.startswith("openapi: 3")
    for path in ("/api/v1/auth/token", "/api/v1/rooms/", "/api/v1/realtime/tickets"):
        assert f"{path}:" in text


@pytest.mark.parametrize(
    ("url", "content_type"),
    [("/api/schema/", "application/vnd.oai.openapi"), ("/api/docs/", "text/html")],
)
def test_schema_and_docs_are_served(url: str, content_type: str, db: None) -> None:
    response = APIClient().get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)


def test_swagger_ui_loads_its_files_from_this_server(db: None) -> None:
    page = APIClient().get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr" not in page
