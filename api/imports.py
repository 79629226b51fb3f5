"""Legacy spreadsheet imports in the API: upload a sheet, get a job, follow it at ``GET jobs/{id}/``.

``POST imports/`` takes a CSV or XLSX (multipart, field ``file``) and ``dry_run`` ("true" only checks
and reports). The upload is checked as a whole here (size, type, an XLSX's zip directory) and
stored under a name the server makes; the rows are checked and stored by a worker, and the job's
``result`` is the report: counts, and every refused row with its number as the office sees it in
the spreadsheet, its column and the reason. Coordinators and administrators only.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.coverage import JOB_SHAPE, StrictBooleanField, job_body
from api.permissions import IsCoordinatorOrAdministrator
from legacy.reading import LIMITS, declared_too_large, too_large_message
from legacy.services import import_request


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("El archivo es demasiado grande.")
    default_code = "too_large"


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(too_large_message())


class FormBooleanField(StrictBooleanField):
    """``true`` or ``false``: JSON's booleans, or a form field's text; DRF's own also takes 0, 1, "on"…"""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, str) and data.strip().lower() in {"true", "false"}:
            return data.strip().lower() == "true"
        return super().to_internal_value(data)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="La hoja legada: .csv (UTF-8 o Windows-1252) o .xlsx, de a lo más 20 MB, con los encabezados de la plantilla."
    )
    dry_run = FormBooleanField(
        default=False, help_text="true: solo validar y reportar, sin guardar nada; false (por omisión): importar."
    )


class ImportView(APIView):
    permission_classes = [IsCoordinatorOrAdministrator]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Import a legacy spreadsheet",
        description=(
            "Stores the upload and queues its import; answers 202 with the job (also in `Location`). Follow it at "
            "`GET /api/v1/jobs/{id}/`: `progress` counts rows, and once finished `result` is the report (`ok`, "
            "`rows`, `created`, `updated`, `unchanged`, `errors` as `{row, column, message}`). A real run stores "
            "all rows or none: with any refused row nothing is stored and the report lists every refusal; importing "
            "the same sheet again changes nothing. A file that is not a CSV or XLSX answers 400 on the field `file`; "
            "one over 20 MB answers 413."
        ),
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            202: OpenApiResponse(JOB_SHAPE),
            400: OpenApiResponse(description="No file, or not a CSV or XLSX the program can read (field `file`)."),
            413: OpenApiResponse(description="The upload is larger than 20 MB."),
        },
    )
    def post(self, request: Request) -> Response:
        # Refuse an oversized body before reading it (the permission check has already run).
        if declared_too_large(request.META):
            raise _too_large()
        body = ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > LIMITS.max_bytes:
            raise _too_large()
        job = import_request(upload=upload, by=request.user, dry_run=body.validated_data["dry_run"])
        payload = job_body(job, request)
        return Response(payload, status=status.HTTP_202_ACCEPTED, headers={"Location": payload["url"]})
