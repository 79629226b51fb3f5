"""Exports in the API: installations and requests as CSV or XLSX, and the public padrón.

``GET exports/installations.{csv,xlsx}`` and ``GET exports/applications.{csv,xlsx}`` take the same
filters as the lists (the same FilterSet, as strictly: an empty value is a 400) and export the rows
the caller may see (a coordinator's alcaldías). Any other query parameter is refused rather than
ignored: a mistyped filter must not widen an export of personal data. CURP and phone come masked
and the address columns are left out unless ``full_personal_data=true``, which needs the
``legacy.export_full_pii`` permission and a ``justification``. ``GET exports/padron.{csv,xlsx}``
carries only the padrón's published fields. Coordinators and administrators only; each export
writes one ExportLog row. Answers are attachments that no cache may keep.

Large exports (reliability.md D4): an export of more rows than HARVEST_EXPORT_SYNC_MAX_ROWS
(10,000) answers 202 with a job (also in ``Location``) instead of the file; a worker builds it into
private storage and logs it. The job, which only its owner sees, then carries ``download_url``:
``GET exports/files/{job id}/`` gives the file to the user who asked for it, and to nobody else
(404, administrators included), for 24 hours after it was built (then 410, and the file is deleted).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import filters
from api.coverage import JOB_SHAPE, job_body
from api.permissions import IsCoordinatorOrAdministrator
from api.serializers import ErrorSerializer
from installations.models import Application, Installation, ProgramYear
from legacy.exports import (
    CONTENT_TYPES,
    FULL_PERSONAL_DATA_PERMISSION,
    JUSTIFICATION_MIN_LENGTH,
    ExportDownload,
    ExportExpiredError,
    ExportFile,
    ExportNotFoundError,
    export_build,
    export_download,
    export_request,
    export_row_count,
    export_sync_max_rows,
    filters_logged,
)
from legacy.models import ExportFormat, ExportKind
from worker.models import Job

FULL_PERSONAL_DATA = "full_personal_data"
JUSTIFICATION = "justification"
JUSTIFICATION_MAX_LENGTH = 1000
EMPTY = _("Indique un valor o quite el parámetro.")

MEDIA_TYPES = {ExportFormat.CSV: "text/csv", ExportFormat.XLSX: CONTENT_TYPES[ExportFormat.XLSX]}
INVALID = OpenApiResponse(ErrorSerializer, description="An unknown, empty or invalid parameter: `fields` names it.")
FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description="Technicians may not export; full personal data needs the export_full_pii permission.",
)
QUEUED = OpenApiResponse(
    JOB_SHAPE,
    description=(
        "More rows than the server builds at once (HARVEST_EXPORT_SYNC_MAX_ROWS, 10,000 by default): the export "
        "is queued as a job, also named in `Location`. Follow it at `GET /api/v1/jobs/{id}/` (only its owner can); "
        "once it has succeeded, `result.download_url` gives the file to the same user for 24 hours."
    ),
)
QUEUED_LOCATION = OpenApiParameter(
    "Location",
    str,
    OpenApiParameter.HEADER,
    response=[202],
    description="With 202: the queued job's URL (GET /api/v1/jobs/{id}/).",
)
PERSONAL_DATA_PARAMETERS = [
    OpenApiParameter(
        FULL_PERSONAL_DATA,
        OpenApiTypes.BOOL,
        description=(
            "true: CURP and phone in full and the address columns (calle_numero, latitud, longitud) included. "
            "Needs the export_full_pii permission (else 403) and a justification. Default false: "
            "CURP masked to its first 4 and last 2 characters, phone to its last 4 digits, no address columns."
        ),
    ),
    OpenApiParameter(
        JUSTIFICATION,
        str,
        description=f"Why the export is needed ({JUSTIFICATION_MIN_LENGTH}–{JUSTIFICATION_MAX_LENGTH} characters); "
        "required with full_personal_data=true, kept in the export log.",
    ),
]


def file_response(export: ExportFile | ExportDownload) -> FileResponse:
    response = FileResponse(export.file, as_attachment=True, filename=export.filename, content_type=export.content_type)
    response["Cache-Control"] = "no-store"
    return response


def _queued_response(job: Job, request: Request) -> Response:
    payload = job_body(job, request)
    return Response(payload, status=status.HTTP_202_ACCEPTED, headers={"Location": payload["url"], "Cache-Control": "no-store"})


class ExportSchema(AutoSchema):
    """Documents the FilterSet's parameters on a download, which drf-spectacular does only for lists."""

    def get_filter_backends(self) -> list[Any]:
        return getattr(self.view, "filter_backends", [])


class _ExportView(GenericAPIView):
    """One kind of export in one format; subclasses say which, and which filters apply."""

    permission_classes = [IsAuthenticated, IsCoordinatorOrAdministrator]
    filter_backends = [filters.StrictFilterBackend]
    pagination_class = None
    http_method_names = ["get", "options"]
    schema = ExportSchema()
    kind: ClassVar[str]
    file_format: ClassVar[str] = ExportFormat.CSV
    # Parameters of the export itself, beside the filters.
    own_parameters: ClassVar[frozenset[str]] = frozenset({FULL_PERSONAL_DATA, JUSTIFICATION})

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A client that asks for text/csv gets the file; errors still come as JSON, never a 406.
        return super().perform_content_negotiation(request, force=True)

    def known_parameters(self) -> set[str]:
        names = set(self.own_parameters)
        if self.filterset_class is not None:
            form = self.filterset_class(queryset=self.get_queryset().none()).form
            for name, field in form.fields.items():
                # A range filter reads <name>_after and <name>_before.
                suffixes = getattr(field.widget, "suffixes", None)
                names |= {f"{name}_{suffix}" for suffix in suffixes} if suffixes else {name}
        return names

    def check_parameters(self, request: Request) -> None:
        """Unknown or empty parameters are a 400 naming each of them."""
        errors: dict[str, list[Any]] = {}
        known = self.known_parameters()
        for name in request.query_params:
            if name not in known:
                errors[name] = [_("Parámetro desconocido.")]
            elif name in self.own_parameters and not request.query_params.get(name):
                errors[name] = [EMPTY]
        if errors:
            raise ValidationError(errors)

    def filters_query(self, request: Request) -> dict[str, list[str]]:
        """The filters as asked (name → values), without the export's own parameters."""
        return {name: values for name, values in request.query_params.lists() if name not in self.own_parameters}

    def filters_asked(self, request: Request) -> dict[str, Any]:
        """The filters as asked, for the log: one value, or the list of a repeated one."""
        return filters_logged(self.filters_query(request))


class _RecordExportView(_ExportView):
    def get(self, request: Request) -> FileResponse | Response:
        self.check_parameters(request)
        full_personal_data, justification = self.personal_data_choice(request)
        # Filters are checked here (a bad value is a 400 naming it) before anything is queued.
        queryset = self.filter_queryset(self.get_queryset())
        if export_row_count(kind=self.kind, user=request.user, queryset=queryset) > export_sync_max_rows():
            job = export_request(
                user=request.user,
                kind=self.kind,
                file_format=self.file_format,
                query=self.filters_query(request),
                full_personal_data=full_personal_data,
                justification=justification,
            )
            return _queued_response(job, request)
        export = export_build(
            user=request.user,
            kind=self.kind,
            file_format=self.file_format,
            queryset=queryset,
            filters=self.filters_asked(request),
            full_personal_data=full_personal_data,
            justification=justification,
        )
        return file_response(export)

    @staticmethod
    def personal_data_choice(request: Request) -> tuple[bool, str]:
        raw = request.query_params.get(FULL_PERSONAL_DATA, "false")
        if raw not in ("true", "false"):
            raise ValidationError({FULL_PERSONAL_DATA: [_("Use true o false.")]})
        justification = request.query_params.get(JUSTIFICATION, "").strip()
        if len(justification) > JUSTIFICATION_MAX_LENGTH:
            raise ValidationError({JUSTIFICATION: [_("Use a lo más %(max)s caracteres.") % {"max": JUSTIFICATION_MAX_LENGTH}]})
        if raw == "false":
            return False, justification
        if not request.user.has_perm(FULL_PERSONAL_DATA_PERMISSION):
            raise PermissionDenied(_("No tiene permiso para exportar datos personales completos."))
        if len(justification) < JUSTIFICATION_MIN_LENGTH:
            raise ValidationError(
                {
                    JUSTIFICATION: [
                        _("Explique para qué necesita los datos completos (al menos %(min)s caracteres).")
                        % {"min": JUSTIFICATION_MIN_LENGTH}
                    ]
                }
            )
        return True, justification


def _record_schema(noun: str, file_format: str) -> Any:
    return extend_schema(
        operation_id=f"exports_{noun}_{file_format}",
        summary=f"Export the {noun} the caller may see ({file_format.upper()})",
        description=(
            f"The {noun} the caller may see, filtered like the list, in the legacy spreadsheet's columns "
            "(docs: legacy/rows.py), one row each; households whose data is blocked are left out. Unknown or empty "
            "parameters answer 400. Cells that a spreadsheet could read as a formula start with an apostrophe. "
            "CSV is UTF-8 with a byte-order mark. Coordinators and administrators; every export is logged."
        ),
        parameters=[*PERSONAL_DATA_PARAMETERS, QUEUED_LOCATION],
        responses={
            (200, MEDIA_TYPES[file_format]): OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment."),
            202: QUEUED,
            400: INVALID,
            403: FORBIDDEN,
        },
    )


class InstallationExportCSVView(_RecordExportView):
    kind = ExportKind.INSTALLATIONS
    file_format = ExportFormat.CSV
    filterset_class = filters.InstallationFilter
    queryset = Installation.objects.none()  # the model, for the schema; get_queryset scopes to the caller

    def get_queryset(self) -> QuerySet[Installation]:
        return Installation.objects.visible_to(self.request.user)

    @_record_schema("installations", ExportFormat.CSV)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


class InstallationExportXLSXView(InstallationExportCSVView):
    file_format = ExportFormat.XLSX

    @_record_schema("installations", ExportFormat.XLSX)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


class ApplicationExportCSVView(_RecordExportView):
    kind = ExportKind.APPLICATIONS
    file_format = ExportFormat.CSV
    filterset_class = filters.ApplicationFilter
    queryset = Application.objects.none()  # the model, for the schema; get_queryset scopes to the caller

    def get_queryset(self) -> QuerySet[Application]:
        return Application.objects.visible_to(self.request.user)

    @_record_schema("applications", ExportFormat.CSV)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


class ApplicationExportXLSXView(ApplicationExportCSVView):
    file_format = ExportFormat.XLSX

    @_record_schema("applications", ExportFormat.XLSX)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


# --- The padrón -------------------------------------------------------------------------------------------------
class _PadronExportView(_ExportView):
    kind = ExportKind.PADRON
    filterset_class = None
    own_parameters = frozenset({"program_year"})

    def get_queryset(self) -> QuerySet[Installation]:
        return Installation.objects.none()  # the padrón reads its own query; nothing to filter here

    def get(self, request: Request) -> FileResponse | Response:
        self.check_parameters(request)
        program_year = None
        raw = request.query_params.get("program_year")
        if raw is not None:
            if not raw.isdigit() or not ProgramYear.objects.filter(year=int(raw)).exists():
                raise ValidationError({"program_year": [_("No hay un año del programa %(year)s.") % {"year": raw}]})
            program_year = int(raw)
        if export_row_count(kind=self.kind, user=request.user, program_year=program_year) > export_sync_max_rows():
            job = export_request(user=request.user, kind=self.kind, file_format=self.file_format, program_year=program_year)
            return _queued_response(job, request)
        export = export_build(
            user=request.user,
            kind=self.kind,
            file_format=self.file_format,
            program_year=program_year,
            filters={"program_year": program_year} if program_year is not None else {},
        )
        return file_response(export)


def _padron_schema(file_format: str) -> Any:
    return extend_schema(
        operation_id=f"exports_padron_{file_format}",
        summary=f"The beneficiary list (padrón) ({file_format.upper()})",
        description=(
            "People whose request has an installed system, in the alcaldías the caller may see (the whole city for "
            "administrators): nombre, alcaldia, colonia, sexo, edad (on the day of the export) and beneficio, nothing "
            "else; households whose data is blocked are left out. Coordinators and administrators; every export is logged."
        ),
        parameters=[
            OpenApiParameter("program_year", int, description="Program year, e.g. 2023; without it, all years."),
            QUEUED_LOCATION,
        ],
        responses={
            (200, MEDIA_TYPES[file_format]): OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment."),
            202: QUEUED,
            400: INVALID,
            403: FORBIDDEN,
        },
    )


class PadronExportCSVView(_PadronExportView):
    file_format = ExportFormat.CSV

    @_padron_schema(ExportFormat.CSV)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


class PadronExportXLSXView(_PadronExportView):
    file_format = ExportFormat.XLSX

    @_padron_schema(ExportFormat.XLSX)
    def get(self, request: Request) -> FileResponse | Response:
        return super().get(request)


# --- Files built by a worker (reliability.md D4) ------------------------------------------------------------------
class Gone(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = _("La descarga ya no está disponible (vence 24 horas después de generarse); pida la exportación de nuevo.")
    default_code = "gone"


class ExportFileView(APIView):
    """A built export, for the user who asked for it only, while its 24 hours last."""

    permission_classes = [IsAuthenticated, IsCoordinatorOrAdministrator]
    http_method_names = ["get", "options"]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # As for the exports: a client asking for text/csv gets the file; errors still come as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="exports_files_retrieve",
        summary="Download an export built by a worker",
        description=(
            "The file of an export queued with 202, once its job has succeeded (the job's `result.download_url`). "
            "Only the user who asked for it may download it; for anybody else, administrators included, it does not "
            "exist (404). It can be downloaded for 24 hours after it was built; then 410, and the file is deleted."
        ),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The export job's id.")],
        responses={
            (200, MEDIA_TYPES[ExportFormat.CSV]): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file (CSV or XLSX, as asked), as an attachment that no cache may keep."
            ),
            (200, MEDIA_TYPES[ExportFormat.XLSX]): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file (CSV or XLSX, as asked), as an attachment that no cache may keep."
            ),
            403: FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="No finished export of the caller's with this id."),
            410: OpenApiResponse(ErrorSerializer, description="The 24 hours are over (or the file is gone): ask again."),
        },
    )
    def get(self, request: Request, pk: str) -> FileResponse:
        try:
            download = export_download(job_id=pk, user=request.user)
        except ExportNotFoundError:
            raise NotFound from None
        except ExportExpiredError:
            raise Gone from None
        except PermissionError:
            raise PermissionDenied(_("No tiene permiso para exportar datos personales completos.")) from None
        return file_response(download)
