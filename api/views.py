"""The staff API: reference data, the four field records with their lifecycle actions, and the worklist.

Reads go view → selector → queryset, scoped to the caller: another's record answers 404 and lists never
show it. Writes go through the services, and creates under a parent (a visit for a request, a
maintenance visit for a system) look the parent up in the caller's scope first, so a parent the caller
cannot see answers 404 and nothing is written. Creates need an ``Idempotency-Key``; edits an
``If-Match`` with the record's ETag (api/mixins.py). State changes are actions, never edits.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import filters
from api import serializers as shapes
from api.exceptions import Conflict
from api.mixins import IdempotentCreateMixin, VersionedUpdateMixin
from api.permissions import IsCoordinatorOrAdministrator, is_technician
from installations.models import (
    Alcaldia,
    Application,
    Colonia,
    EligibleColonia,
    Installation,
    MaintenanceVisit,
    ProgramYear,
    TechnicalVisit,
)
from installations.selectors import (
    alcaldia_queryset,
    application_queryset,
    colonia_queryset,
    eligible_colonia_queryset,
    installation_list_queryset,
    installation_queryset,
    maintenance_visit_queryset,
    program_year_queryset,
    technical_visit_queryset,
    worklist,
)
from installations.services import (
    application_register,
    application_transition,
    installation_record,
    maintenance_visit_record,
    record_update,
    technical_visit_record,
    technical_visit_schedule,
    technical_visit_verify_adjustments,
)

# --- OpenAPI: the headers and error answers every field record shares ------------------------------------
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A key the client makes once per record (8–255 letters, digits or . _ : -), kept per user for 30 days. "
        "A repeat with the same body gets the first answer again (header Idempotent-Replayed: true); "
        "with another body 422; while the first is still running 409."
    ),
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version being edited, as received, e.g. "3". Without it 428; if the record changed since, 412.',
)
NOT_FOUND = OpenApiResponse(shapes.ErrorSerializer, description="No such record, or not one the caller may see.")
INVALID = OpenApiResponse(shapes.ErrorSerializer, description="Invalid data: `fields` names each field at fault.")
FORBIDDEN = OpenApiResponse(shapes.ErrorSerializer, description="The caller's role may not do this.")
LIFECYCLE_CONFLICT = OpenApiResponse(
    shapes.TransitionErrorSerializer,
    description="The lifecycle does not allow this step from `current` to `wanted`, or `missing` evidence is not recorded.",
)
CREATE_CONFLICT = OpenApiResponse(
    shapes.ErrorSerializer,
    description=(
        "The first request with this Idempotency-Key is still running, the record's client_uuid is already stored, "
        "or the lifecycle refuses the step (then with `current`, `wanted` and `missing`)."
    ),
)
KEY_REUSED = OpenApiResponse(shapes.ErrorSerializer, description="This Idempotency-Key was used with another body.")
STALE = OpenApiResponse(
    shapes.StaleVersionErrorSerializer, description="If-Match is not the current version; nothing was written."
)
PRECONDITION_REQUIRED = OpenApiResponse(shapes.ErrorSerializer, description="If-Match is missing or malformed.")


def _record_schema(
    *,
    noun: str,
    output: type,
    create: type,
    update: type,
    created: type | None = None,
    create_note: str = "",
    listed: type | None = None,
) -> Any:
    return extend_schema_view(
        list=extend_schema(
            summary=f"List {noun}s the caller may see",
            description="Newest first, by cursor." + (" Each row is a summary; retrieve one for all of it." if listed else ""),
            **({"responses": listed(many=True)} if listed else {}),
        ),
        retrieve=extend_schema(summary=f"One {noun}", responses={200: output, 404: NOT_FOUND}),
        create=extend_schema(
            summary=f"Record a {noun} (offline-safe)",
            description=create_note,
            parameters=[IDEMPOTENCY_KEY],
            request=create,
            responses={
                201: created or output,
                400: INVALID,
                403: FORBIDDEN,
                404: NOT_FOUND,
                409: CREATE_CONFLICT,
                422: KEY_REUSED,
            },
        ),
        partial_update=extend_schema(
            summary=f"Edit a {noun}'s plain fields",
            description="Send If-Match with the ETag received. On success the version goes up by one (new ETag).",
            parameters=[IF_MATCH],
            request=update,
            responses={200: output, 400: INVALID, 404: NOT_FOUND, 412: STALE, 428: PRECONDITION_REQUIRED},
        ),
    )


# --- Reference data ---------------------------------------------------------------------------------------
class AlcaldiaViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = shapes.AlcaldiaSerializer
    lookup_field = "cvegeo"
    pagination_class = None  # sixteen, fixed by law

    def get_queryset(self) -> QuerySet[Alcaldia]:
        return alcaldia_queryset()


class ColoniaViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = shapes.ColoniaSerializer
    filterset_class = filters.ColoniaFilter

    def get_queryset(self) -> QuerySet[Colonia]:
        return colonia_queryset()


@extend_schema_view(
    list=extend_schema(description="The program's years; each year's colonias are under eligible-colonias/."),
)
class ProgramYearViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = shapes.ProgramYearSerializer
    lookup_field = "year"
    pagination_class = None  # one row per year since 2019

    def get_queryset(self) -> QuerySet[ProgramYear]:
        return program_year_queryset()


@extend_schema_view(
    list=extend_schema(
        summary="A year's eligible colonias",
        parameters=[OpenApiParameter("year", int, OpenApiParameter.PATH)],
        responses={200: shapes.EligibleColoniaSerializer(many=True), 404: NOT_FOUND},
    )
)
class EligibleColoniaViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = shapes.EligibleColoniaSerializer
    filterset_class = filters.EligibleColoniaFilter

    def get_queryset(self) -> QuerySet[EligibleColonia]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no year
            return EligibleColonia.objects.none()
        return eligible_colonia_queryset(program_year=get_object_or_404(ProgramYear, year=self.kwargs["year"]))


# --- Field records ------------------------------------------------------------------------------------------
class _FieldRecordViewSet(VersionedUpdateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List, retrieve, create through a service, and PATCH through ``record_update``. No PUT, no DELETE."""

    create_serializer_class: type[serializers.Serializer]
    update_serializer_class: type[serializers.Serializer]
    created_serializer_class: type[serializers.Serializer] | None = None

    def create_record(self, data: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        """Call the service; the new record and any extra context its answer needs."""
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.validated(self.create_serializer_class, request.data)
        try:
            record, context = self.create_record(data)
        except IntegrityError:
            # A concurrent twin got there first (same client_uuid, or the database's one-open-request
            # rule): the stored record stands, this one is refused as a conflict rather than a 500.
            raise Conflict() from None
        serializer_class = self.created_serializer_class or self.get_serializer_class()
        body = serializer_class(record, context={**self.get_serializer_context(), **context}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        record = self.get_object()  # first: another's record is 404 whatever the headers say
        expected_version = self.expected_version(request)
        changes = self.validated(self.update_serializer_class, request.data, partial=True)
        record = record_update(record=record, expected_version=expected_version, changes=changes, by=request.user)
        return Response(self.get_serializer(record).data)

    def validated(self, serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @staticmethod
    def parent[M: Model](queryset: QuerySet[M], pk: int) -> M:
        """The parent record if the caller may see it; 404 otherwise, exactly as for a missing one."""
        found = queryset.filter(pk=pk).first()
        if found is None:
            raise NotFound()
        return found


class FieldRecordViewSet(IdempotentCreateMixin, _FieldRecordViewSet):
    pass


def _offline(data: dict[str, Any]) -> dict[str, Any]:
    return {"client_uuid": data["client_uuid"], "recorded_at": data.get("recorded_at")}


@_record_schema(
    noun="request",
    output=shapes.ApplicationSerializer,
    create=shapes.ApplicationCreateSerializer,
    update=shapes.ApplicationUpdateSerializer,
    created=shapes.ApplicationCreatedSerializer,
    create_note=(
        "Registers a household's request (brigade by default). The answer carries the verification code "
        "for the receipt; it is not shown again. Coordinators register only in the alcaldías they cover."
    ),
)
class ApplicationViewSet(FieldRecordViewSet):
    serializer_class = shapes.ApplicationSerializer
    create_serializer_class = shapes.ApplicationCreateSerializer
    update_serializer_class = shapes.ApplicationUpdateSerializer
    created_serializer_class = shapes.ApplicationCreatedSerializer
    filterset_class = filters.ApplicationFilter

    def get_queryset(self) -> QuerySet[Application]:
        return application_queryset(user=self.request.user)

    def create_record(self, data: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        application, code = application_register(
            program_year=data["program_year"],
            applicant=data["applicant"],
            dwelling=data["dwelling"],
            channel=data["channel"],
            privacy_consent_at=data["privacy_consent_at"],
            by=self.request.user,
            **_offline(data),
        )
        return application, {"verification_code": code}

    @extend_schema(
        summary="Move a request to another status",
        description="Coordinators and administrators. The lifecycle table decides which steps exist and what each needs.",
        request=shapes.TransitionSerializer,
        responses={200: shapes.ApplicationSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 409: LIFECYCLE_CONFLICT},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsCoordinatorOrAdministrator])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        data = self.validated(shapes.TransitionSerializer, request.data)
        application = application_transition(application=application, to=data["to"], by=request.user, note=data["note"])
        return Response(self.get_serializer(application).data)


@_record_schema(
    noun="technical visit",
    output=shapes.TechnicalVisitSerializer,
    create=shapes.TechnicalVisitCreateSerializer,
    update=shapes.TechnicalVisitUpdateSerializer,
    create_note=(
        "Coordinators and administrators schedule a visit and assign its technician; the request becomes visit scheduled."
    ),
)
class TechnicalVisitViewSet(FieldRecordViewSet):
    serializer_class = shapes.TechnicalVisitSerializer
    create_serializer_class = shapes.TechnicalVisitCreateSerializer
    update_serializer_class = shapes.TechnicalVisitUpdateSerializer
    filterset_class = filters.TechnicalVisitFilter

    def get_queryset(self) -> QuerySet[TechnicalVisit]:
        return technical_visit_queryset(user=self.request.user)

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [IsAuthenticated(), IsCoordinatorOrAdministrator()]
        return super().get_permissions()

    def create_record(self, data: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        application = self.parent(application_queryset(user=self.request.user), data["application"])
        visit = technical_visit_schedule(
            application=application,
            technician=data["technician"],
            scheduled_on=data["scheduled_on"],
            by=self.request.user,
            **_offline(data),
        )
        return visit, {}

    @extend_schema(
        summary="Record what the technical visit found",
        description="The assigned technician, or a coordinator or administrator. The request moves to the outcome's status.",
        request=shapes.TechnicalVisitRecordSerializer,
        responses={200: shapes.TechnicalVisitSerializer, 400: INVALID, 404: NOT_FOUND, 409: LIFECYCLE_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def record(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        data = self.validated(shapes.TechnicalVisitRecordSerializer, request.data)
        visit = technical_visit_record(visit=visit, by=request.user, **data)
        return Response(self.get_serializer(visit).data)

    @extend_schema(
        summary="Confirm the household made the adjustments the visit asked for",
        description="The request becomes viable.",
        request=shapes.TechnicalVisitVerifySerializer,
        responses={200: shapes.TechnicalVisitSerializer, 400: INVALID, 404: NOT_FOUND, 409: LIFECYCLE_CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="verify-adjustments")
    def verify_adjustments(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        data = self.validated(shapes.TechnicalVisitVerifySerializer, request.data)
        visit = technical_visit_verify_adjustments(visit=visit, verified_on=data["verified_on"], by=request.user)
        return Response(self.get_serializer(visit).data)


@_record_schema(
    noun="installation",
    output=shapes.InstallationSerializer,
    listed=shapes.InstallationListSerializer,
    create=shapes.InstallationCreateSerializer,
    update=shapes.InstallationUpdateSerializer,
    create_note=(
        "Records the installed system and its components; the request becomes installed. A technician records "
        "it as their own (no `technician` key); coordinators and administrators name the technician."
    ),
)
class InstallationViewSet(FieldRecordViewSet):
    serializer_class = shapes.InstallationSerializer
    create_serializer_class = shapes.InstallationCreateSerializer
    update_serializer_class = shapes.InstallationUpdateSerializer
    filterset_class = filters.InstallationFilter

    def get_queryset(self) -> QuerySet[Installation]:
        if self.action == "list":  # a page of summaries: no components, no address
            return installation_list_queryset(user=self.request.user)
        return installation_queryset(user=self.request.user)

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return shapes.InstallationListSerializer if self.action == "list" else super().get_serializer_class()

    def create_record(self, data: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        application = self.parent(application_queryset(user=self.request.user), data["application"])
        technician = self.request.user if is_technician(self.request.user) else data["technician"]
        installation = installation_record(
            application=application,
            technician=technician,
            installer=data["installer"],
            installed_on=data["installed_on"],
            tank_capacity_litres=data["tank_capacity_litres"],
            components=data.get("components", []),
            funding_source=data["funding_source"],
            unit_cost_mxn=data.get("unit_cost_mxn"),
            training_on=data.get("training_on"),
            by=self.request.user,
            **_offline(data),
        )
        return installation, {}


@_record_schema(
    noun="maintenance visit",
    output=shapes.MaintenanceVisitSerializer,
    create=shapes.MaintenanceVisitCreateSerializer,
    update=shapes.MaintenanceVisitUpdateSerializer,
    create_note=(
        "Records a maintenance visit to a system the caller may see; a system flagged as needing maintenance "
        "returns to operation. A technician records it as their own (no `technician` key)."
    ),
)
class MaintenanceVisitViewSet(FieldRecordViewSet):
    serializer_class = shapes.MaintenanceVisitSerializer
    create_serializer_class = shapes.MaintenanceVisitCreateSerializer
    update_serializer_class = shapes.MaintenanceVisitUpdateSerializer
    filterset_class = filters.MaintenanceVisitFilter

    def get_queryset(self) -> QuerySet[MaintenanceVisit]:
        return maintenance_visit_queryset(user=self.request.user)

    def create_record(self, data: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        installation = self.parent(installation_queryset(user=self.request.user), data["installation"])
        technician = self.request.user if is_technician(self.request.user) else data.get("technician")
        visit = maintenance_visit_record(
            installation=installation,
            kind=data["kind"],
            visited_on=data["visited_on"],
            next_due_on=data["next_due_on"],
            technician=technician,
            performed_by=data["performed_by"],
            checklist={name: data[name] for name in shapes.CHECKLIST_FIELDS},
            findings=data["findings"],
            by=self.request.user,
            **_offline(data),
        )
        return visit, {}


# --- The caller's own work ----------------------------------------------------------------------------------
class WorklistView(APIView):
    @extend_schema(
        summary="My worklist",
        description=(
            "Technical visits assigned to the caller and not yet made, and maintenance of the caller's systems "
            "(active or needing maintenance) due within 30 days or overdue; soonest first, at most 200."
        ),
        responses={200: shapes.WorklistSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(shapes.WorklistSerializer(worklist(user=request.user)).data)
