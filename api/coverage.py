"""Coverage statistics and background jobs in the API.

``GET coverage/`` serves the latest published snapshot as it was stored (requests never compute
statistics); ``POST coverage/refresh/`` queues a compile and answers 202 with the job, which
``GET jobs/{id}/`` follows. Coordinators see their alcaldías' figures only; administrators see the
whole city. Technicians have no access to either.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import IsCoordinatorOrAdministrator
from coverage.services import coverage_latest_snapshot, coverage_refresh_request, coverage_slices, describe
from installations.lifecycle import Status
from installations.models import Alcaldia, ApplicantSex, Modality, ProgramYear, User
from legacy.exports import export_file_available
from worker.models import Job, JobKind

FUNNEL_LABELS = {
    "registered": _("Registradas"),
    "documents_complete": _("Con documentos completos"),
    "visited": _("Con visita técnica"),
    "viable": _("Viables"),
    "installed": _("Con sistema instalado"),
    "working": _("Con sistema en operación"),
}


def _scope_alcaldias(user: User) -> list[str] | None:
    """The alcaldías whose figures the caller may read; None for the whole city (administrators)."""
    if user.is_superuser or user.role == User.Role.ADMINISTRATOR:
        return None
    return sorted(user.alcaldias.values_list("cvegeo", flat=True))


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: DRF's own also takes 0, 1, "yes", "on"…, which hides client bugs."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
        raise AssertionError  # fail() raises


class CoverageQuerySerializer(serializers.Serializer):
    program_year = serializers.IntegerField(required=False, help_text="Año del programa; sin él, el acumulado de todos los años.")
    alcaldia = serializers.CharField(required=False, max_length=5, help_text="Clave INEGI de la alcaldía (09007).")
    modality = serializers.ChoiceField(choices=Modality.choices, required=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A parameter sent empty (?modality=) is a client bug, not "no filter" (as in every list's filters).
        empty = sorted(name for name in self.fields if name in data and data.get(name) == "")
        if empty:
            raise ValidationError({name: [_("Indique un valor o quite el parámetro.")] for name in empty})
        return super().to_internal_value(data)

    def validate_program_year(self, value: int) -> int:
        if not ProgramYear.objects.filter(year=value).exists():
            raise ValidationError(_("No hay un año del programa %(year)s.") % {"year": value})
        return value

    def validate_alcaldia(self, value: str) -> str:
        if not Alcaldia.objects.filter(cvegeo=value).exists():
            raise ValidationError(_("No hay una alcaldía con la clave %(code)s.") % {"code": value})
        return value


def _labelled(figures: dict[str, Any]) -> dict[str, Any]:
    """The stored figures with labels in the request's language (labels are not stored)."""
    out = dict(figures)
    out["by_status"] = [{**row, "label": str(Status(row["status"]).label)} for row in figures["by_status"]]
    out["funnel"] = [{**row, "label": str(FUNNEL_LABELS[row["stage"]])} for row in figures["funnel"]]
    out["by_sex"] = [{**row, "label": str(ApplicantSex(row["sex"]).label)} for row in figures["by_sex"]]
    return out


def _slice_body(piece: Any, names: dict[str, str]) -> dict[str, Any]:
    return {
        "program_year": piece.program_year or None,
        "alcaldia": {"cvegeo": piece.alcaldia, "name": names.get(piece.alcaldia, "")} if piece.alcaldia else None,
        "modality": piece.modality or None,
        **_labelled(piece.figures),
    }


JOB_SHAPE = inline_serializer(
    name="Job",
    fields={
        "id": serializers.UUIDField(),
        "kind": serializers.CharField(),
        "kind_label": serializers.CharField(),
        "state": serializers.ChoiceField(choices=Job.State.choices),
        "state_label": serializers.CharField(),
        "progress": inline_serializer(
            name="JobProgress",
            fields={
                "done": serializers.IntegerField(),
                "total": serializers.IntegerField(),
                "percent": serializers.IntegerField(allow_null=True),
            },
        ),
        "created_at": serializers.DateTimeField(),
        "started_at": serializers.DateTimeField(allow_null=True),
        "finished_at": serializers.DateTimeField(allow_null=True),
        "error": serializers.CharField(),
        "result": serializers.DictField(),
        "url": serializers.CharField(),
    },
)


def job_body(job: Job, request: Request) -> dict[str, Any]:
    total = job.progress_total
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "kind_label": str(job.get_kind_display()),
        "state": job.state,
        "state_label": str(job.get_state_display()),
        "progress": {
            "done": job.progress_done,
            "total": total,
            "percent": round(100 * job.progress_done / total) if total else None,
        },
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "result": _job_result(job, request),
        "url": request.build_absolute_uri(reverse("job-detail", args=[job.pk])),
    }


def _job_result(job: Job, request: Request) -> dict[str, Any]:
    """The stored result; a built export's adds its download link while the file may be downloaded."""
    if job.kind == JobKind.EXPORT and export_file_available(job):
        return {**job.result, "download_url": request.build_absolute_uri(reverse("export-file", args=[job.pk]))}
    return job.result


class CoverageView(APIView):
    permission_classes = [IsCoordinatorOrAdministrator]

    @extend_schema(
        summary="Coverage figures from the latest snapshot",
        description=(
            "Figures of the latest published snapshot for one program year (or all years), alcaldía (or the "
            "whole city, administrators only) and modality (or both). Coordinators get one result per alcaldía "
            "they cover. `snapshot` is null until the first compile has finished. Definitions: docs/coverage.md."
        ),
        parameters=[CoverageQuerySerializer],
        responses={
            200: inline_serializer(
                name="Coverage",
                fields={
                    "snapshot": serializers.DictField(allow_null=True),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        query = CoverageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data.get("alcaldia")
        allowed = _scope_alcaldias(request.user)
        if allowed is None:
            alcaldias = [wanted or ""]
        elif wanted is not None:
            if wanted not in allowed:
                raise PermissionDenied(_("La alcaldía %(code)s no está entre las suyas.") % {"code": wanted})
            alcaldias = [wanted]
        else:
            alcaldias = allowed
        snapshot = coverage_latest_snapshot()
        if snapshot is None:
            return Response({"snapshot": None, "results": []})
        pieces = coverage_slices(
            snapshot=snapshot,
            program_year=query.validated_data.get("program_year", 0),
            alcaldias=alcaldias,
            modality=query.validated_data.get("modality", ""),
        )
        names = dict(Alcaldia.objects.filter(cvegeo__in=alcaldias).values_list("cvegeo", "name"))
        return Response({"snapshot": describe(snapshot), "results": [_slice_body(p, names) for p in pieces]})


class CoverageRefreshSerializer(serializers.Serializer):
    incremental = StrictBooleanField(
        default=False, help_text="Recalcular solo las alcaldías con cambios desde el último corte del día."
    )


class CoverageRefreshView(APIView):
    permission_classes = [IsCoordinatorOrAdministrator]

    @extend_schema(
        summary="Queue a coverage compile",
        description=(
            "Queues a compile and answers 202 with its job; follow it at the job's URL (also in `Location`). "
            "If a compile is already queued or running, that job is answered instead of starting a second one."
        ),
        request=CoverageRefreshSerializer,
        responses={202: OpenApiResponse(JOB_SHAPE)},
    )
    def post(self, request: Request) -> Response:
        body = CoverageRefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job, _created = coverage_refresh_request(by=request.user, incremental=body.validated_data["incremental"])
        payload = job_body(job, request)
        return Response(payload, status=status.HTTP_202_ACCEPTED, headers={"Location": payload["url"]})


class JobView(APIView):
    permission_classes = [IsCoordinatorOrAdministrator]

    @extend_schema(
        summary="A background job's state and progress",
        description=(
            "Administrators see every job; coordinators the jobs they asked for and the scheduled ones. An export job "
            "is seen by the user who asked for it only; once built, its `result.download_url` gives the file."
        ),
        parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="The job's id (UUID).")],
        responses={200: OpenApiResponse(JOB_SHAPE)},
    )
    def get(self, request: Request, pk: str) -> Response:
        job = get_object_or_404(Job, pk=pk)
        # Administrators follow every job; others the ones they asked for and the schedule's own.
        if _scope_alcaldias(request.user) is not None and job.created_by_id not in (None, request.user.pk):
            raise NotFound
        # An export's job leads to personal data: its owner's alone, administrators' neither.
        if job.kind == JobKind.EXPORT and job.created_by_id != request.user.pk:
            raise NotFound
        return Response(job_body(job, request))
