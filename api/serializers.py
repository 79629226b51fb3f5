"""Shapes of the staff API: output serializers say what each role reads, input serializers what each may send.

Every serializer names its fields. Inputs refuse keys they do not declare, so a PATCH carrying
``status``, ``folio``, ``version`` or an assignment answers 400 naming them instead of being half
applied (reliability.md B5, B6). Personal data by role: coordinators and administrators read the
applicant's full record; technicians read the name and phone of the households they visit and a
masked CURP. Nothing here queries: the selectors fetch what each list shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_choice_description_list
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from api.fast_read import CompiledReadMixin
from api.permissions import is_manager, is_technician
from installations.lifecycle import Status
from installations.models import (
    Alcaldia,
    Applicant,
    Application,
    Colonia,
    Component,
    Dwelling,
    EligibleColonia,
    Installation,
    InstallerOrganisation,
    MaintenanceVisit,
    ProgramYear,
    RoofMaterial,
    TechnicalVisit,
    User,
)
from installations.selectors import registrable_colonia_queryset, technician_queryset

NOT_EDITABLE = _("Este campo no se puede modificar.")
CHECKLIST_FIELDS = (
    "roof_cleaned",
    "leaf_filter_cleaned",
    "tlaloque_purged",
    "tank_cleaned",
    "cartridges_replaced",
    "chlorine_added",
)
# The households' own flags, each a separate fact (domain.md §6): none is derived from another.
HOUSEHOLD_FLAGS = (
    "is_household_head",
    "woman_headed_household",
    "single_mother",
    "older_adult",
    "disability",
    "indigenous",
)
# What a person registers (the same for staff in the field and for the household's own form).
APPLICANT_FIELDS = (
    "first_name",
    "first_surname",
    "second_surname",
    "curp",
    "sex",
    "birth_date",
    "phone",
    "email",
    *HOUSEHOLD_FLAGS,
)
RECORD_FIELDS = ("client_uuid", "recorded_at", "received_at", "version", "created_at", "updated_at")


def mask_curp(curp: str) -> str:
    """The first four and last two characters, the rest starred: enough to confirm a person, not to reuse."""
    if len(curp) <= 6:
        return "*" * len(curp)
    return curp[:4] + "*" * (len(curp) - 6) + curp[-2:]


class EnumField(serializers.ChoiceField):
    """A choice field from a ``TextChoices`` class, documented as that one named enum wherever it appears.

    Without it OpenAPI names an enum after each field that uses it (``status``, ``to``, ``current``…)
    and gives one name to different sets (``kind`` of a colonia, a component, a maintenance visit).
    """

    def __init__(self, choices: type[models.TextChoices], **kwargs: Any) -> None:
        self.enum = choices
        super().__init__(choices=choices.choices, **kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field: EnumField = self.target
        name = f"{field.enum.__name__}Enum"
        component = ResolvedComponent(
            name=name,
            type=ResolvedComponent.SCHEMA,
            # Identified by name, as drf-spectacular's enum hook identifies its own: a plain ChoiceField
            # over the same choices elsewhere (a "status" field) then reuses this component.
            object=name,
            schema={
                "type": "string",
                "enum": list(field.enum.values),
                "description": build_choice_description_list(field.enum.choices),
            },
        )
        auto_schema.registry.register_on_missing(component)
        refs = [component.ref]
        # The same Blank/Null components drf-spectacular's enum hook makes for its own enums.
        for allowed, name, schema in (
            (field.allow_blank, "BlankEnum", {"enum": [""]}),
            (field.allow_null, "NullEnum", {"enum": [None]}),
        ):
            if allowed:
                extra = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
                auto_schema.registry.register_on_missing(extra)
                refs.append(extra.ref)
        return refs[0] if len(refs) == 1 else {"oneOf": refs}


# --- Errors (documentation of api/exceptions.py's one shape) ---------------------------------------------
class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class TransitionErrorSerializer(ErrorSerializer):
    current = EnumField(Status)
    wanted = EnumField(Status)
    missing = serializers.ListField(child=serializers.CharField())


class StaleVersionErrorSerializer(ErrorSerializer):
    current_version = serializers.IntegerField()


# --- Reference data ------------------------------------------------------------------------------------------
class AlcaldiaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alcaldia
        fields = ("cvegeo", "name")
        read_only_fields = fields


class ColoniaSerializer(CompiledReadMixin, serializers.ModelSerializer):
    kind = EnumField(Colonia.Kind, read_only=True)

    class Meta:
        model = Colonia
        fields = ("id", "name", "kind", "alcaldia")
        read_only_fields = fields


class ProgramYearSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProgramYear
        fields = (
            "year",
            "target_systems",
            "budget_mxn",
            "gazette_reference",
            "registration_opens_on",
            "registration_closes_on",
            "alcaldias",
        )
        read_only_fields = fields


class EligibleColoniaSerializer(CompiledReadMixin, serializers.ModelSerializer):
    """A colonia of a year's call: its id and name, its alcaldía and the subsidy it gets."""

    id = serializers.IntegerField(source="colonia_id", read_only=True)
    name = serializers.CharField(source="colonia.name", read_only=True)
    alcaldia = serializers.CharField(source="colonia.alcaldia_id", read_only=True)
    alcaldia_name = serializers.CharField(source="colonia.alcaldia.name", read_only=True)

    class Meta:
        model = EligibleColonia
        fields = ("id", "name", "alcaldia", "alcaldia_name", "modality")
        read_only_fields = fields


# --- Output: people and places ---------------------------------------------------------------------------
class DwellingSerializer(CompiledReadMixin, serializers.ModelSerializer):
    """Where the system goes. The address and coordinates are private: only staff with the case read them."""

    colonia_name = serializers.CharField(source="colonia.name", read_only=True)
    alcaldia = serializers.CharField(source="colonia.alcaldia_id", read_only=True)
    alcaldia_name = serializers.CharField(source="colonia.alcaldia.name", read_only=True)
    roof_material = EnumField(RoofMaterial, read_only=True)

    class Meta:
        model = Dwelling
        fields = (
            "id",
            "street_address",
            "postal_code",
            "colonia",
            "colonia_name",
            "alcaldia",
            "alcaldia_name",
            "latitude",
            "longitude",
            "occupants",
            "water_supply",
            "tandeo_days_per_week",
            "tenure_evidence",
            "roof_material",
            "roof_area_m2",
            "existing_storage_litres",
        )
        read_only_fields = fields


class ApplicantSerializer(CompiledReadMixin, serializers.ModelSerializer):
    """The applicant as coordinators and administrators read them (coverage by sex, age, vulnerability)."""

    class Meta:
        model = Applicant
        fields = ("id", *APPLICANT_FIELDS)
        read_only_fields = fields


class MaskedCurpField(serializers.CharField):
    def to_representation(self, value: str) -> str:
        return mask_curp(str(value))


class ApplicantContactSerializer(CompiledReadMixin, serializers.ModelSerializer):
    """The applicant as a technician reads them: who to ask for and how to call; the CURP masked."""

    curp = MaskedCurpField(read_only=True)

    class Meta:
        model = Applicant
        fields = ("id", "first_name", "first_surname", "second_surname", "curp", "phone")
        read_only_fields = fields


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="ApplicantForRole",
        serializers=[ApplicantSerializer, ApplicantContactSerializer],
        resource_type_field_name=None,
    )
)
class ApplicantForRoleField(serializers.Field):
    """The full applicant for coordinators and administrators, the contact card for everyone else."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Applicant) -> dict[str, Any]:
        return self._serializer().to_representation(value)

    def _serializer(self) -> serializers.Serializer:
        """One serializer for the whole list: the role decides which, and it is the same on every row."""
        cached = self.__dict__.get("_for_role")
        if cached is None:
            request = self.context.get("request")
            full = request is not None and is_manager(request.user)
            cached = self.__dict__["_for_role"] = (ApplicantSerializer if full else ApplicantContactSerializer)(
                context=self.context
            )
        return cached

    def compiled_reader(self) -> Any:
        get, nested = attrgetter(self.source), self._serializer()
        return lambda obj: None if (value := get(obj)) is None else nested.to_representation(value)


# --- Output: the field records ---------------------------------------------------------------------------------
class ApplicationSerializer(CompiledReadMixin, serializers.ModelSerializer):
    status = EnumField(Status, read_only=True)
    applicant = ApplicantForRoleField()
    dwelling = DwellingSerializer(read_only=True)

    class Meta:
        model = Application
        fields = (
            "id",
            "folio",
            "status",
            "status_changed_at",
            "program_year",
            "modality",
            "channel",
            "privacy_consent_at",
            "commitment_letter_on",
            "assigned_technician",
            "applicant",
            "dwelling",
            *RECORD_FIELDS,
        )
        read_only_fields = fields


class ApplicationCreatedSerializer(ApplicationSerializer):
    """The new request and its verification code, which is shown only in this answer (for the receipt)."""

    verification_code = serializers.SerializerMethodField()

    class Meta(ApplicationSerializer.Meta):
        fields = (*ApplicationSerializer.Meta.fields, "verification_code")
        read_only_fields = fields

    def get_verification_code(self, application: Application) -> str:
        return self.context["verification_code"]


class TechnicalVisitSerializer(CompiledReadMixin, serializers.ModelSerializer):
    folio = serializers.CharField(source="application.folio", read_only=True)
    application_status = EnumField(Status, source="application.status", read_only=True)
    measured_roof_material = EnumField(RoofMaterial, read_only=True, allow_blank=True)
    dwelling = DwellingSerializer(source="application.dwelling", read_only=True)

    class Meta:
        model = TechnicalVisit
        fields = (
            "id",
            "application",
            "folio",
            "application_status",
            "technician",
            "scheduled_on",
            "visited_on",
            "outcome",
            "measured_roof_area_m2",
            "measured_roof_material",
            "required_adjustments",
            "adjustments_verified_on",
            "notes",
            "dwelling",
            *RECORD_FIELDS,
        )
        read_only_fields = fields


class ComponentSerializer(CompiledReadMixin, serializers.ModelSerializer):
    kind = EnumField(Component.Kind, read_only=True)

    class Meta:
        model = Component
        fields = ("id", "kind", "size", "unit", "replaced_on")
        read_only_fields = fields


class InstallationSerializer(CompiledReadMixin, serializers.ModelSerializer):
    folio = serializers.CharField(source="application.folio", read_only=True)
    application_status = EnumField(Status, source="application.status", read_only=True)
    dwelling = DwellingSerializer(read_only=True)
    components = ComponentSerializer(many=True, read_only=True)

    class Meta:
        model = Installation
        fields = (
            "id",
            "application",
            "folio",
            "application_status",
            "dwelling",
            "technician",
            "installer",
            "installed_on",
            "tank_capacity_litres",
            "funding_source",
            "unit_cost_mxn",
            "training_on",
            "removed_on",
            "components",
            *RECORD_FIELDS,
        )
        read_only_fields = fields


class InstallationListSerializer(CompiledReadMixin, serializers.ModelSerializer):
    """One row of the installation list: what a coordinator scans; the address and parts are on retrieve."""

    plan_per_class = True  # the same columns for every role

    folio = serializers.CharField(source="application.folio", read_only=True)
    application_status = EnumField(Status, source="application.status", read_only=True)
    alcaldia = serializers.CharField(source="dwelling.colonia.alcaldia_id", read_only=True)
    colonia = serializers.IntegerField(source="dwelling.colonia_id", read_only=True)
    colonia_name = serializers.CharField(source="dwelling.colonia.name", read_only=True)

    class Meta:
        model = Installation
        fields = (
            "id",
            "application",
            "folio",
            "application_status",
            "alcaldia",
            "colonia",
            "colonia_name",
            "technician",
            "installer",
            "installed_on",
            "tank_capacity_litres",
            "funding_source",
            "training_on",
            "removed_on",
            "version",
        )
        read_only_fields = fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if not isinstance(instance, dict):
            return super().to_representation(instance)
        row = instance  # a row of installation_list_queryset(): plain values, no model instances
        return {
            "id": row["pk"],
            "application": row["application_id"],
            "folio": row["application__folio"],
            "application_status": row["application__status"],
            "alcaldia": row["dwelling__colonia__alcaldia_id"],
            "colonia": row["dwelling__colonia_id"],
            "colonia_name": row["dwelling__colonia__name"],
            "technician": row["technician_id"],
            "installer": row["installer_id"],
            "installed_on": row["installed_on"].isoformat(),
            "tank_capacity_litres": row["tank_capacity_litres"],
            "funding_source": row["funding_source"],
            "training_on": row["training_on"].isoformat() if row["training_on"] else None,
            "removed_on": row["removed_on"].isoformat() if row["removed_on"] else None,
            "version": row["version"],
        }


class MaintenanceVisitSerializer(CompiledReadMixin, serializers.ModelSerializer):
    application = serializers.IntegerField(source="installation.application_id", read_only=True)
    folio = serializers.CharField(source="installation.application.folio", read_only=True)
    dwelling = DwellingSerializer(source="installation.dwelling", read_only=True)
    kind = EnumField(MaintenanceVisit.Kind, read_only=True)

    class Meta:
        model = MaintenanceVisit
        fields = (
            "id",
            "installation",
            "application",
            "folio",
            "dwelling",
            "technician",
            "kind",
            "performed_by",
            "visited_on",
            *CHECKLIST_FIELDS,
            "findings",
            "next_due_on",
            *RECORD_FIELDS,
        )
        read_only_fields = fields


class WorklistItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[("technical_visit", "technical_visit"), ("maintenance", "maintenance")],
        help_text="technical_visit: `id` is the visit's; maintenance: `id` is the installation's.",
    )
    id = serializers.IntegerField()
    due_on = serializers.DateField()
    overdue = serializers.BooleanField()
    application = serializers.IntegerField(source="application_id")
    folio = serializers.CharField()
    alcaldia = serializers.CharField(source="dwelling.colonia.alcaldia_id")
    alcaldia_name = serializers.CharField(source="dwelling.colonia.alcaldia.name")
    colonia = serializers.IntegerField(source="dwelling.colonia_id")
    colonia_name = serializers.CharField(source="dwelling.colonia.name")
    street_address = serializers.CharField(source="dwelling.street_address")
    postal_code = serializers.CharField(source="dwelling.postal_code")
    latitude = serializers.DecimalField(source="dwelling.latitude", max_digits=9, decimal_places=6, allow_null=True)
    longitude = serializers.DecimalField(source="dwelling.longitude", max_digits=9, decimal_places=6, allow_null=True)


class WorklistSerializer(serializers.Serializer):
    results = WorklistItemSerializer(source="items", many=True)
    truncated = serializers.BooleanField(help_text="More items are due than the list holds; the soonest are shown.")


# --- Input -----------------------------------------------------------------------------------------------------
class StrictInputMixin:
    """Refuses any key the serializer does not accept, naming it, instead of ignoring it."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}  # type: ignore[attr-defined]
            refused = sorted(set(data) - writable)
            if refused:
                raise serializers.ValidationError({name: [NOT_EDITABLE] for name in refused})
        return super().to_internal_value(data)  # type: ignore[misc]


class OfflineCaptureInputSerializer(StrictInputMixin, serializers.Serializer):
    """The phone's own id for the record (required) and its clock at capture (optional, never trusted for order)."""

    client_uuid = serializers.UUIDField()
    recorded_at = serializers.DateTimeField(required=False, allow_null=True)


def _caller(serializer: serializers.Field) -> User | None:
    """The user making the request; None only while the OpenAPI schema is generated (no request)."""
    request = serializer.context.get("request")
    return request.user if request is not None else None


class RegistrableColoniaField(serializers.PrimaryKeyRelatedField):
    """A colonia the caller may register in (coordinators: inside the alcaldías they cover)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Colonia.objects.all(), **kwargs)

    def get_queryset(self) -> Any:
        user = _caller(self)
        return registrable_colonia_queryset(user=user) if user is not None else Colonia.objects.none()


class TechnicianField(serializers.PrimaryKeyRelatedField):
    """An active member of staff with the technician role."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=technician_queryset(), **kwargs)


class ApplicantInputSerializer(StrictInputMixin, serializers.ModelSerializer):
    # Not the model's unique CURP field: a known CURP is the same person applying again.
    curp = serializers.CharField(max_length=18)

    class Meta:
        model = Applicant
        fields = APPLICANT_FIELDS


class DwellingInputSerializer(StrictInputMixin, serializers.ModelSerializer):
    colonia = RegistrableColoniaField()
    roof_material = EnumField(RoofMaterial)
    # "Sin dato" and a missing household size exist only for imported legacy records.
    water_supply = serializers.ChoiceField(
        choices=[(value, label) for value, label in Dwelling.WaterSupply.choices if value != Dwelling.WaterSupply.UNKNOWN]
    )
    occupants = serializers.IntegerField(min_value=1, max_value=60)

    class Meta:
        model = Dwelling
        fields = (
            "colonia",
            "street_address",
            "postal_code",
            "latitude",
            "longitude",
            "occupants",
            "water_supply",
            "tandeo_days_per_week",
            "tenure_evidence",
            "roof_material",
            "roof_area_m2",
            "existing_storage_litres",
        )


class ApplicationCreateSerializer(OfflineCaptureInputSerializer):
    program_year = serializers.PrimaryKeyRelatedField(queryset=ProgramYear.objects.all())
    channel = serializers.ChoiceField(choices=Application.Channel.choices, default=Application.Channel.BRIGADE)
    privacy_consent_at = serializers.DateTimeField()
    applicant = ApplicantInputSerializer()
    dwelling = DwellingInputSerializer()


class ApplicationUpdateSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Plain edits of a request; the assignment only by coordinators and administrators."""

    assigned_technician = TechnicianField(allow_null=True, required=False)

    class Meta:
        model = Application
        fields = ("commitment_letter_on", "assigned_technician")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _caller(self)
        if user is not None and not is_manager(user):
            del self.fields["assigned_technician"]


class TransitionSerializer(StrictInputMixin, serializers.Serializer):
    to = EnumField(Status)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class TechnicalVisitCreateSerializer(OfflineCaptureInputSerializer):
    application = serializers.IntegerField(min_value=1)
    technician = TechnicianField()
    scheduled_on = serializers.DateField()


class TechnicalVisitUpdateSerializer(StrictInputMixin, serializers.ModelSerializer):
    measured_roof_material = EnumField(RoofMaterial, required=False, allow_blank=True)

    class Meta:
        model = TechnicalVisit
        fields = ("scheduled_on", "measured_roof_area_m2", "measured_roof_material", "required_adjustments", "notes")


class TechnicalVisitRecordSerializer(StrictInputMixin, serializers.Serializer):
    visited_on = serializers.DateField()
    outcome = serializers.ChoiceField(choices=TechnicalVisit.Outcome.choices)
    measured_roof_area_m2 = serializers.DecimalField(max_digits=7, decimal_places=2, required=False, allow_null=True)
    measured_roof_material = EnumField(RoofMaterial, required=False, allow_blank=True, default="")
    required_adjustments = serializers.CharField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class TechnicalVisitVerifySerializer(StrictInputMixin, serializers.Serializer):
    verified_on = serializers.DateField()


class ComponentInputSerializer(StrictInputMixin, serializers.ModelSerializer):
    kind = EnumField(Component.Kind)

    class Meta:
        model = Component
        fields = ("kind", "size", "unit")


class AssignedTechnicianInputMixin:
    """Technicians record their own work: the ``technician`` key is theirs to leave out, not to set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _caller(self)  # type: ignore[arg-type]
        if user is not None and is_technician(user):
            del self.fields["technician"]  # type: ignore[attr-defined]


class InstallationCreateSerializer(AssignedTechnicianInputMixin, OfflineCaptureInputSerializer):
    application = serializers.IntegerField(min_value=1)
    technician = TechnicianField()
    installer = serializers.PrimaryKeyRelatedField(queryset=InstallerOrganisation.objects.all())
    installed_on = serializers.DateField()
    tank_capacity_litres = serializers.IntegerField(min_value=1, default=2500)
    funding_source = serializers.ChoiceField(
        choices=Installation.FundingSource.choices, default=Installation.FundingSource.SEDEMA
    )
    unit_cost_mxn = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, allow_null=True)
    training_on = serializers.DateField(required=False, allow_null=True)
    components = ComponentInputSerializer(many=True, required=False)


class InstallationUpdateSerializer(StrictInputMixin, serializers.ModelSerializer):
    class Meta:
        model = Installation
        fields = ("installer", "tank_capacity_litres", "funding_source", "unit_cost_mxn", "training_on")


class MaintenanceVisitCreateSerializer(AssignedTechnicianInputMixin, OfflineCaptureInputSerializer):
    installation = serializers.IntegerField(min_value=1)
    technician = TechnicianField(required=False, allow_null=True)
    kind = EnumField(MaintenanceVisit.Kind)
    performed_by = serializers.ChoiceField(
        choices=MaintenanceVisit.PerformedBy.choices, default=MaintenanceVisit.PerformedBy.SEDEMA
    )
    visited_on = serializers.DateField()
    next_due_on = serializers.DateField()
    roof_cleaned = serializers.BooleanField(default=False)
    leaf_filter_cleaned = serializers.BooleanField(default=False)
    tlaloque_purged = serializers.BooleanField(default=False)
    tank_cleaned = serializers.BooleanField(default=False)
    cartridges_replaced = serializers.BooleanField(default=False)
    chlorine_added = serializers.BooleanField(default=False)
    findings = serializers.CharField(required=False, allow_blank=True, default="")


class MaintenanceVisitUpdateSerializer(StrictInputMixin, serializers.ModelSerializer):
    kind = EnumField(MaintenanceVisit.Kind, required=False)

    class Meta:
        model = MaintenanceVisit
        fields = ("kind", "performed_by", *CHECKLIST_FIELDS, "findings", "next_due_on")
