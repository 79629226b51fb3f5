"""The project's URLs plus two baselines for benchmarks/api_load.py (mounted only by settings_bench).

- ``bench/ok/``: ``{"ok": true}`` straight from Django: the floor of gunicorn, middleware and JSON.
- ``bench/installation-keyset/?before=<pk>``: the 50 installations below a primary key as a bare
  ``values()`` query, with the same fields as the API's installation list: the floor of the query.

Neither has authentication or scope; they exist only on a benchmark server bound to 127.0.0.1.
"""

from __future__ import annotations

import functools

from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.urls import Resolver404, path, resolve
from rest_framework.relations import ManyRelatedField
from rest_framework.serializers import BaseSerializer

from harvest.urls import urlpatterns as harvest_urlpatterns
from installations.models import Installation

INSTALLATION_LIST_URL = "/api/v1/installations/"
PAGE_SIZE = 50


def _values_lookup(source: str) -> str | None:
    """The ``values()`` lookup for a serializer field's source on Installation, or None if it is not a column."""
    model = Installation
    parts = source.split(".")
    for position, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None  # a property or method
        if field.many_to_many or field.one_to_many:
            return None  # a list: values() would repeat the row
        if position < len(parts) - 1:
            if field.related_model is None:
                return None
            model = field.related_model
    return "__".join(parts)


@functools.cache
def installation_list_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lookups, skipped names): the API list's fields that are columns, read from its serializer.

    Without the endpoint (or its serializer), every column of Installation.
    """
    columns = tuple(field.attname for field in Installation._meta.concrete_fields)
    try:
        match = resolve(INSTALLATION_LIST_URL)
    except Resolver404:
        return columns, ()
    view_class = getattr(match.func, "cls", None)
    serializer_class = None
    if view_class is not None:
        try:
            view = view_class(**getattr(match.func, "initkwargs", {}))
            view.action, view.request, view.format_kwarg = "list", None, None
            serializer_class = view.get_serializer_class()
        except Exception:  # a get_serializer_class that needs a request: fall back to the attribute
            serializer_class = getattr(view_class, "serializer_class", None)
    if serializer_class is None:
        return columns, ()
    lookups: list[str] = []
    skipped: list[str] = []
    for name, field in serializer_class().fields.items():
        lookup = None
        if not isinstance(field, BaseSerializer | ManyRelatedField) and field.source != "*":
            lookup = _values_lookup(field.source)
        if lookup is None:
            skipped.append(name)
        elif lookup not in lookups:
            lookups.append(lookup)
    return tuple(lookups) or columns, tuple(skipped)


def ok(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def installation_keyset(request: HttpRequest) -> JsonResponse | HttpResponseBadRequest:
    before = request.GET.get("before", "")
    if not before.isdigit():
        return HttpResponseBadRequest("before=<pk>")
    fields, _skipped = installation_list_fields()
    rows = Installation.objects.filter(pk__lt=int(before)).order_by("-pk").values(*fields)[:PAGE_SIZE]
    return JsonResponse({"results": list(rows)})


urlpatterns = [
    path("bench/ok/", ok),
    path("bench/installation-keyset/", installation_keyset),
    *harvest_urlpatterns,
]
