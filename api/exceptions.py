"""Every API error has one shape: {"detail": ..., "code": ..., "fields": {...}}, in the request's language.

Domain errors become HTTP errors here and only here: an illegal or unsupported step of the
lifecycle → 409, an edit based on an old version → 412, a refused eligibility or invalid value → 400.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from installations.exceptions import DomainError, EligibilityError, StaleVersionError, TransitionError


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = _("Falta el encabezado If-Match con la versión (ETag) que está editando.")
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("El registro cambió mientras lo editaba; vuelva a cargarlo.")
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("Conflicto con el estado actual.")
    default_code = "conflict"


class UnprocessableEntity(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("La petición no se puede procesar.")
    default_code = "unprocessable"


def error_body(detail: object, code: str, fields: dict[str, list[str]] | None = None, **extra: object) -> dict[str, Any]:
    return {"detail": str(detail), "code": code, "fields": fields or {}, **extra}


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _flatten(value)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {("non_field_errors" if key == NON_FIELD_ERRORS else str(key)): _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, TransitionError):
        body = error_body(
            exc, exc.code, current=exc.current, wanted=exc.wanted, missing=[str(message) for message in exc.missing]
        )
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, StaleVersionError):
        return Response(error_body(exc, exc.code, current_version=exc.current), status=status.HTTP_412_PRECONDITION_FAILED)
    if isinstance(exc, EligibilityError):
        return Response(error_body(exc, exc.code, {exc.field: [str(exc)]}), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        return Response(error_body(exc, exc.code), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        fields = _fields(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return Response(error_body(_("Datos inválidos."), "invalid", fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError):  # a value the database cannot hold (a 30-digit id): bad input, not a fault
        return Response(
            error_body(_("Un valor está fuera del rango permitido."), "out_of_range"), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(_("Datos inválidos."), "invalid", _fields(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        detail = exc.detail if not isinstance(exc.detail, list | dict) else exc.default_detail
        response.data = error_body(detail, code)
    return response
