"""Gives every request an id (the caller's X-Request-ID when it is safe, else a new one) and echoes it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from audit.context import audit_context

# Letters, digits and . _ : - only, so the id can go into logs and headers as it is.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
HEADER = "X-Request-ID"


def request_id_exempt[V: Callable[..., Any]](view: V) -> V:
    """Leave the id out of this view's answers (the status lookup answers failures with identical headers)."""
    view.request_id_exempt = True  # type: ignore[attr-defined]
    return view


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get(HEADER, "")
        request_id = supplied if REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with audit_context(request_id=request_id, request=request):
            response = self.get_response(request)
        if not getattr(request, "request_id_exempt", False):
            response[HEADER] = request_id
        return response

    def process_view(self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any) -> None:
        if getattr(view, "request_id_exempt", False):
            request.request_id_exempt = True  # type: ignore[attr-defined]
