"""API clients for the tests: logged in as a user (or anonymous), in a language."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient


def client_for(user: Any | None, language: str | None = None) -> APIClient:
    """An API client authenticated as ``user`` (None: anonymous), asking for ``language`` if given."""
    client = APIClient(headers={"Accept-Language": language} if language else None)
    if user is not None:
        client.force_authenticate(user)
    return client


def streamed_body(response: Any) -> bytes:
    """The whole body of a streaming (file) response."""
    return b"".join(response.streaming_content)
