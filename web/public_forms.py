"""The households' forms: self-registration and the status lookup.

The forms draw the fields (labels, widgets, help) and hand every check to the API's serializers
(``api.public.RegistrationSerializer``, ``api.public.StatusLookupSerializer``), so a household on
the page and a program on the API are held to the same rules and read the same messages. Their
own fields are plain text boxes, lists and boxes to tick: they convert nothing and refuse nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _

from api.public import RegistrationSerializer, StatusLookupSerializer
from api.serializers import HOUSEHOLD_FLAGS
from installations.exceptions import EligibilityError
from installations.models import ApplicantSex, DwellingWaterSupply, EligibleColonia, RoofMaterial

# The legacy imports' "no data" is not an answer a household gives.
WATER_SUPPLY_CHOICES = [(value, label) for value, label in DwellingWaterSupply.choices if value != DwellingWaterSupply.UNKNOWN]


def _text(label: Any, *, required: bool = False, help_text: Any = "", **attrs: Any) -> forms.CharField:
    """A text box that keeps what was typed; the serializer decides whether it is acceptable."""
    widget_class = attrs.pop("widget", forms.TextInput)
    if required:
        attrs["required"] = True
    return forms.CharField(label=label, required=False, help_text=help_text, widget=widget_class(attrs=attrs), strip=True)


def _choice(label: Any, choices: Iterable[Any], *, required: bool = True, help_text: Any = "") -> forms.CharField:
    """A drop-down list whose value the serializer checks (so its message is the API's)."""
    attrs = {"required": True} if required else {}
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Select(choices=[("", _("Elija una opción")), *choices], attrs=attrs),
    )


def _flag(label: Any, help_text: Any = "") -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


def eligible_colonia_choices(eligible: Iterable[EligibleColonia]) -> list[tuple[str, list[tuple[int, str]]]]:
    """The year's colonias for a drop-down list, grouped by alcaldía, both in alphabetical order."""
    rows = sorted(eligible, key=lambda row: (row.colonia.alcaldia.name, row.colonia.name))
    return [
        (alcaldia, [(row.colonia_id, row.colonia.name) for row in group])
        for alcaldia, group in groupby(rows, key=lambda row: row.colonia.alcaldia.name)
    ]


class SerializerBackedForm(forms.Form):
    """A form whose rules live in a DRF serializer: its errors land next to the field they name."""

    serializer_class: type[Any]
    serializer: Any = None

    def serializer_data(self) -> dict[str, Any]:
        """What the serializer reads: the typed text, leaving out empty boxes (the serializer's
        defaults then apply, or its "required" message)."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if isinstance(value, bool) or value not in ("", None):
                data[name] = value
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.serializer = self.serializer_class(data=self.serializer_data())
        if not self.serializer.is_valid():
            for name, messages in self.serializer.errors.items():
                self.add_serializer_error(name, messages)
        return cleaned

    def add_serializer_error(self, name: str, messages: Any) -> None:
        """Put the serializer's messages for ``name`` next to that field, or at the top."""
        if isinstance(messages, dict):  # a nested error (not used by these serializers): flatten it
            messages = [f"{key}: {message}" for key, values in messages.items() for message in values]
        field = name if name in self.fields else None
        for message in messages:
            self.add_error(field, str(message))

    def add_domain_error(self, error: EligibilityError | DjangoValidationError) -> None:
        """A refusal from the service (the colonia is not in the year's list, the CURP has an open
        request, a value the model refuses) shown next to the field it names."""
        if isinstance(error, EligibilityError):
            self.add_error(error.field if error.field in self.fields else None, str(error))
            return
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                field = name if name in self.fields and name != NON_FIELD_ERRORS else None
                for message in messages:
                    self.add_error(field, message)
            return
        for message in error.messages:
            self.add_error(None, message)


class RegistrationForm(SerializerBackedForm):
    """A household's request through the portal: the same fields as ``POST public/applications/``."""

    serializer_class = RegistrationSerializer

    # The person
    first_name = _text(_("Nombre(s)"), required=True, autocomplete="given-name", maxlength=80)
    first_surname = _text(_("Primer apellido"), required=True, autocomplete="family-name", maxlength=80)
    second_surname = _text(_("Segundo apellido"), autocomplete="off", maxlength=80, help_text=_("Si lo tiene."))
    curp = _text(
        _("CURP"),
        required=True,
        maxlength=18,
        autocomplete="off",
        autocapitalize="characters",
        spellcheck="false",
        help_text=_("Las 18 letras y números de su Clave Única de Registro de Población."),
    )
    sex = _choice(_("Sexo"), ApplicantSex.choices)
    birth_date = _text(_("Fecha de nacimiento"), required=True, widget=forms.DateInput, type="date", autocomplete="bday")
    phone = _text(
        _("Teléfono"),
        widget=forms.TextInput,
        type="tel",
        inputmode="tel",
        autocomplete="tel",
        maxlength=15,
        help_text=_("Para avisarle de la visita técnica y de la instalación."),
    )
    email = _text(_("Correo electrónico"), type="email", autocomplete="email", help_text=_("Opcional."))
    is_household_head = _flag(_("Soy jefa o jefe del hogar"))
    woman_headed_household = _flag(_("En mi hogar la jefatura es de una mujer"))
    single_mother = _flag(_("Soy madre soltera"))
    older_adult = _flag(_("Soy persona adulta mayor"))
    disability = _flag(_("Soy persona con discapacidad"))
    indigenous = _flag(_("Soy persona indígena"))

    # The home
    colonia = _choice(_("Colonia, pueblo o barrio"), [], help_text=_("Solo aparecen las colonias que participan este año."))
    street_address = _text(
        _("Calle y número"),
        required=True,
        autocomplete="street-address",
        maxlength=200,
        help_text=_("Con número interior si lo hay."),
    )
    postal_code = _text(_("Código postal"), inputmode="numeric", autocomplete="postal-code", maxlength=5)
    latitude = _text(_("Latitud"), inputmode="decimal", autocomplete="off", help_text=_("Opcional, por ejemplo 19.191000."))
    longitude = _text(_("Longitud"), inputmode="decimal", autocomplete="off", help_text=_("Opcional, por ejemplo -99.023000."))
    occupants = _text(
        _("¿Cuántas personas viven en la vivienda?"), required=True, type="number", min=1, max=60, inputmode="numeric"
    )
    water_supply = _choice(_("¿Cómo le llega el agua?"), WATER_SUPPLY_CHOICES)
    tandeo_days_per_week = _text(
        _("Días con agua por semana"),
        type="number",
        min=0,
        max=6,
        inputmode="numeric",
        help_text=_("Solo si el agua le llega por tandeo."),
    )
    roof_material = _choice(_("Material del techo"), RoofMaterial.choices)
    roof_area_m2 = _text(
        _("Superficie del techo (m²)"),
        required=True,
        inputmode="decimal",
        autocomplete="off",
        help_text=_("Aproximada, medida a lo largo y a lo ancho; por ejemplo 40."),
    )
    existing_storage_litres = _text(
        _("Litros que ya puede guardar (tinaco, cisterna)"),
        type="number",
        min=0,
        inputmode="numeric",
        help_text=_("Si no tiene, deje 0 o vacío."),
    )

    # The consent
    privacy_consent = _flag(_("He leído y acepto el aviso de privacidad"))

    person_fields = ("first_name", "first_surname", "second_surname", "curp", "sex", "birth_date", "phone", "email")
    home_fields = (
        "colonia",
        "street_address",
        "postal_code",
        "occupants",
        "water_supply",
        "tandeo_days_per_week",
        "roof_material",
        "roof_area_m2",
        "existing_storage_litres",
    )
    location_fields = ("latitude", "longitude")

    def __init__(self, *args: Any, eligible: Iterable[EligibleColonia] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["colonia"].widget.choices = [("", _("Elija su colonia")), *eligible_colonia_choices(eligible)]
        self.fields["privacy_consent"].widget.attrs["required"] = True

    def _group(self, names: Iterable[str]) -> list[forms.BoundField]:
        return [self[name] for name in names]

    def person(self) -> list[forms.BoundField]:
        return self._group(self.person_fields)

    def flags(self) -> list[forms.BoundField]:
        return self._group(HOUSEHOLD_FLAGS)

    def home(self) -> list[forms.BoundField]:
        return self._group(self.home_fields)

    def location(self) -> list[forms.BoundField]:
        return self._group(self.location_fields)


# The status form's own words for a folio or code of the wrong shape; the serializer decides.
FOLIO_MISSING = _("Escriba el folio de su comprobante.")
FOLIO_MALFORMED = _("El folio lleva solo letras, números y guiones, como en su comprobante (XXXX-XXXX-XXXX).")
CODE_MISSING = _("Escriba el código de verificación de su comprobante.")
CODE_MALFORMED = _("El código de verificación son 6 números, sin espacios.")


class SecretTextInput(forms.TextInput):
    """A text box (the digits stay readable while typed) that never writes its value back into a page."""

    def format_value(self, value: Any) -> None:
        return None


class StatusLookupForm(SerializerBackedForm):
    """Folio and verification code, checked for shape by the API's lookup serializer."""

    serializer_class = StatusLookupSerializer

    folio = _text(
        _("Folio"),
        required=True,
        maxlength=40,
        autocomplete="off",
        autocapitalize="characters",
        spellcheck="false",
        help_text=_("Como aparece en su comprobante, por ejemplo 7K3M-Q9T2-XW4P."),
    )
    code = _text(
        _("Código de verificación"),
        required=True,
        widget=SecretTextInput,
        inputmode="numeric",
        autocomplete="off",
        maxlength=6,
        help_text=_("Los 6 números de su comprobante."),
    )

    def add_serializer_error(self, name: str, messages: Any) -> None:
        codes = {getattr(message, "code", "") for message in messages}
        missing = bool(codes & {"required", "blank", "null"})
        if name == "folio":
            self.add_error("folio", str(FOLIO_MISSING if missing else FOLIO_MALFORMED))
        elif name == "code":
            self.add_error("code", str(CODE_MISSING if missing else CODE_MALFORMED))
        else:
            super().add_serializer_error(name, messages)
