"""The program's records: reference data, households, requests, visits, systems and maintenance.

Every model states what it is in the real world; the database refuses what it can refuse on its
own (check and unique constraints), so that no path around the services stores nonsense.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Length
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from installations.identifiers import folio_display, validate_curp
from installations.lifecycle import CLOSED_STATUSES, Status, status_label
from installations.querysets import (
    ApplicationQuerySet,
    InstallationQuerySet,
    MaintenanceVisitQuerySet,
    TechnicalVisitQuerySet,
)

# Mexico City's bounding box (INEGI Marco Geoestadístico, rounded outwards).
CDMX_LATITUDE_RANGE = (Decimal("19.04"), Decimal("19.60"))
CDMX_LONGITUDE_RANGE = (Decimal("-99.37"), Decimal("-98.94"))
# Lets constraints say `curp__length=18`; registered here so migrations see it too.
models.CharField.register_lookup(Length)


def _cdmx_coordinate_field(verbose_name: str | Promise, bounds: tuple[Decimal, Decimal], message: Promise) -> models.DecimalField:
    """An optional coordinate (6 decimals, about 0.1 m) within ``bounds``, the extent of Mexico City."""
    return models.DecimalField(
        verbose_name,
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(bounds[0], message), MaxValueValidator(bounds[1], message)],
    )


def cdmx_latitude_field(verbose_name: str | Promise) -> models.DecimalField:
    """An optional latitude (6 decimals, about 0.1 m) that must fall inside Mexico City."""
    return _cdmx_coordinate_field(verbose_name, CDMX_LATITUDE_RANGE, _("La latitud queda fuera de la Ciudad de México."))


def cdmx_longitude_field(verbose_name: str | Promise) -> models.DecimalField:
    """An optional longitude (6 decimals, about 0.1 m) that must fall inside Mexico City."""
    return _cdmx_coordinate_field(verbose_name, CDMX_LONGITUDE_RANGE, _("La longitud queda fuera de la Ciudad de México."))


ALCALDIA_CODES = [f"090{n:02d}" for n in range(2, 18)]


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    updated_at = models.DateTimeField(_("actualizado"), auto_now=True)

    class Meta:
        abstract = True


class VersionedModel(TimeStampedModel):
    """A record people edit from several devices: ``version`` goes up by one on every write (ETag)."""

    version = models.PositiveIntegerField(_("versión"), default=1, editable=False)

    class Meta:
        abstract = True


class FieldRecordModel(VersionedModel):
    """A record a technician may capture offline: the phone's own id and clock, kept apart from ours."""

    client_uuid = models.UUIDField(_("identificador del dispositivo"), unique=True, null=True, blank=True, editable=False)
    recorded_at = models.DateTimeField(_("capturado en el dispositivo"), null=True, blank=True, editable=False)
    received_at = models.DateTimeField(_("recibido por el servidor"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class GpsReadingModel(models.Model):
    """Where the technician's phone was when a field record was captured, and how sure it was.

    All three values or none: a record captured without a fix (no permission, no JavaScript, an
    import) has no reading. The position is private like a dwelling's coordinates.
    """

    gps_latitude = cdmx_latitude_field(_("latitud (GPS)"))
    gps_longitude = cdmx_longitude_field(_("longitud (GPS)"))
    gps_accuracy_m = models.DecimalField(
        _("precisión del GPS (m)"),
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1"), _("La precisión debe ser mayor que cero."))],
    )

    GPS_FIELDS = ("gps_latitude", "gps_longitude", "gps_accuracy_m")

    class Meta:
        abstract = True

    def gps_clean(self) -> None:
        """Refuse half a reading (the check constraint says the same to the database)."""
        missing = [name for name in self.GPS_FIELDS if getattr(self, name) is None]
        if missing and len(missing) < len(self.GPS_FIELDS):
            raise ValidationError({name: _("Capture latitud, longitud y precisión juntas, o ninguna.") for name in missing})


def gps_constraints(prefix: str) -> list[models.CheckConstraint]:
    """The database's rules for a GpsReadingModel: all three values or none, inside the city, accuracy > 0."""
    return [
        models.CheckConstraint(
            condition=Q(gps_latitude=None, gps_longitude=None, gps_accuracy_m=None)
            | Q(gps_latitude__isnull=False, gps_longitude__isnull=False, gps_accuracy_m__isnull=False),
            name=f"{prefix}_gps_all_or_none",
            violation_error_message=_("Capture latitud, longitud y precisión juntas, o ninguna."),
        ),
        models.CheckConstraint(
            condition=Q(gps_accuracy_m=None) | Q(gps_accuracy_m__gt=0),
            name=f"{prefix}_gps_accuracy_positive",
            violation_error_message=_("La precisión debe ser mayor que cero."),
        ),
        models.CheckConstraint(
            condition=Q(gps_latitude=None)
            | Q(
                gps_latitude__gte=CDMX_LATITUDE_RANGE[0],
                gps_latitude__lte=CDMX_LATITUDE_RANGE[1],
                gps_longitude__gte=CDMX_LONGITUDE_RANGE[0],
                gps_longitude__lte=CDMX_LONGITUDE_RANGE[1],
            ),
            name=f"{prefix}_gps_in_cdmx",
            violation_error_message=_("La ubicación queda fuera de la Ciudad de México."),
        ),
    ]


# --- People using Harvest ------------------------------------------------------------------------
class UserRole(models.TextChoices):
    TECHNICIAN = "technician", _("Técnica/o de campo")
    COORDINATOR = "coordinator", _("Coordinación")
    ADMINISTRATOR = "administrator", _("Administración")


class User(AbstractUser):
    """A member of staff: field technician, program coordinator or administrator."""

    Role = UserRole

    role = models.CharField(_("rol"), max_length=20, choices=Role, default=Role.TECHNICIAN)
    alcaldias = models.ManyToManyField("Alcaldia", verbose_name=_("alcaldías que cubre"), blank=True, related_name="staff")

    class Meta:
        verbose_name = _("usuario")
        verbose_name_plural = _("usuarios")
        ordering = ["username"]
        constraints = [models.CheckConstraint(condition=_in("role", UserRole), name="user_role_valid")]


# --- Reference data --------------------------------------------------------------------------------
class Alcaldia(models.Model):
    """One of Mexico City's 16 alcaldías, keyed by its INEGI code (CVEGEO 09002–09017)."""

    cvegeo = models.CharField(_("clave INEGI"), max_length=5, primary_key=True)
    name = models.CharField(_("nombre"), max_length=60, unique=True)
    short_names = models.JSONField(_("otros nombres"), default=list, blank=True)

    class Meta:
        verbose_name = _("alcaldía")
        verbose_name_plural = _("alcaldías")
        ordering = ["cvegeo"]
        constraints = [models.CheckConstraint(condition=Q(cvegeo__in=ALCALDIA_CODES), name="alcaldia_cvegeo_inegi")]

    def __str__(self) -> str:
        return self.name


class ColoniaKind(models.TextChoices):
    COLONIA = "colonia", _("Colonia")
    PUEBLO = "pueblo", _("Pueblo")
    BARRIO = "barrio", _("Barrio")


class Colonia(models.Model):
    """A colonia, pueblo or barrio of an alcaldía, as named in a catalogue or a year's rules."""

    Kind = ColoniaKind

    alcaldia = models.ForeignKey(Alcaldia, on_delete=models.PROTECT, related_name="colonias", verbose_name=_("alcaldía"))
    name = models.CharField(_("nombre"), max_length=120)
    kind = models.CharField(_("tipo"), max_length=10, choices=Kind, default=Kind.COLONIA)
    catalog_source = models.CharField(_("catálogo de origen"), max_length=30, default="IECM-2019")
    catalog_key = models.CharField(_("clave en el catálogo"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("colonia")
        verbose_name_plural = _("colonias")
        ordering = ["alcaldia_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["alcaldia", "name"], name="colonia_unique_name_per_alcaldia"),
            models.UniqueConstraint(
                fields=["catalog_source", "catalog_key"], condition=~Q(catalog_key=""), name="colonia_unique_catalog_key"
            ),
            models.CheckConstraint(condition=_in("kind", ColoniaKind), name="colonia_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.alcaldia_id})"


class Modality(models.TextChoices):
    TOTAL_SUBSIDY = "total_subsidy", _("Subsidio total")
    PARTIAL_SUBSIDY = "partial_subsidy_50", _("Subsidio parcial (50 %)")


class ProgramYear(models.Model):
    """One year's call (Reglas de Operación): its target, budget, alcaldías and eligible colonias."""

    year = models.PositiveSmallIntegerField(_("año"), primary_key=True)
    target_systems = models.PositiveIntegerField(_("meta de sistemas"), null=True, blank=True)
    budget_mxn = models.DecimalField(
        _("presupuesto (MXN)"), max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    gazette_reference = models.CharField(_("publicación en la Gaceta"), max_length=200, blank=True)
    registration_opens_on = models.DateField(_("inicio de registro"), null=True, blank=True)
    registration_closes_on = models.DateField(_("fin de registro"), null=True, blank=True)
    alcaldias = models.ManyToManyField(Alcaldia, related_name="program_years", verbose_name=_("alcaldías participantes"))
    source = models.TextField(_("fuente de las cifras"), blank=True)

    class Meta:
        verbose_name = _("año del programa")
        verbose_name_plural = _("años del programa")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(condition=Q(year__gte=2019, year__lte=2100), name="programyear_year_range"),
            models.CheckConstraint(
                condition=Q(target_systems__gt=0) | Q(target_systems=None), name="programyear_target_positive"
            ),
            models.CheckConstraint(condition=Q(budget_mxn__gte=0) | Q(budget_mxn=None), name="programyear_budget_not_negative"),
            models.CheckConstraint(
                condition=Q(registration_closes_on__gte=models.F("registration_opens_on"))
                | Q(registration_closes_on=None)
                | Q(registration_opens_on=None),
                name="programyear_registration_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return str(self.year)

    def clean(self) -> None:
        opens, closes = self.registration_opens_on, self.registration_closes_on
        if opens and closes and closes < opens:
            raise ValidationError({"registration_closes_on": _("El fin del registro no puede ser anterior a su inicio.")})


class EligibleColonia(models.Model):
    """A colonia listed in a year's call, with the subsidy its households get there."""

    program_year = models.ForeignKey(
        ProgramYear, on_delete=models.CASCADE, related_name="eligible_colonias", verbose_name=_("año")
    )
    colonia = models.ForeignKey(Colonia, on_delete=models.PROTECT, related_name="eligibilities", verbose_name=_("colonia"))
    modality = models.CharField(_("modalidad"), max_length=20, choices=Modality, default=Modality.TOTAL_SUBSIDY)

    class Meta:
        verbose_name = _("colonia elegible")
        verbose_name_plural = _("colonias elegibles")
        ordering = ["program_year", "colonia"]
        constraints = [
            models.UniqueConstraint(fields=["program_year", "colonia"], name="eligiblecolonia_once_per_year"),
            models.CheckConstraint(condition=_in("modality", Modality), name="eligiblecolonia_modality_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.program_year_id} · {self.colonia} · {self.get_modality_display()}"


class RoofMaterial(models.TextChoices):
    CONCRETE = "concreto", _("Losa de concreto")
    METAL_SHEET = "lamina_metalica", _("Lámina metálica")
    PLASTIC_SHEET = "lamina_plastica", _("Lámina plástica")
    FIBER_CEMENT = "fibrocemento", _("Fibrocemento")
    ASBESTOS = "asbesto", _("Asbesto")
    CARDBOARD = "carton", _("Lámina de cartón")
    OTHER = "otro", _("Otro")


class RoofCoefficient(models.Model):
    """Runoff coefficient of a roof material (share of rain that reaches the tank), with its source.

    Unsuitable roofs (asbestos, cardboard) have no coefficient: they are flagged, not estimated.
    """

    material = models.CharField(_("material del techo"), max_length=20, choices=RoofMaterial, primary_key=True)
    runoff_coefficient = models.DecimalField(
        _("coeficiente de escurrimiento"), max_digits=3, decimal_places=2, null=True, blank=True
    )
    suitable = models.BooleanField(_("apto para captación"), default=True)
    source = models.TextField(_("fuente"))

    class Meta:
        verbose_name = _("coeficiente de techo")
        verbose_name_plural = _("coeficientes de techo")
        ordering = ["material"]
        constraints = [
            models.CheckConstraint(condition=_in("material", RoofMaterial), name="roofcoefficient_material_valid"),
            models.CheckConstraint(
                # isnull=False: a comparison with NULL is unknown, and a CHECK lets unknown through.
                condition=Q(suitable=True, runoff_coefficient__isnull=False, runoff_coefficient__gt=0, runoff_coefficient__lte=1)
                | Q(suitable=False, runoff_coefficient=None),
                name="roofcoefficient_suitable_has_coefficient",
            ),
        ]

    def __str__(self) -> str:
        return self.get_material_display()

    def clean(self) -> None:
        if self.suitable and self.runoff_coefficient is None:
            raise ValidationError({"runoff_coefficient": _("Un techo apto necesita su coeficiente (entre 0 y 1).")})
        if self.suitable and not (0 < self.runoff_coefficient <= 1):
            raise ValidationError({"runoff_coefficient": _("El coeficiente debe ser mayor que 0 y a lo más 1.")})
        if not self.suitable and self.runoff_coefficient is not None:
            raise ValidationError({"runoff_coefficient": _("Un techo no apto no lleva coeficiente: se marca, no se estima.")})


class RainfallReference(models.Model):
    """Annual rainfall used for harvest estimates: one per alcaldía where known, one city-wide row."""

    alcaldia = models.ForeignKey(
        Alcaldia,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rainfall_references",
        verbose_name=_("alcaldía"),
        help_text=_("Vacío: valor de referencia para toda la ciudad."),
    )
    annual_mm = models.DecimalField(
        _("lluvia anual (mm)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(4999)],
    )
    period = models.CharField(_("periodo"), max_length=40, blank=True)
    station = models.CharField(_("estación"), max_length=80, blank=True)
    source = models.TextField(_("fuente"))

    class Meta:
        verbose_name = _("lluvia de referencia")
        verbose_name_plural = _("lluvias de referencia")
        ordering = ["alcaldia_id"]
        constraints = [
            models.CheckConstraint(condition=Q(annual_mm__gt=0, annual_mm__lt=5000), name="rainfall_annual_mm_range"),
            # One row per alcaldía and one city-wide row (alcaldía empty).
            models.UniqueConstraint(Coalesce("alcaldia", Value("CDMX")), name="rainfall_one_per_alcaldia_and_city"),
        ]

    def __str__(self) -> str:
        place = self.alcaldia.name if self.alcaldia else _("Ciudad de México")
        return f"{place}: {self.annual_mm} mm"


class InstallerOrganisation(models.Model):
    """A company or organisation from SEDEMA's directory of installers."""

    name = models.CharField(_("nombre"), max_length=160, unique=True)
    rfc = models.CharField(_("RFC"), max_length=13, blank=True)

    class Meta:
        verbose_name = _("instaladora")
        verbose_name_plural = _("instaladoras")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Households --------------------------------------------------------------------------------------
class ApplicantSex(models.TextChoices):
    WOMAN = "M", _("Mujer")
    MAN = "H", _("Hombre")
    NON_BINARY = "X", _("No binario")


class Applicant(TimeStampedModel):
    """The person who applies for a system. Personal data: CURP, phone, e-mail are confidential."""

    Sex = ApplicantSex

    first_name = models.CharField(_("nombre(s)"), max_length=80)
    first_surname = models.CharField(_("primer apellido"), max_length=80)
    second_surname = models.CharField(_("segundo apellido"), max_length=80, blank=True)
    curp = models.CharField(_("CURP"), max_length=18, unique=True, validators=[validate_curp])
    sex = models.CharField(_("sexo"), max_length=1, choices=Sex)
    birth_date = models.DateField(_("fecha de nacimiento"))
    phone = models.CharField(_("teléfono"), max_length=15, blank=True)
    email = models.EmailField(_("correo electrónico"), blank=True)
    # Kept as separate facts: never derive one from another (brief §6).
    is_household_head = models.BooleanField(_("es jefa o jefe del hogar"), default=False)
    woman_headed_household = models.BooleanField(_("hogar con jefatura femenina"), default=False)
    single_mother = models.BooleanField(_("madre soltera"), default=False)
    older_adult = models.BooleanField(_("persona adulta mayor"), default=False)
    disability = models.BooleanField(_("persona con discapacidad"), default=False)
    indigenous = models.BooleanField(_("persona indígena"), default=False)
    # Bloqueo (LGPDPPSO): kept only for legal duties; left out of the public padrón and of exports.
    blocked_at = models.DateTimeField(_("datos bloqueados desde"), null=True, blank=True)

    class Meta:
        verbose_name = _("persona solicitante")
        verbose_name_plural = _("personas solicitantes")
        ordering = ["first_surname", "second_surname", "first_name"]
        constraints = [
            models.CheckConstraint(condition=Q(curp__length=18), name="applicant_curp_18_chars"),
            models.CheckConstraint(condition=_in("sex", ApplicantSex), name="applicant_sex_valid"),
        ]
        # Incremental coverage refreshes look for rows saved since the last snapshot.
        indexes = [models.Index(fields=["updated_at"], name="applicant_updated_at_idx")]

    def __str__(self) -> str:
        return " ".join(part for part in (self.first_name, self.first_surname, self.second_surname) if part)


class DwellingTenureEvidence(models.TextChoices):
    PREDIAL = "predial", _("Boleta predial")
    CADASTRAL_VALUE = "valor_catastral", _("Hoja de valor catastral")
    LAND_USE = "uso_de_suelo", _("Constancia de uso de suelo")


class DwellingWaterSupply(models.TextChoices):
    CONTINUOUS = "red_continua", _("Red con servicio continuo")
    TANDEO = "tandeo", _("Tandeo (agua algunos días)")
    WATER_TRUCKS = "pipas", _("Pipas")
    NO_NETWORK = "sin_red", _("Sin red")
    UNKNOWN = "sin_dato", _("Sin dato (registro legado)")


class Dwelling(TimeStampedModel):
    """The home where a system goes: address, roof, water supply. Address and coordinates are private."""

    WaterSupply = DwellingWaterSupply

    TenureEvidence = DwellingTenureEvidence

    colonia = models.ForeignKey(Colonia, on_delete=models.PROTECT, related_name="dwellings", verbose_name=_("colonia"))
    street_address = models.CharField(_("calle y número"), max_length=200)
    postal_code = models.CharField(_("código postal"), max_length=5, blank=True)
    latitude = cdmx_latitude_field(_("latitud"))
    longitude = cdmx_longitude_field(_("longitud"))
    # NULL only for systems imported from legacy spreadsheets, which did not record it.
    occupants = models.PositiveSmallIntegerField(
        _("habitantes"), null=True, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    water_supply = models.CharField(_("abastecimiento de agua"), max_length=20, choices=WaterSupply)
    tandeo_days_per_week = models.PositiveSmallIntegerField(
        _("días con agua por semana (tandeo)"), null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(6)]
    )
    tenure_evidence = models.CharField(_("documento de posesión"), max_length=20, choices=TenureEvidence, blank=True)
    roof_material = models.CharField(_("material del techo"), max_length=20, choices=RoofMaterial)
    roof_area_m2 = models.DecimalField(
        _("superficie horizontal del techo (m²)"),
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"), _("Debe ser mayor que cero."))],
    )
    existing_storage_litres = models.PositiveIntegerField(_("almacenamiento existente (litros)"), default=0)

    class Meta:
        verbose_name = _("vivienda")
        verbose_name_plural = _("viviendas")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(roof_area_m2__gt=0), name="dwelling_roof_area_positive"),
            models.CheckConstraint(condition=Q(occupants__gte=1), name="dwelling_occupants_positive"),
            models.CheckConstraint(condition=Q(existing_storage_litres__gte=0), name="dwelling_storage_not_negative"),
            models.CheckConstraint(condition=_in("water_supply", DwellingWaterSupply), name="dwelling_water_supply_valid"),
            models.CheckConstraint(condition=_in("roof_material", RoofMaterial), name="dwelling_roof_material_valid"),
            models.CheckConstraint(
                condition=Q(water_supply="tandeo", tandeo_days_per_week__gte=0, tandeo_days_per_week__lte=6)
                | (~Q(water_supply="tandeo") & Q(tandeo_days_per_week=None)),
                name="dwelling_tandeo_days_only_for_tandeo",
            ),
            models.CheckConstraint(
                condition=Q(latitude=None, longitude=None)
                | Q(
                    latitude__isnull=False,  # else half a position (NULL comparisons) would pass
                    longitude__isnull=False,
                    latitude__gte=CDMX_LATITUDE_RANGE[0],
                    latitude__lte=CDMX_LATITUDE_RANGE[1],
                    longitude__gte=CDMX_LONGITUDE_RANGE[0],
                    longitude__lte=CDMX_LONGITUDE_RANGE[1],
                ),
                name="dwelling_coordinates_in_cdmx",
            ),
        ]
        # Incremental coverage refreshes look for rows saved since the last snapshot.
        indexes = [models.Index(fields=["updated_at"], name="dwelling_updated_at_idx")]

    def __str__(self) -> str:
        return f"{self.street_address}, {self.colonia}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.water_supply == DwellingWaterSupply.TANDEO and self.tandeo_days_per_week is None:
            errors["tandeo_days_per_week"] = _("Indique cuántos días por semana llega el agua con tandeo.")
        if self.water_supply != DwellingWaterSupply.TANDEO and self.tandeo_days_per_week is not None:
            errors["tandeo_days_per_week"] = _("Los días de tandeo solo aplican cuando el abastecimiento es por tandeo.")
        if (self.latitude is None) != (self.longitude is None):
            errors["longitude" if self.longitude is None else "latitude"] = _("Capture latitud y longitud juntas, o ninguna.")
        if errors:
            raise ValidationError(errors)


# --- Requests -----------------------------------------------------------------------------------------
class ApplicationChannel(models.TextChoices):
    BRIGADE = "brigada", _("Brigada territorial")
    EMAIL = "correo", _("Correo electrónico")
    PORTAL = "portal", _("Portal")
    ALCALDIA = "alcaldia", _("Alcaldía")
    LEGACY = "legado", _("Hoja de cálculo legada (importada)")


class Application(FieldRecordModel):
    """A household's request for a system in one program year, followed to the system's end of life."""

    Channel = ApplicationChannel

    Status = Status

    folio = models.CharField(_("folio"), max_length=12, unique=True, editable=False)
    # The key of a request brought in from the program's legacy spreadsheets (re-imports match on it).
    legacy_folio = models.CharField(_("folio legado"), max_length=40, null=True, blank=True, unique=True)
    verification_code_hash = models.CharField(_("código de verificación (hash)"), max_length=64, editable=False)
    applicant = models.ForeignKey(
        Applicant, on_delete=models.PROTECT, related_name="applications", verbose_name=_("persona solicitante")
    )
    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="applications", verbose_name=_("vivienda"))
    program_year = models.ForeignKey(
        ProgramYear, on_delete=models.PROTECT, related_name="applications", verbose_name=_("año del programa")
    )
    modality = models.CharField(_("modalidad"), max_length=20, choices=Modality)
    channel = models.CharField(_("canal de registro"), max_length=10, choices=Channel)
    privacy_consent_at = models.DateTimeField(_("aceptó el aviso de privacidad"))
    commitment_letter_on = models.DateField(_("firma de carta compromiso"), null=True, blank=True)
    status = models.CharField(_("estado"), max_length=30, choices=Status, default=Status.REGISTERED, editable=False)
    status_changed_at = models.DateTimeField(_("último cambio de estado"), null=True, blank=True, editable=False)
    assigned_technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_applications",
        verbose_name=_("técnica/o asignada/o"),
    )

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("solicitud")
        verbose_name_plural = _("solicitudes")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=_in("status", Status), name="application_status_valid"),
            models.CheckConstraint(condition=_in("channel", ApplicationChannel), name="application_channel_valid"),
            models.CheckConstraint(condition=_in("modality", Modality), name="application_modality_valid"),
            models.CheckConstraint(condition=Q(folio__length=12), name="application_folio_12_symbols"),
            models.UniqueConstraint(
                fields=["applicant", "program_year"],
                condition=~Q(status__in=CLOSED_STATUSES),
                name="application_one_open_per_curp_per_year",
                violation_error_message=_("Ya existe una solicitud abierta con esta CURP en este año del programa."),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "program_year"], name="application_status_year_idx"),
            models.Index(fields=["updated_at"], name="application_updated_at_idx"),
        ]

    def __str__(self) -> str:
        return folio_display(self.folio)

    @property
    def folio_display(self) -> str:
        return folio_display(self.folio)


class TechnicalVisitOutcome(models.TextChoices):
    VIABLE = "viable", _("Viable")
    VIABLE_WITH_ADJUSTMENTS = "viable_with_adjustments", _("Viable con adecuaciones")
    NOT_VIABLE = "not_viable", _("No viable")


class TechnicalVisit(GpsReadingModel, FieldRecordModel):
    """The technical visit that decides whether a home can take a system, and what must change first."""

    Outcome = TechnicalVisitOutcome

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="technical_visits", verbose_name=_("solicitud")
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="technical_visits", verbose_name=_("técnica/o")
    )
    scheduled_on = models.DateField(_("fecha programada"))
    visited_on = models.DateField(_("fecha de la visita"), null=True, blank=True)
    outcome = models.CharField(  # noqa: DJ001 -- NULL means "not visited yet", which a constraint ties to visited_on
        _("resultado"), max_length=30, choices=Outcome, null=True, blank=True
    )
    measured_roof_area_m2 = models.DecimalField(
        _("techo medido (m²)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"), _("Debe ser mayor que cero."))],
    )
    measured_roof_material = models.CharField(_("material de techo observado"), max_length=20, choices=RoofMaterial, blank=True)
    required_adjustments = models.TextField(_("adecuaciones requeridas"), blank=True)
    adjustments_verified_on = models.DateField(_("adecuaciones verificadas el"), null=True, blank=True)
    notes = models.TextField(_("observaciones"), blank=True)

    objects = TechnicalVisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("visita técnica")
        verbose_name_plural = _("visitas técnicas")
        ordering = ["-scheduled_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=_in("outcome", TechnicalVisitOutcome) | Q(outcome=None), name="technicalvisit_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome=None, visited_on=None) | (~Q(outcome=None) & ~Q(visited_on=None)),
                name="technicalvisit_outcome_iff_visited",
            ),
            models.CheckConstraint(
                condition=Q(measured_roof_area_m2__gt=0) | Q(measured_roof_area_m2=None), name="technicalvisit_roof_area_positive"
            ),
            models.CheckConstraint(
                condition=Q(adjustments_verified_on=None)
                | Q(visited_on__isnull=False, adjustments_verified_on__gte=models.F("visited_on")),
                name="technicalvisit_adjustments_after_visit",
            ),
            *gps_constraints("technicalvisit"),
        ]
        # Incremental coverage refreshes look for rows saved since the last snapshot.
        indexes = [models.Index(fields=["updated_at"], name="techvisit_updated_at_idx")]

    def __str__(self) -> str:
        return f"{self.application} · {self.scheduled_on}"

    def clean(self) -> None:
        self.gps_clean()
        if (self.outcome is None) != (self.visited_on is None):
            field = "outcome" if self.outcome is None else "visited_on"
            raise ValidationError({field: _("Una visita realizada lleva fecha y resultado; una pendiente, ninguno.")})
        if self.adjustments_verified_on and (self.visited_on is None or self.adjustments_verified_on < self.visited_on):
            raise ValidationError({"adjustments_verified_on": _("La verificación no puede ser anterior a la visita.")})


class PaymentMethod(models.TextChoices):
    TRANSFER = "transferencia", _("Transferencia bancaria")
    CHEQUE = "cheque", _("Cheque")


class Payment(TimeStampedModel):
    """The household's 50 % payment under a partial-subsidy convenio, made before installation."""

    Method = PaymentMethod

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="payment", verbose_name=_("solicitud"))
    amount_mxn = models.DecimalField(
        _("monto (MXN)"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"), _("Debe ser mayor que cero."))],
    )
    method = models.CharField(_("forma de pago"), max_length=15, choices=Method)
    paid_on = models.DateField(_("fecha de pago"))
    agreement_reference = models.CharField(_("referencia del convenio"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("pago")
        verbose_name_plural = _("pagos")
        ordering = ["-paid_on"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_mxn__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=_in("method", PaymentMethod), name="payment_method_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.application} · ${self.amount_mxn}"


class InstallationFundingSource(models.TextChoices):
    SEDEMA = "sedema", _("SEDEMA (Fondo Ambiental Público)")
    CO_FINANCE = "coinversion", _("Coinversión (p. ej. AECID/AMEXCID)")
    OTHER = "otro", _("Otra")


class Installation(GpsReadingModel, FieldRecordModel):
    """A rain-harvesting system (SCALL) installed at a home: tank, Tlaloque, filters and pipework."""

    FundingSource = InstallationFundingSource

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="installation", verbose_name=_("solicitud")
    )
    dwelling = models.ForeignKey(Dwelling, on_delete=models.PROTECT, related_name="installations", verbose_name=_("vivienda"))
    # NULL only for systems imported from legacy spreadsheets (installed before Harvest).
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="installations",
        verbose_name=_("técnica/o asignada/o"),
    )
    installer = models.ForeignKey(
        InstallerOrganisation, on_delete=models.PROTECT, related_name="installations", verbose_name=_("instaladora")
    )
    installed_on = models.DateField(_("fecha de instalación"))
    tank_capacity_litres = models.PositiveIntegerField(
        _("capacidad del tanque (litros)"), default=2500, validators=[MinValueValidator(1, _("Debe ser mayor que cero."))]
    )
    funding_source = models.CharField(
        _("fuente de financiamiento"), max_length=15, choices=FundingSource, default=FundingSource.SEDEMA
    )
    unit_cost_mxn = models.DecimalField(
        _("costo unitario (MXN)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"), _("Debe ser mayor que cero."))],
    )
    training_on = models.DateField(_("capacitación impartida el"), null=True, blank=True)
    removed_on = models.DateField(_("retirado el"), null=True, blank=True)

    objects = InstallationQuerySet.as_manager()

    class Meta:
        verbose_name = _("instalación")
        verbose_name_plural = _("instalaciones")
        ordering = ["-installed_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(tank_capacity_litres__gt=0), name="installation_tank_capacity_positive"),
            models.CheckConstraint(
                condition=Q(unit_cost_mxn__gt=0) | Q(unit_cost_mxn=None), name="installation_unit_cost_positive"
            ),
            models.CheckConstraint(
                condition=_in("funding_source", InstallationFundingSource), name="installation_funding_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(training_on=None) | Q(training_on__gte=models.F("installed_on")),
                name="installation_training_after_install",
            ),
            models.CheckConstraint(
                condition=Q(removed_on=None) | Q(removed_on__gte=models.F("installed_on")),
                name="installation_removed_after_install",
            ),
            models.UniqueConstraint(
                fields=["dwelling"],
                condition=Q(removed_on=None),
                name="installation_one_working_system_per_dwelling",
                violation_error_message=_("La vivienda ya tiene un sistema en funcionamiento."),
            ),
            *gps_constraints("installation"),
        ]
        indexes = [
            models.Index(fields=["installed_on"], name="installation_installed_on_idx"),
            models.Index(fields=["updated_at"], name="installation_updated_at_idx"),
        ]

    def __str__(self) -> str:
        return f"SCALL {self.application} ({self.installed_on})"

    def clean(self) -> None:
        self.gps_clean()
        if self.installed_on and self.training_on and self.training_on < self.installed_on:
            raise ValidationError({"training_on": _("La capacitación no puede ser anterior a la instalación.")})
        if self.installed_on and self.removed_on and self.removed_on < self.installed_on:
            raise ValidationError({"removed_on": _("El retiro no puede ser anterior a la instalación.")})


class ComponentUnit(models.TextChoices):
    LITRES = "L", _("litros")
    METRES = "m", _("metros")
    INCHES = "in", _("pulgadas")
    HORSEPOWER = "hp", _("caballos de fuerza")
    UNITS = "pza", _("piezas")


class ComponentKind(models.TextChoices):
    GUTTER = "canaleta", _("Canaleta")
    DOWNPIPE = "bajante", _("Bajante")
    LEAF_FILTER = "filtro_hojas", _("Filtro de hojas")
    TLALOQUE = "tlaloque", _("Tlaloque (separador de primeras lluvias)")
    TLALOQUITO = "tlaloquito", _("Tlaloquito")
    ROOF_TANK = "tinaco", _("Tinaco")
    CISTERN = "cisterna", _("Cisterna")
    TURBULENCE_REDUCER = "reductor_turbulencia", _("Reductor de turbulencia")
    FLOATING_SUCTION = "pichancha", _("Pichancha flotante")
    SEDIMENT_FILTER = "filtro_sedimentos", _("Filtro de sedimentos")
    CARBON_FILTER = "filtro_carbon", _("Filtro de carbón activado")
    CHLORINATOR = "clorador", _("Clorador")
    PUMP = "bomba", _("Bomba")
    OVERFLOW = "rebosadero", _("Rebosadero")


class Component(models.Model):
    """One part of an installed system, with its size (litres for tanks, metres for pipe, …)."""

    Kind = ComponentKind

    Unit = ComponentUnit

    installation = models.ForeignKey(
        Installation, on_delete=models.CASCADE, related_name="components", verbose_name=_("instalación")
    )
    kind = models.CharField(_("tipo"), max_length=25, choices=Kind)
    size = models.DecimalField(
        _("tamaño"),
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"), _("Debe ser mayor que cero."))],
    )
    unit = models.CharField(_("unidad"), max_length=3, choices=Unit)
    replaced_on = models.DateField(_("reemplazado el"), null=True, blank=True)

    class Meta:
        verbose_name = _("componente")
        verbose_name_plural = _("componentes")
        ordering = ["installation", "kind"]
        constraints = [
            models.CheckConstraint(condition=_in("kind", ComponentKind), name="component_kind_valid"),
            models.CheckConstraint(condition=_in("unit", ComponentUnit), name="component_unit_valid"),
            models.CheckConstraint(condition=Q(size__gt=0), name="component_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.size} {self.get_unit_display()}"


class MaintenanceVisitPerformedBy(models.TextChoices):
    HOUSEHOLD = "household", _("La familia")
    SEDEMA = "sedema", _("Personal de SEDEMA")
    COOPERATIVE = "cooperative", _("Cooperativa")


class MaintenanceVisitKind(models.TextChoices):
    PRE_SEASON = "pre_season", _("Previa a la temporada de lluvias")
    POST_SEASON = "post_season", _("Posterior a la temporada de lluvias")
    REPAIR = "repair", _("Reparación")
    FOLLOW_UP = "follow_up", _("Seguimiento")


class MaintenanceVisit(GpsReadingModel, FieldRecordModel):
    """A maintenance or follow-up visit to an installed system, with its checklist and next due date."""

    Kind = MaintenanceVisitKind

    PerformedBy = MaintenanceVisitPerformedBy

    installation = models.ForeignKey(
        Installation, on_delete=models.PROTECT, related_name="maintenance_visits", verbose_name=_("instalación")
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="maintenance_visits",
        verbose_name=_("técnica/o"),
    )
    kind = models.CharField(_("tipo"), max_length=15, choices=Kind)
    performed_by = models.CharField(_("realizada por"), max_length=15, choices=PerformedBy, default=PerformedBy.SEDEMA)
    visited_on = models.DateField(_("fecha de la visita"))
    roof_cleaned = models.BooleanField(_("techo limpio"), default=False)
    leaf_filter_cleaned = models.BooleanField(_("filtro de hojas limpio"), default=False)
    tlaloque_purged = models.BooleanField(_("Tlaloque purgado"), default=False)
    tank_cleaned = models.BooleanField(_("tanque lavado y desinfectado"), default=False)
    cartridges_replaced = models.BooleanField(_("cartuchos de filtro cambiados"), default=False)
    chlorine_added = models.BooleanField(_("cloro añadido"), default=False)
    findings = models.TextField(_("hallazgos"), blank=True)
    next_due_on = models.DateField(_("próximo mantenimiento"))

    objects = MaintenanceVisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("visita de mantenimiento")
        verbose_name_plural = _("visitas de mantenimiento")
        ordering = ["-visited_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=_in("kind", MaintenanceVisitKind), name="maintenancevisit_kind_valid"),
            models.CheckConstraint(
                condition=_in("performed_by", MaintenanceVisitPerformedBy), name="maintenancevisit_performed_by_valid"
            ),
            models.CheckConstraint(
                condition=Q(next_due_on__gt=models.F("visited_on")), name="maintenancevisit_next_due_after_visit"
            ),
            *gps_constraints("maintenancevisit"),
        ]
        indexes = [
            models.Index(fields=["next_due_on"], name="maintenance_next_due_idx"),
            models.Index(fields=["updated_at"], name="maintenance_updated_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.visited_on}"

    def clean(self) -> None:
        self.gps_clean()
        if self.visited_on and self.next_due_on and self.next_due_on <= self.visited_on:
            raise ValidationError({"next_due_on": _("El próximo mantenimiento debe ser posterior a la visita.")})


class MaintenanceReminderReason(models.TextChoices):
    # In order of precedence: a system overdue for several reasons is reminded for the first.
    FLAGGED = "flagged", _("Marcado como «requiere mantenimiento»")
    DUE_DATE_PASSED = "due_date_passed", _("Pasó la fecha del próximo mantenimiento")
    NO_PRESEASON_VISIT = "no_preseason_visit", _("Sin mantenimiento antes de la temporada de lluvias")


class MaintenanceReminder(models.Model):
    """A reminder that a working system is overdue for maintenance: at most one per system and rainy season.

    An outbox written by the daily maintenance sweep. No SMS or e-mail gateway exists yet: rows wait
    with ``delivered_at`` empty until a sender reads them, delivers them and stamps the time. The
    season is the year of the rainy season (May–October) the reminder prepares for; November and
    December count towards the next year's season.
    """

    Reason = MaintenanceReminderReason

    installation = models.ForeignKey(
        Installation, on_delete=models.PROTECT, related_name="maintenance_reminders", verbose_name=_("instalación")
    )
    season = models.PositiveSmallIntegerField(_("temporada de lluvias"))
    reason = models.CharField(_("motivo"), max_length=20, choices=Reason)
    due_since = models.DateField(_("pendiente desde"))
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("entregado"), null=True, blank=True)

    class Meta:
        verbose_name = _("recordatorio de mantenimiento")
        verbose_name_plural = _("recordatorios de mantenimiento")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["installation", "season"], name="maintenance_reminder_once_per_season"),
            models.CheckConstraint(condition=_in("reason", MaintenanceReminderReason), name="maintenancereminder_reason_valid"),
        ]
        # What a sender will read: the rows still waiting, oldest first.
        indexes = [models.Index(fields=["created_at"], condition=Q(delivered_at=None), name="reminder_undelivered_idx")]

    def __str__(self) -> str:
        return f"{self.installation_id} · {self.season} · {self.get_reason_display()}"


class StatusChange(models.Model):
    """One step of a request's lifecycle: from, to, who, when and why. Written only by the service."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="status_changes", verbose_name=_("solicitud")
    )
    from_status = models.CharField(_("estado anterior"), max_length=30, choices=Status, blank=True)
    to_status = models.CharField(_("estado nuevo"), max_length=30, choices=Status)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="status_changes",
        verbose_name=_("realizado por"),
    )
    changed_at = models.DateTimeField(_("fecha y hora"))
    note = models.TextField(_("nota"), blank=True)

    class Meta:
        verbose_name = _("cambio de estado")
        verbose_name_plural = _("cambios de estado")
        ordering = ["application", "changed_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=_in("from_status", Status) | Q(from_status=""), name="statuschange_from_valid"),
            models.CheckConstraint(condition=_in("to_status", Status), name="statuschange_to_valid"),
            models.CheckConstraint(condition=~Q(from_status=models.F("to_status")), name="statuschange_changes_something"),
        ]

    def __str__(self) -> str:
        return f"{status_label(self.from_status) if self.from_status else '∅'} → {status_label(self.to_status)}"


def field_photo_path(instance: FieldPhoto, filename: str) -> str:
    """Where a photo's file goes under MEDIA_ROOT: ``field/<kind>/<record id>/<uuid>.jpg`` (never the phone's name)."""
    kind = instance.record_kind
    return f"field/{kind}/{getattr(instance, f'{kind}_id')}/{uuid.uuid4().hex}.jpg"


class FieldPhoto(models.Model):
    """A photo a technician took at a home for one field record: a technical visit, an installation or a maintenance visit.

    The file is a JPEG re-encoded by the server (shrunk, without EXIF, GPS or any other metadata) and
    kept in private storage: it is never served from MEDIA_URL, only through a view that checks the
    caller may see the record. Exactly one of the three records is set.
    """

    RECORD_FIELDS = ("technical_visit", "installation", "maintenance_visit")

    technical_visit = models.ForeignKey(
        TechnicalVisit,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="photos",
        verbose_name=_("visita técnica"),
    )
    installation = models.ForeignKey(
        Installation, on_delete=models.CASCADE, null=True, blank=True, related_name="photos", verbose_name=_("instalación")
    )
    maintenance_visit = models.ForeignKey(
        MaintenanceVisit,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="photos",
        verbose_name=_("visita de mantenimiento"),
    )
    image = models.ImageField(_("foto"), upload_to=field_photo_path, width_field="width", height_field="height", max_length=200)
    width = models.PositiveIntegerField(_("ancho (px)"), editable=False)
    height = models.PositiveIntegerField(_("alto (px)"), editable=False)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="field_photos", verbose_name=_("tomada por")
    )
    created_at = models.DateTimeField(_("recibida"), auto_now_add=True)

    class Meta:
        verbose_name = _("foto de campo")
        verbose_name_plural = _("fotos de campo")
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(technical_visit__isnull=False, installation=None, maintenance_visit=None)
                | Q(technical_visit=None, installation__isnull=False, maintenance_visit=None)
                | Q(technical_visit=None, installation=None, maintenance_visit__isnull=False),
                name="fieldphoto_exactly_one_record",
                violation_error_message=_("Una foto pertenece a exactamente un registro de campo."),
            ),
            models.CheckConstraint(condition=Q(width__gt=0, height__gt=0), name="fieldphoto_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.record_kind} {self.record.pk} · {self.created_at:%Y-%m-%d}" if self.created_at else self.image.name

    @property
    def record_kind(self) -> str:
        """``technical_visit``, ``installation`` or ``maintenance_visit``: which record the photo belongs to."""
        for name in self.RECORD_FIELDS:
            if getattr(self, f"{name}_id") is not None:
                return name
        raise ValueError("a field photo belongs to a field record")

    @property
    def record(self) -> TechnicalVisit | Installation | MaintenanceVisit:
        """The field record the photo belongs to."""
        return getattr(self, self.record_kind)

    def clean(self) -> None:
        if sum(getattr(self, f"{name}_id") is not None for name in self.RECORD_FIELDS) != 1:
            raise ValidationError(_("Una foto pertenece a exactamente un registro de campo."))
