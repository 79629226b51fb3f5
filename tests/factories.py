"""factory_boy factories for the domain. Reference data (alcaldías, years…) comes from fixtures/."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from installations.identifiers import curp_check_digit, folio_generate, verification_code_hash
from installations.lifecycle import Status
from installations.models import (
    Applicant,
    Application,
    Colonia,
    Component,
    Dwelling,
    EligibleColonia,
    Installation,
    InstallerOrganisation,
    MaintenanceVisit,
    Modality,
    Payment,
    ProgramYear,
    StatusChange,
    TechnicalVisit,
    User,
)


def make_curp(n: int, sex: str = "M") -> str:
    """A valid CURP (right check digit) that differs for every n."""
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    consonants = "BCDFGHJKLMNPRSTVWXYZ"
    first = letters[n % len(letters)] + "A" + letters[(n // 23) % 23] + letters[(n // 529) % 23]
    birth = f"{60 + n % 40:02d}{1 + n % 12:02d}{1 + n % 28:02d}"
    body = f"{first}{birth}{sex}DF{consonants[n % 20]}{consonants[(n // 20) % 20]}{consonants[(n // 400) % 20]}{n // 8000 % 10}"
    return body + str(curp_check_digit(body))


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"persona{n}")
    role = User.Role.TECHNICIAN
    password = factory.django.Password("contraseña-de-prueba")


class ColoniaFactory(DjangoModelFactory):
    class Meta:
        model = Colonia

    alcaldia_id = "09009"
    name = factory.Sequence(lambda n: f"Colonia de prueba {n}")
    kind = Colonia.Kind.COLONIA
    catalog_source = "test"
    catalog_key = factory.Sequence(lambda n: f"T-{n}")


class EligibleColoniaFactory(DjangoModelFactory):
    class Meta:
        model = EligibleColonia

    program_year = factory.LazyFunction(lambda: ProgramYear.objects.get(year=2023))
    colonia = factory.SubFactory(ColoniaFactory)
    modality = Modality.TOTAL_SUBSIDY


class ApplicantFactory(DjangoModelFactory):
    class Meta:
        model = Applicant

    first_name = "María"
    first_surname = "Hernández"
    second_surname = "López"
    curp = factory.Sequence(make_curp)
    sex = Applicant.Sex.WOMAN
    birth_date = date(1975, 5, 1)
    phone = "5512345678"
    is_household_head = True
    woman_headed_household = True


class DwellingFactory(DjangoModelFactory):
    class Meta:
        model = Dwelling

    colonia = factory.SubFactory(ColoniaFactory)
    street_address = factory.Sequence(lambda n: f"Calle Tláloc {n}")
    postal_code = "12000"
    latitude = Decimal("19.191000")
    longitude = Decimal("-99.023000")
    occupants = 4
    water_supply = Dwelling.WaterSupply.TANDEO
    tandeo_days_per_week = 2
    roof_material = "concreto"
    roof_area_m2 = Decimal("40.00")


class InstallerFactory(DjangoModelFactory):
    class Meta:
        model = InstallerOrganisation
        django_get_or_create = ("name",)

    name = "Instaladora de prueba"


class ApplicationFactory(DjangoModelFactory):
    """An application inserted directly in a given status (no history): for reads and constraints."""

    class Meta:
        model = Application

    folio = factory.LazyFunction(folio_generate)
    verification_code_hash = factory.LazyFunction(lambda: verification_code_hash("123456"))
    applicant = factory.SubFactory(ApplicantFactory)
    dwelling = factory.SubFactory(DwellingFactory)
    program_year = factory.LazyFunction(lambda: ProgramYear.objects.get(year=2023))
    modality = Modality.TOTAL_SUBSIDY
    channel = Application.Channel.BRIGADE
    privacy_consent_at = datetime(2023, 2, 1, 16, 0, tzinfo=UTC)
    status = Status.REGISTERED


class TechnicalVisitFactory(DjangoModelFactory):
    """A technical visit already made, viable unless told otherwise; pass visited_on=None, outcome=None for a planned one."""

    class Meta:
        model = TechnicalVisit

    application = factory.SubFactory(ApplicationFactory, status=Status.VISIT_DONE)
    technician = factory.SubFactory(UserFactory)
    scheduled_on = date(2023, 3, 1)
    visited_on = date(2023, 3, 2)
    outcome = TechnicalVisit.Outcome.VIABLE
    measured_roof_area_m2 = Decimal("40.00")
    measured_roof_material = "concreto"


class PaymentFactory(DjangoModelFactory):
    """The household's 50 % payment of a partial-subsidy application."""

    class Meta:
        model = Payment

    application = factory.SubFactory(ApplicationFactory, status=Status.PAID, modality=Modality.PARTIAL_SUBSIDY)
    amount_mxn = Decimal("3500.00")
    method = Payment.Method.TRANSFER
    paid_on = date(2023, 4, 1)
    agreement_reference = factory.Sequence(lambda n: f"CONV-2023-{n:04d}")


class InstallationFactory(DjangoModelFactory):
    """A working system at the application's own dwelling."""

    class Meta:
        model = Installation

    application = factory.SubFactory(ApplicationFactory, status=Status.ACTIVE)
    dwelling = factory.SelfAttribute("application.dwelling")
    technician = factory.SubFactory(UserFactory)
    installer = factory.SubFactory(InstallerFactory)
    installed_on = date(2023, 5, 1)
    tank_capacity_litres = 2500


class ComponentFactory(DjangoModelFactory):
    class Meta:
        model = Component

    installation = factory.SubFactory(InstallationFactory)
    kind = Component.Kind.ROOF_TANK
    size = Decimal("2500")
    unit = Component.Unit.LITRES


class MaintenanceVisitFactory(DjangoModelFactory):
    class Meta:
        model = MaintenanceVisit

    installation = factory.SubFactory(InstallationFactory)
    kind = MaintenanceVisit.Kind.PRE_SEASON
    visited_on = date(2024, 4, 1)
    next_due_on = factory.LazyAttribute(lambda visit: visit.visited_on + timedelta(days=180))


class StatusChangeFactory(DjangoModelFactory):
    """A line of an application's history, written directly (the service writes the real ones)."""

    class Meta:
        model = StatusChange

    application = factory.SubFactory(ApplicationFactory)
    from_status = ""
    to_status = Status.REGISTERED
    changed_at = factory.LazyFunction(timezone.now)
