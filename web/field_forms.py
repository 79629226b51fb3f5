"""The technicians' forms: what a phone sends for a technical visit, an installation or a maintenance visit.

The forms only read and type the input; the rules are the services' (installations/services.py),
whose ValidationErrors the views put back next to the fields they name. The GPS reading is checked
early with the record's own field validators (inside Mexico City, accuracy above zero) and handed to
the service, which stores it on the record (``gps_latitude``, ``gps_longitude``, ``gps_accuracy_m``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api.serializers import CHECKLIST_FIELDS
from installations.models import (
    Component,
    GpsReadingModel,
    Installation,
    InstallerOrganisation,
    MaintenanceVisit,
    RoofMaterial,
    TechnicalVisit,
)
from installations.selectors import FIRST_MAINTENANCE_AFTER
from web.photos import PHOTO_MAX_SIDE_PX, PHOTOS_PER_RECORD, photo_reencode

# An accuracy worse than this is not a position but a guess (a phone with no GPS fix reports km).
GPS_MAX_ACCURACY_M = Decimal(5000)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero or more photos from the phone's camera, each re-encoded (shrunk, metadata stripped).

    The widget is never rendered: web/field/_capture.html writes the <input> (accept, capture, the data-*
    attributes field.js reads) by hand.
    """

    widget = MultiplePhotoInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[bytes]:
        uploads = [upload for upload in (data if isinstance(data, list | tuple) else [data]) if upload]
        if len(uploads) > PHOTOS_PER_RECORD:
            raise ValidationError(_("Adjunte a lo más %(count)s fotos."), params={"count": PHOTOS_PER_RECORD})
        photos: list[bytes] = []
        errors: list[ValidationError] = []
        for upload in uploads:
            try:
                photos.append(photo_reencode(upload))
            except ValidationError as error:
                errors.append(error)
        if errors:
            raise ValidationError(errors)
        return photos


class FieldCaptureForm(forms.Form):
    """The GPS reading and photos every field form carries; field.js fills the three hidden numbers."""

    # No digit limits: the browser sends many decimals, which clean() rounds rather than refuses.
    latitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    longitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    accuracy_m = forms.DecimalField(required=False, widget=forms.HiddenInput)
    photos = PhotosField(label=_("Fotos"), help_text=_("Tome o elija fotos; se reducen y se les quita la ubicación."))

    GPS_FIELDS = ("latitude", "longitude", "accuracy_m")
    # The longest side field.js shrinks a photo to before sending it: the server's own limit.
    photo_max_side_px = PHOTO_MAX_SIDE_PX

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["gps"] = dict.fromkeys(GpsReadingModel.GPS_FIELDS)
        values = [cleaned.get(name) for name in self.GPS_FIELDS]
        if all(value is None for value in values):
            return cleaned
        if any(value is None for value in values):
            self.add_error("latitude", _("La ubicación llegó incompleta; vuelva a tomarla."))
            return cleaned
        try:
            reading = {
                "gps_latitude": cleaned["latitude"].quantize(Decimal("0.000001")),
                "gps_longitude": cleaned["longitude"].quantize(Decimal("0.000001")),
                "gps_accuracy_m": cleaned["accuracy_m"].quantize(Decimal("0.1")),
            }
        except InvalidOperation:  # absurdly large numbers: not a reading
            self.add_error("latitude", _("La ubicación recibida no es válida; vuelva a tomarla."))
            return cleaned
        try:
            # The record's own validators (inside Mexico City, accuracy above zero), before anything is written.
            for name, value in reading.items():
                TechnicalVisit._meta.get_field(name).run_validators(value)
        except ValidationError as error:
            self.add_error("latitude", error)
            return cleaned
        if reading["gps_accuracy_m"] > GPS_MAX_ACCURACY_M:
            self.add_error(
                "latitude",
                ValidationError(
                    _("La precisión de la ubicación debe estar entre 0 y %(max)s metros; vuelva a tomarla."),
                    params={"max": GPS_MAX_ACCURACY_M},
                ),
            )
            return cleaned
        cleaned["gps"] = reading
        return cleaned

    @property
    def gps_errors(self) -> list[str]:
        """Errors about the reading, shown next to the GPS block (the fields themselves are hidden)."""
        return [message for name in self.GPS_FIELDS for message in self.errors.get(name, [])]


def _today() -> date:
    return timezone.localdate()


class TechnicalVisitForm(FieldCaptureForm):
    """What the technician found at the home: date, roof, viability and what must change first."""

    visited_on = forms.DateField(label=_("Fecha de la visita"), initial=_today, widget=DateInput)
    measured_roof_material = forms.ChoiceField(
        label=_("Material del techo"), choices=[("", _("— Elija —")), *RoofMaterial.choices], required=False
    )
    measured_roof_area_m2 = forms.DecimalField(
        label=_("Superficie del techo medida (m²)"),
        required=False,
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
        help_text=_("Proyección horizontal, en metros cuadrados."),
    )
    outcome = forms.ChoiceField(label=_("Viabilidad"), choices=TechnicalVisit.Outcome.choices, widget=forms.RadioSelect)
    required_adjustments = forms.CharField(
        label=_("Adecuaciones requeridas"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Obligatorio si es viable con adecuaciones."),
    )
    notes = forms.CharField(label=_("Observaciones"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    field_order = [
        "visited_on",
        "measured_roof_material",
        "measured_roof_area_m2",
        "outcome",
        "required_adjustments",
        "notes",
        "photos",
    ]

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``technical_visit_record`` (besides the visit and the caller)."""
        data = self.cleaned_data
        return {
            "visited_on": data["visited_on"],
            "outcome": data["outcome"],
            "measured_roof_area_m2": data["measured_roof_area_m2"],
            "measured_roof_material": data["measured_roof_material"],
            "required_adjustments": data["required_adjustments"],
            "notes": data["notes"],
            **data["gps"],
        }


# The unit each component is counted in, and the program's usual kit (demo data and domain brief):
# a 2,500 L tank, the Tlaloque first-flush separator and two filter cartridges.
COMPONENT_UNITS: dict[str, str] = {
    Component.Kind.GUTTER: Component.Unit.METRES,
    Component.Kind.DOWNPIPE: Component.Unit.METRES,
    Component.Kind.LEAF_FILTER: Component.Unit.UNITS,
    Component.Kind.TLALOQUE: Component.Unit.LITRES,
    Component.Kind.TLALOQUITO: Component.Unit.LITRES,
    Component.Kind.ROOF_TANK: Component.Unit.LITRES,
    Component.Kind.CISTERN: Component.Unit.LITRES,
    Component.Kind.TURBULENCE_REDUCER: Component.Unit.UNITS,
    Component.Kind.FLOATING_SUCTION: Component.Unit.UNITS,
    Component.Kind.SEDIMENT_FILTER: Component.Unit.INCHES,
    Component.Kind.CARBON_FILTER: Component.Unit.INCHES,
    Component.Kind.CHLORINATOR: Component.Unit.UNITS,
    Component.Kind.PUMP: Component.Unit.HORSEPOWER,
    Component.Kind.OVERFLOW: Component.Unit.UNITS,
}
USUAL_KIT: dict[str, Decimal] = {
    Component.Kind.TLALOQUE: Decimal(210),
    Component.Kind.ROOF_TANK: Decimal(2500),
    Component.Kind.SEDIMENT_FILTER: Decimal(20),
    Component.Kind.CARBON_FILTER: Decimal(20),
}


class InstallationForm(FieldCaptureForm):
    """The installed system: date, installer, tank, components (a checklist with sizes) and training."""

    installed_on = forms.DateField(label=_("Fecha de instalación"), initial=_today, widget=DateInput)
    installer = forms.ModelChoiceField(
        label=_("Instaladora"), queryset=InstallerOrganisation.objects.order_by("name"), empty_label=_("— Elija —")
    )
    tank_capacity_litres = forms.IntegerField(
        label=_("Capacidad del tanque (litros)"),
        initial=2500,
        min_value=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    funding_source = forms.ChoiceField(
        label=_("Fuente de financiamiento"), choices=Installation.FundingSource.choices, initial=Installation.FundingSource.SEDEMA
    )
    training_given = forms.BooleanField(label=_("Se impartió la capacitación de uso y mantenimiento"), required=False)
    training_on = forms.DateField(
        label=_("Fecha de la capacitación"),
        required=False,
        widget=DateInput,
        help_text=_("Si se deja vacía, se toma la fecha de instalación."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind, label in Component.Kind.choices:
            unit = COMPONENT_UNITS[kind]
            self.fields[f"component_{kind}"] = forms.BooleanField(label=label, required=False, initial=kind in USUAL_KIT)
            self.fields[f"size_{kind}"] = forms.DecimalField(
                label=Component.Unit(unit).label,
                required=False,
                max_digits=8,
                decimal_places=2,
                min_value=Decimal("0.01"),
                initial=USUAL_KIT.get(kind),
                widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
            )

    def component_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """Each component's checkbox and size field, in the catalogue's order (for the template)."""
        return [(self[f"component_{kind}"], self[f"size_{kind}"]) for kind in Component.Kind.values]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        components = []
        for kind in Component.Kind.values:
            if not cleaned.get(f"component_{kind}"):
                continue
            size = cleaned.get(f"size_{kind}")
            if size is None:
                if f"size_{kind}" not in self.errors:
                    self.add_error(f"size_{kind}", _("Indique la medida del componente instalado."))
                continue
            components.append({"kind": kind, "size": size, "unit": COMPONENT_UNITS[kind]})
        cleaned["components"] = components
        if cleaned.get("training_on") and not cleaned.get("training_given"):
            self.add_error("training_given", _("Marque la capacitación si indica su fecha."))
        return cleaned

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``installation_record`` (besides the request and the people)."""
        data = self.cleaned_data
        training_on = (data["training_on"] or data["installed_on"]) if data["training_given"] else None
        return {
            "installer": data["installer"],
            "installed_on": data["installed_on"],
            "tank_capacity_litres": data["tank_capacity_litres"],
            "funding_source": data["funding_source"],
            "components": data["components"],
            "training_on": training_on,
            **data["gps"],
        }


class MaintenanceVisitForm(FieldCaptureForm):
    """A maintenance visit: kind, the checklist of what was done, findings and the next due date."""

    visited_on = forms.DateField(label=_("Fecha de la visita"), initial=_today, widget=DateInput)
    kind = forms.ChoiceField(label=_("Tipo de visita"), choices=MaintenanceVisit.Kind.choices)
    findings = forms.CharField(label=_("Hallazgos"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    next_due_on = forms.DateField(
        label=_("Próximo mantenimiento"),
        initial=lambda: _today() + FIRST_MAINTENANCE_AFTER,
        widget=DateInput,
        help_text=_("Dos veces al año: antes y después de la temporada de lluvias."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in CHECKLIST_FIELDS:
            self.fields[name] = forms.BooleanField(
                label=MaintenanceVisit._meta.get_field(name).verbose_name.capitalize(), required=False
            )
        # The season the visit is most likely for: before the rains (May–October) or after them.
        month = _today().month
        self.fields["kind"].initial = (
            MaintenanceVisit.Kind.PRE_SEASON if month <= 4 or month >= 11 else MaintenanceVisit.Kind.POST_SEASON
        )

    def checklist_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in CHECKLIST_FIELDS]

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``maintenance_visit_record`` (besides the system and the people)."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "visited_on": data["visited_on"],
            "next_due_on": data["next_due_on"],
            "checklist": {name: data[name] for name in CHECKLIST_FIELDS},
            "findings": data["findings"],
            **data["gps"],
        }
