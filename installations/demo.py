"""A deterministic, realistic demo program: colonias, households, requests in every state, systems.

Demo data only. Rows are written in bulk (a service call per row would take minutes for the
program's 62,700 systems) but every row satisfies the same database constraints, and each request
carries the status history and evidence that ``application_transition`` would have required.
Proportions follow ../shared/domain.md: installations per year (§1.3), Milpa Alta and Iztapalapa
largest (§1.4), about 70 % women applicants and two thirds woman-headed homes, kept as separate
facts (§6), 2,500 L tanks (§3.1), tiny partial-subsidy uptake (§1.5).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Field, Max, Model

from audit.models import AuditAction
from audit.services import audit_record
from installations.identifiers import curp_check_digit, folio_generate, verification_code_hash
from installations.lifecycle import Status
from installations.models import (
    Applicant,
    Application,
    ApplicationChannel,
    Colonia,
    Component,
    Dwelling,
    DwellingWaterSupply,
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

T = TypeVar("T")
# Demo households apply through today's channels with a known water supply (the legacy values are
# for imported spreadsheets only).
LIVE_WATER_SUPPLIES = [s for s in DwellingWaterSupply if s != DwellingWaterSupply.UNKNOWN]
LIVE_CHANNELS = [c for c in ApplicationChannel if c != ApplicationChannel.LEGACY]

NINE_ALCALDIAS = ["09002", "09003", "09005", "09007", "09008", "09009", "09011", "09012", "09013"]
# Share of systems by alcaldía: Milpa Alta 21,517 and Iztapalapa 10,977 of 55,821 (June 2023);
# the other seven alcaldías' counts are unpublished, so they share the rest evenly.
ALCALDIA_WEIGHT = {"09009": 21_517, "09007": 10_977} | {
    code: (55_821 - 21_517 - 10_977) / 7 for code in NINE_ALCALDIAS if code not in {"09009", "09007"}
}
# New systems per year (2023 to September: 62,700 − 50,010).
YEAR_WEIGHT = {2019: 10_003, 2020: 10_007, 2021: 10_000, 2022: 20_000, 2023: 12_690}
# Approximate centres, to scatter demo homes inside each alcaldía.
ALCALDIA_CENTRE = {
    "09002": (19.487, -99.186),
    "09003": (19.330, -99.150),
    "09005": (19.500, -99.110),
    "09006": (19.396, -99.098),
    "09007": (19.350, -99.060),
    "09008": (19.300, -99.240),
    "09009": (19.190, -99.030),
    "09011": (19.280, -99.010),
    "09012": (19.230, -99.180),
    "09013": (19.255, -99.100),
    "09017": (19.430, -99.100),
}
# Colonias per alcaldía (2021 list: total subsidy, partial subsidy); Xochimilco was not in 2021.
COLONIAS_PER_ALCALDIA = {
    "09002": (36, 26),
    "09003": (9, 19),
    "09005": (81, 42),
    "09007": (116, 5),
    "09008": (26, 10),
    "09009": (16, 0),
    "09011": (55, 0),
    "09012": (83, 5),
    "09013": (40, 0),
    "09006": (20, 0),
    "09017": (20, 0),
}
PLACE_NAMES = [
    "San",
    "Miguel",
    "Santa",
    "Cruz",
    "San",
    "Lorenzo",
    "San",
    "Juan",
    "San",
    "Pedro",
    "Santa",
    "Ana",
    "San",
    "Francisco",
    "San",
    "Pablo",
    "San",
    "Antonio",
    "San",
    "Bartolomé",
    "Santa",
    "Catarina",
    "San",
    "Andrés",
    "San",
    "Mateo",
    "Santiago",
    "San",
    "Salvador",
    "San",
    "Gregorio",
    "Santa",
    "María",
    "Tlaltenco",
    "Teotongo",
    "Acahualtepec",
    "Quetzalcóatl",
    "Xalpa",
    "Tecómitl",
    "Atocpan",
    "Oztotepec",
    "Tlacotenco",
    "Ocotepec",
    "Tepepan",
    "Topilejo",
    "Ajusco",
    "Tlacoyucan",
    "Cuautepec",
    "Zapotitla",
    "Tetelco",
    "Ixtayopan",
    "Miacatlán",
    "Xicomulco",
    "Tepenáhuac",
    "Tecoxpa",
    "Huayatla",
    "Tlalcoligia",
    "Chimalcoyoc",
    "Tlalpuente",
    "Citlalli",
    "Xochitepec",
    "Axotla",
]
PLACE_PREFIXES = ["", "Ampliación ", "Barrio ", "Pueblo ", "Lomas de ", "Ejidos de ", "Valle de ", "Cerro de "]
FIRST_NAMES_WOMEN = [
    "María",
    "Guadalupe",
    "Juana",
    "Margarita",
    "Verónica",
    "Rosa",
    "Leticia",
    "Patricia",
    "Josefina",
    "Alejandra",
    "Teresa",
    "Elena",
    "Martha",
    "Silvia",
    "Adriana",
    "Claudia",
]
FIRST_NAMES_MEN = [
    "José",
    "Juan",
    "Luis",
    "Miguel",
    "Francisco",
    "Pedro",
    "Jorge",
    "Antonio",
    "Carlos",
    "Alejandro",
    "Raúl",
    "Roberto",
    "Fernando",
    "Ricardo",
    "Javier",
    "Manuel",
]
SURNAMES = [
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Ortiz",
    "Castillo",
    "Romero",
    "Juárez",
    "Nava",
    "Peña",
    "Tapia",
    "Olvera",
]
STREETS = [
    "Hidalgo",
    "Morelos",
    "Juárez",
    "Zaragoza",
    "Allende",
    "Aldama",
    "Matamoros",
    "Guerrero",
    "Tláloc",
    "Cuauhtémoc",
    "Emiliano",
    "Zapata",
    "Independencia",
    "Reforma",
    "Insurgentes",
    "Nezahualcóyotl",
    "Xochitl",
]
CURP_CONSONANTS = "BCDFGHJKLMNPRSTVXZ"
DEMO_INSTALLERS = [
    "Instaladora demostración Tlaloc",
    "Instaladora demostración Ehécatl",
    "Instaladora demostración Atl",
    "Instaladora demostración Quiahuitl",
    "Cooperativa demostración Mujeres del Agua",
]
# States the in-flight requests of the current call are spread over (the systems cover the rest).
PIPELINE_STATES = [
    Status.REGISTERED,
    Status.DOCUMENTS_PENDING,
    Status.DOCUMENTS_COMPLETE,
    Status.WAITLISTED,
    Status.VISIT_SCHEDULED,
    Status.VISIT_DONE,
    Status.NOT_VIABLE,
    Status.ADJUSTMENTS_PENDING,
    Status.VIABLE,
    Status.PAYMENT_PENDING,
    Status.PAID,
    Status.INSTALLATION_SCHEDULED,
    Status.WITHDRAWN,
    Status.REJECTED,
]
# The path through the lifecycle that leads to each state (every step is in TRANSITIONS).
_BEFORE_VISIT = [Status.REGISTERED, Status.DOCUMENTS_COMPLETE, Status.VISIT_SCHEDULED, Status.VISIT_DONE]
PATHS: dict[str, list[str]] = {
    Status.REGISTERED: [Status.REGISTERED],
    Status.DOCUMENTS_PENDING: [Status.REGISTERED, Status.DOCUMENTS_PENDING],
    Status.DOCUMENTS_COMPLETE: [Status.REGISTERED, Status.DOCUMENTS_PENDING, Status.DOCUMENTS_COMPLETE],
    Status.WAITLISTED: [Status.REGISTERED, Status.DOCUMENTS_COMPLETE, Status.WAITLISTED],
    Status.VISIT_SCHEDULED: [Status.REGISTERED, Status.DOCUMENTS_COMPLETE, Status.VISIT_SCHEDULED],
    Status.VISIT_DONE: _BEFORE_VISIT,
    Status.NOT_VIABLE: [*_BEFORE_VISIT, Status.NOT_VIABLE],
    Status.ADJUSTMENTS_PENDING: [*_BEFORE_VISIT, Status.ADJUSTMENTS_PENDING],
    Status.VIABLE: [*_BEFORE_VISIT, Status.VIABLE],
    Status.PAYMENT_PENDING: [*_BEFORE_VISIT, Status.VIABLE, Status.PAYMENT_PENDING],
    Status.PAID: [*_BEFORE_VISIT, Status.VIABLE, Status.PAYMENT_PENDING, Status.PAID],
    Status.INSTALLATION_SCHEDULED: [*_BEFORE_VISIT, Status.VIABLE, Status.INSTALLATION_SCHEDULED],
    Status.INSTALLED: [*_BEFORE_VISIT, Status.VIABLE, Status.INSTALLATION_SCHEDULED, Status.INSTALLED],
    Status.WITHDRAWN: [Status.REGISTERED, Status.DOCUMENTS_PENDING, Status.WITHDRAWN],
    Status.REJECTED: [Status.REGISTERED, Status.REJECTED],
}
_INSTALLED_PATH = PATHS[Status.INSTALLED]
SYSTEM_PATHS: dict[str, list[str]] = {
    Status.INSTALLED: _INSTALLED_PATH,
    Status.ACTIVE: [*_INSTALLED_PATH, Status.ACTIVE],
    Status.NEEDS_MAINTENANCE: [*_INSTALLED_PATH, Status.ACTIVE, Status.NEEDS_MAINTENANCE],
    Status.INACTIVE: [*_INSTALLED_PATH, Status.ACTIVE, Status.INACTIVE],
    Status.REMOVED: [*_INSTALLED_PATH, Status.ACTIVE, Status.REMOVED],
}
SYSTEM_STATE_WEIGHTS = {
    Status.INSTALLED: 1,
    Status.ACTIVE: 79,
    Status.NEEDS_MAINTENANCE: 10,
    Status.INACTIVE: 7,
    Status.REMOVED: 3,
}
BATCH = 5_000


@dataclass
class DemoSummary:
    """What a seed run created, for the command's report."""

    installations: int = 0
    applications: int = 0
    colonias: int = 0
    status_changes: int = 0
    maintenance_visits: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class _Request:
    """One request to be written: its rows, its history and its evidence, before they get ids."""

    applicant: Applicant
    dwelling: Dwelling
    application: Application
    path: list[str]
    started_on: date
    visit: TechnicalVisit | None = None
    payment: Payment | None = None
    installation: Installation | None = None
    maintenance: list[SimpleNamespace] = field(default_factory=list)
    changes: list[SimpleNamespace] = field(default_factory=list)


class DemoBuilder:
    """Builds the demo program from one seed; the same seed and day give the same rows."""

    def __init__(self, *, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.curps: set[str] = set()
        self.sequence = 0

    # --- small helpers -------------------------------------------------------------------------------
    def pick(self, options: Sequence[T], weights: Sequence[float] | None = None) -> T:
        return self.rng.choices(options, weights=weights)[0] if weights else self.rng.choice(options)

    def at(self, day: date, hour: int = 11) -> datetime:
        """A datetime on ``day`` in Mexico City's office hours (stored as UTC, UTC−6 offset)."""
        return datetime.combine(day, time(hour + 6, self.rng.randrange(60)), tzinfo=UTC)

    def curp(self, *, first_surname: str, second_surname: str, first_name: str, birth: date, sex: str) -> str:
        def letter(text: str) -> str:
            plain = text.upper().translate(str.maketrans("ÁÉÍÓÚÑÜ", "AEIOUXU"))
            return plain[0] if plain[0].isalpha() else "X"

        vowel = next((c for c in first_surname.upper()[1:] if c in "AEIOU"), "X")
        head = f"{letter(first_surname)}{vowel}{letter(second_surname)}{letter(first_name)}"
        while True:
            century = str(self.rng.randrange(10)) if birth.year < 2000 else self.pick("ABCDEFGH")
            tail = "".join(self.pick(CURP_CONSONANTS) for _ in range(3))
            body = f"{head}{birth:%y%m%d}{sex if sex in 'HM' else 'M'}DF{tail}{century}"
            curp = body + str(curp_check_digit(body))
            if curp not in self.curps:
                self.curps.add(curp)
                return curp

    # --- reference and people --------------------------------------------------------------------------
    def users(self) -> dict[str, User]:
        password = make_password(settings.DEMO_PASSWORD)
        specs = [
            ("tecnico", User.Role.TECHNICIAN, False, False, "Técnico", "Demo"),
            ("tecnica2", User.Role.TECHNICIAN, False, False, "Técnica", "Segunda"),
            ("tecnico3", User.Role.TECHNICIAN, False, False, "Técnico", "Tercero"),
            ("coordinadora", User.Role.COORDINATOR, True, False, "Coordinadora", "Demo"),
            ("admin", User.Role.ADMINISTRATOR, True, True, "Administración", "Demo"),
        ]
        users = {}
        for username, role, staff, superuser, first, last in specs:
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "role": role,
                    "is_staff": staff,
                    "is_superuser": superuser,
                    "first_name": first,
                    "last_name": last,
                    "password": password,
                    "email": f"{username}@demo.invalid",
                },
            )
            users[username] = user
        users["coordinadora"].alcaldias.set(NINE_ALCALDIAS)
        return users

    def colonias(self) -> dict[str, list[Colonia]]:
        rows = []
        for alcaldia, (total, partial) in COLONIAS_PER_ALCALDIA.items():
            names: list[str] = []
            while len(names) < total + partial:
                name = self.pick(PLACE_PREFIXES) + self.pick(PLACE_NAMES)
                if name not in names:
                    names.append(name)
            for index, name in enumerate(names):
                kind = (
                    Colonia.Kind.PUEBLO
                    if name.startswith("Pueblo")
                    else Colonia.Kind.BARRIO
                    if name.startswith("Barrio")
                    else Colonia.Kind.COLONIA
                )
                rows.append(
                    Colonia(
                        alcaldia_id=alcaldia,
                        name=name,
                        kind=kind,
                        catalog_source="demo",
                        catalog_key=f"{alcaldia[-2:]}-{index + 1:03d}",
                    )
                )
        Colonia.objects.bulk_create(rows, batch_size=BATCH)
        by_alcaldia: dict[str, list[Colonia]] = defaultdict(list)
        for colonia in Colonia.objects.filter(catalog_source="demo").order_by("alcaldia_id", "catalog_key"):
            by_alcaldia[colonia.alcaldia_id].append(colonia)
        return by_alcaldia

    def eligibility(self, colonias: dict[str, list[Colonia]]) -> dict[tuple[int, str], dict[str, list[Colonia]]]:
        """Every demo colonia of a year's alcaldías is eligible; the partial-subsidy share is 2021's."""
        rows = []
        table: dict[tuple[int, str], dict[str, list[Colonia]]] = defaultdict(lambda: defaultdict(list))
        for year in ProgramYear.objects.prefetch_related("alcaldias"):
            for alcaldia in year.alcaldias.all():
                total, _partial = COLONIAS_PER_ALCALDIA.get(alcaldia.cvegeo, (0, 0))
                for index, colonia in enumerate(colonias.get(alcaldia.cvegeo, [])):
                    partial = year.year >= 2021 and index >= total
                    modality = Modality.PARTIAL_SUBSIDY if partial else Modality.TOTAL_SUBSIDY
                    rows.append(EligibleColonia(program_year=year, colonia=colonia, modality=modality))
                    table[(year.year, alcaldia.cvegeo)][modality].append(colonia)
        EligibleColonia.objects.bulk_create(rows, batch_size=BATCH)
        return table

    # --- one household --------------------------------------------------------------------------------
    def household(self, *, alcaldia: str, colonia: Colonia, year: int) -> tuple[Applicant, Dwelling]:
        woman = self.rng.random() < 0.70
        # Woman-headed homes are a separate fact from the applicant's sex (brief §6).
        woman_headed = self.rng.random() < (0.85 if woman else 0.20)
        first_name = self.pick(FIRST_NAMES_WOMEN if woman else FIRST_NAMES_MEN)
        first_surname, second_surname = self.pick(SURNAMES), self.pick(SURNAMES)
        age = self.rng.randint(22, 84)
        birth = date(year - age, self.rng.randint(1, 12), self.rng.randint(1, 28))
        sex = Applicant.Sex.WOMAN if woman else Applicant.Sex.MAN
        applicant = Applicant(
            first_name=first_name,
            first_surname=first_surname,
            second_surname=second_surname,
            curp=self.curp(
                first_surname=first_surname, second_surname=second_surname, first_name=first_name, birth=birth, sex=sex
            ),
            sex=sex,
            birth_date=birth,
            phone=f"55{self.rng.randrange(10**8):08d}",
            is_household_head=woman_headed == woman or self.rng.random() < 0.3,
            woman_headed_household=woman_headed,
            single_mother=woman and self.rng.random() < 0.15,
            older_adult=age >= 65,
            disability=self.rng.random() < 0.06,
            indigenous=self.rng.random() < (0.12 if alcaldia == "09009" else 0.04),
        )
        latitude, longitude = ALCALDIA_CENTRE[alcaldia]
        supply = self.pick(LIVE_WATER_SUPPLIES, [15, 50, 25, 10])
        dwelling = Dwelling(
            colonia=colonia,
            street_address=f"{self.pick(STREETS).replace(chr(160), ' ')} {self.rng.randint(1, 400)}",
            postal_code=f"{self.rng.randint(10000, 16999)}",
            latitude=Decimal(f"{latitude + self.rng.uniform(-0.025, 0.025):.6f}"),
            longitude=Decimal(f"{longitude + self.rng.uniform(-0.025, 0.025):.6f}"),
            occupants=self.pick([1, 2, 3, 4, 5, 6, 7, 8], [5, 14, 24, 25, 16, 9, 4, 3]),
            water_supply=supply,
            tandeo_days_per_week=self.rng.randint(1, 4) if supply == Dwelling.WaterSupply.TANDEO else None,
            tenure_evidence=self.pick(list(Dwelling.TenureEvidence), [70, 10, 20]),
            roof_material=self.pick(
                ["concreto", "lamina_metalica", "fibrocemento", "lamina_plastica", "otro"], [75, 15, 5, 3, 2]
            ),
            roof_area_m2=Decimal(self.rng.randint(2000, 12000)) / 100,
            existing_storage_litres=self.pick([0, 450, 600, 1100, 2500], [20, 20, 15, 35, 10]),
        )
        return applicant, dwelling

    def request(
        self,
        *,
        year: int,
        alcaldia: str,
        colonia: Colonia,
        modality: str,
        path: list[str],
        started_on: date,
        technician: User,
        installers: list[InstallerOrganisation],
    ) -> _Request:
        applicant, dwelling = self.household(alcaldia=alcaldia, colonia=colonia, year=year)
        status = path[-1]
        application = Application(
            folio=folio_generate(self.rng),
            verification_code_hash=verification_code_hash(f"{self.rng.randrange(10**6):06d}"),
            program_year_id=year,
            modality=modality,
            channel=self.pick(LIVE_CHANNELS, [55, 10, 25, 10]),
            privacy_consent_at=self.at(started_on, 10),
            commitment_letter_on=started_on + timedelta(days=3) if Status.DOCUMENTS_COMPLETE in path else None,
            status=status,
            assigned_technician=technician if Status.VISIT_SCHEDULED in path else None,
        )
        request = _Request(applicant=applicant, dwelling=dwelling, application=application, path=path, started_on=started_on)
        visit_day = started_on + timedelta(days=self.rng.randint(20, 45))
        if Status.VISIT_DONE in path:
            visit_day = min(visit_day, self.today - timedelta(days=1))
        if Status.VISIT_SCHEDULED in path:
            done = Status.VISIT_DONE in path
            outcome = None
            if done:
                outcome = (
                    TechnicalVisit.Outcome.NOT_VIABLE
                    if Status.NOT_VIABLE in path
                    else TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS
                    if Status.ADJUSTMENTS_PENDING in path or (Status.VIABLE in path and self.rng.random() < 0.2)
                    else TechnicalVisit.Outcome.VIABLE
                    if Status.VIABLE in path
                    else None
                )
            if done and outcome is None:  # visit_done: the outcome is recorded, the decision is not yet made
                outcome = TechnicalVisit.Outcome.VIABLE
            adjustments = outcome == TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS
            request.visit = TechnicalVisit(
                technician=technician,
                scheduled_on=visit_day,
                visited_on=visit_day if done else None,
                outcome=outcome,
                measured_roof_area_m2=dwelling.roof_area_m2 if done else None,
                measured_roof_material=dwelling.roof_material if done else "",
                required_adjustments="Cambiar bajante y reforzar base del tanque." if adjustments else "",
                adjustments_verified_on=min(visit_day + timedelta(days=21), self.today)
                if adjustments and Status.VIABLE in path
                else None,
            )
        if Status.PAID in path:
            request.payment = Payment(
                amount_mxn=Decimal("9700.00"),
                method=self.pick(list(Payment.Method)),
                paid_on=min(visit_day + timedelta(days=30), self.today),
                agreement_reference=f"CONV-{year}-{self.rng.randrange(10**5):05d}",
            )
        if Status.INSTALLED in path:
            installed_on = min(visit_day + timedelta(days=self.rng.randint(35, 80)), self.today)
            request.installation = Installation(
                dwelling=dwelling,
                technician=technician,
                installer=self.pick(installers),
                installed_on=installed_on,
                tank_capacity_litres=2500,
                funding_source=Installation.FundingSource.SEDEMA
                if self.rng.random() < 0.99
                else Installation.FundingSource.CO_FINANCE,
                unit_cost_mxn=Decimal(self.rng.randint(17_500, 21_500)),
                training_on=min(installed_on + timedelta(days=self.rng.randint(0, 14)), max(installed_on, self.today)),
                removed_on=None,
            )
        return request

    # --- whole program -------------------------------------------------------------------------------
    def build(self, *, installations: int, pipeline: int) -> DemoSummary:
        users = self.users()
        technicians = [users["tecnico"], users["tecnica2"], users["tecnico3"]]
        installers = [InstallerOrganisation.objects.get_or_create(name=name)[0] for name in DEMO_INSTALLERS]
        colonias = self.colonias()
        eligible = self.eligibility(colonias)
        years = {y.year: [a.cvegeo for a in y.alcaldias.all()] for y in ProgramYear.objects.prefetch_related("alcaldias")}

        requests: list[_Request] = []
        for _ in range(installations):
            year = self.pick(list(YEAR_WEIGHT), list(YEAR_WEIGHT.values()))
            alcaldia = self.pick(years[year], [ALCALDIA_WEIGHT.get(code, 1) for code in years[year]])
            # Partial-subsidy uptake was tiny (56 homes 2021–2022, brief §1.5).
            options = eligible[(year, alcaldia)]
            modality = (
                Modality.PARTIAL_SUBSIDY
                if options[Modality.PARTIAL_SUBSIDY] and self.rng.random() < 0.004
                else Modality.TOTAL_SUBSIDY
            )
            colonia = self.pick(options[modality])
            system_state = self.pick(list(SYSTEM_STATE_WEIGHTS), list(SYSTEM_STATE_WEIGHTS.values()))
            path = list(SYSTEM_PATHS[system_state])
            if modality == Modality.PARTIAL_SUBSIDY:
                at = path.index(Status.INSTALLATION_SCHEDULED)
                path[at:at] = [Status.PAYMENT_PENDING, Status.PAID]
            started_on = date(year, 1, 15) + timedelta(days=self.rng.randint(0, 200))
            requests.append(
                self.request(
                    year=year,
                    alcaldia=alcaldia,
                    colonia=colonia,
                    modality=modality,
                    path=path,
                    started_on=started_on,
                    technician=self.pick(technicians, [50, 25, 25]),
                    installers=installers,
                )
            )

        current_year = max(years)
        for index in range(pipeline):
            state = PIPELINE_STATES[index % len(PIPELINE_STATES)]
            alcaldia = self.pick(years[current_year])
            partial_needed = state in {Status.PAYMENT_PENDING, Status.PAID}
            options = eligible[(current_year, alcaldia)]
            modality = (
                Modality.PARTIAL_SUBSIDY if partial_needed and options[Modality.PARTIAL_SUBSIDY] else Modality.TOTAL_SUBSIDY
            )
            if partial_needed and modality != Modality.PARTIAL_SUBSIDY:
                alcaldia = next(code for code in years[current_year] if eligible[(current_year, code)][Modality.PARTIAL_SUBSIDY])
                options = eligible[(current_year, alcaldia)]
                modality = Modality.PARTIAL_SUBSIDY
            path = list(PATHS[state])
            if modality == Modality.PARTIAL_SUBSIDY and Status.INSTALLATION_SCHEDULED in path:
                at = path.index(Status.INSTALLATION_SCHEDULED)
                path[at:at] = [Status.PAYMENT_PENDING, Status.PAID]
            # Recent requests: the visit dates fall around today (some overdue, some upcoming).
            started_on = self.today - timedelta(days=self.rng.randint(25, 70))
            requests.append(
                self.request(
                    year=current_year,
                    alcaldia=alcaldia,
                    colonia=self.pick(options[modality]),
                    modality=modality,
                    path=path,
                    started_on=started_on,
                    technician=self.pick(technicians, [60, 20, 20]),
                    installers=installers,
                )
            )
        return self.write(requests, colonia_count=sum(len(v) for v in colonias.values()), technicians=technicians)

    def maintenance_for(self, request: _Request, technicians: list[User]) -> list[SimpleNamespace]:
        installation = request.installation
        assert installation is not None
        visits = []
        last = installation.installed_on
        status = request.path[-1]
        count = self.pick([0, 1, 2, 3], [25, 35, 25, 15])
        for _ in range(count):
            day = last + timedelta(days=self.rng.randint(150, 220))
            if day >= self.today:
                break
            visits.append(
                SimpleNamespace(  # a MaintenanceVisit row; plain objects keep a million rows cheap
                    installation=installation,
                    technician_id=self.pick(technicians).pk,
                    kind=self.pick(list(MaintenanceVisit.Kind), [40, 30, 10, 20]),
                    performed_by=self.pick(list(MaintenanceVisit.PerformedBy), [30, 55, 15]),
                    visited_on=day,
                    roof_cleaned=self.rng.random() < 0.8,
                    leaf_filter_cleaned=self.rng.random() < 0.8,
                    tlaloque_purged=self.rng.random() < 0.7,
                    tank_cleaned=self.rng.random() < 0.4,
                    cartridges_replaced=self.rng.random() < 0.3,
                    chlorine_added=self.rng.random() < 0.5,
                    findings="" if status == Status.ACTIVE else "Filtro de sedimentos saturado.",
                    next_due_on=day + timedelta(days=182),
                )
            )
            last = day
        return visits

    @transaction.atomic
    def write(self, requests: list[_Request], *, colonia_count: int, technicians: list[User]) -> DemoSummary:
        components, maintenance, changes = [], [], []
        visits, payments, installations = [], [], []
        for r in requests:
            if r.path[-1] == Status.REMOVED and r.installation:
                removed_on = r.installation.installed_on + timedelta(days=self.rng.randint(400, 900))
                r.installation.removed_on = min(removed_on, self.today)
            if r.installation:
                components.extend(self.components(r.installation))
                r.maintenance = self.maintenance_for(r, technicians)
                maintenance.extend(r.maintenance)
            r.changes = self.history(r)
            changes.extend(r.changes)
            r.application.status_changed_at = changes[-1].changed_at
            created_at = self.at(r.started_on, 9)
            for row in (r.applicant, r.dwelling, r.application):
                row.created_at = row.updated_at = created_at
            for row in (r.visit, r.payment, r.installation):
                if row is not None:
                    row.created_at = row.updated_at = changes[-1].changed_at
            visits += [r.visit] if r.visit else []
            payments += [r.payment] if r.payment else []
            installations += [r.installation] if r.installation else []
        for row in maintenance:
            row.created_at = row.updated_at = self.at(row.visited_on, 13)

        # Ids are given here so that children can point at parents without a round trip per batch.
        _insert(Applicant, [r.applicant for r in requests])
        _insert(Dwelling, [r.dwelling for r in requests])
        for r in requests:
            r.application.applicant_id = r.applicant.pk
            r.application.dwelling_id = r.dwelling.pk
        _insert(Application, [r.application for r in requests])
        for r in requests:
            for row in (r.visit, r.payment, r.installation):
                if row is not None:
                    row.application_id = r.application.pk
            if r.installation:
                r.installation.dwelling_id = r.dwelling.pk
            for change in r.changes:
                change.application_id = r.application.pk
        _insert(TechnicalVisit, visits)
        _insert(Payment, payments)
        _insert(Installation, installations)
        for row in components:
            row.installation_id = row.installation.pk
        for row in maintenance:
            row.installation_id = row.installation.pk
        _insert(Component, components)
        _insert(MaintenanceVisit, maintenance)
        _insert(StatusChange, changes)
        _reset_sequences(
            [Applicant, Dwelling, Application, TechnicalVisit, Payment, Installation, Component, MaintenanceVisit, StatusChange]
        )
        # One audit row per model for the whole import, not one per row (reliability.md G8).
        for model, rows in [
            (Applicant, requests),
            (Dwelling, requests),
            (Application, requests),
            (TechnicalVisit, visits),
            (Payment, payments),
            (Installation, installations),
            (Component, components),
            (MaintenanceVisit, maintenance),
        ]:
            if rows:
                audit_record(model=model, action=AuditAction.BULK_CREATE, row_count=len(rows), note="seed_demo")

        by_status: dict[str, int] = defaultdict(int)
        for r in requests:
            by_status[r.path[-1]] += 1
        return DemoSummary(
            installations=len(installations),
            applications=len(requests),
            colonias=colonia_count,
            status_changes=len(changes),
            maintenance_visits=len(maintenance),
            by_status=dict(by_status),
        )

    def components(self, installation: Installation) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(
                installation=installation, kind=Component.Kind.TLALOQUE, size=Decimal(210), unit=Component.Unit.LITRES
            ),
            SimpleNamespace(
                installation=installation, kind=Component.Kind.ROOF_TANK, size=Decimal(2500), unit=Component.Unit.LITRES
            ),
            SimpleNamespace(
                installation=installation, kind=Component.Kind.SEDIMENT_FILTER, size=Decimal(20), unit=Component.Unit.INCHES
            ),
            SimpleNamespace(
                installation=installation, kind=Component.Kind.CARBON_FILTER, size=Decimal(20), unit=Component.Unit.INCHES
            ),
        ]

    def history(self, request: _Request) -> list[SimpleNamespace]:
        """One StatusChange per step of the request's path, dated along its evidence."""
        day = request.started_on
        visit = request.visit
        installation = request.installation
        changes = []
        previous = ""
        for index, step in enumerate(request.path):
            earlier = day
            if step == Status.VISIT_DONE and visit and visit.visited_on:
                day = visit.visited_on
            elif step == Status.VIABLE and visit and visit.adjustments_verified_on:
                day = visit.adjustments_verified_on
            elif step == Status.PAID and request.payment:
                day = request.payment.paid_on
            elif step == Status.INSTALLED and installation:
                day = installation.installed_on
            elif step == Status.ACTIVE and installation:
                day = installation.training_on or installation.installed_on
            elif step == Status.REMOVED and installation and installation.removed_on:
                day = installation.removed_on
            elif step in {Status.NEEDS_MAINTENANCE, Status.INACTIVE} and installation:
                latest = request.maintenance[-1].next_due_on if request.maintenance else installation.installed_on
                day = min(max(day, latest) + timedelta(days=14), self.today)
            elif step != Status.REGISTERED:
                day = min(day + timedelta(days=self.rng.randint(1, 5)), self.today)
            # Never before the previous step; the hour keeps same-day steps in order.
            day = max(day, earlier)
            changes.append(SimpleNamespace(from_status=previous, to_status=step, changed_at=self.at(day, 7 + index)))
            previous = step
        return changes


def _insert(model: type[Model], rows: Sequence[object]) -> None:
    """Insert rows (model instances or plain objects with the model's attribute names), giving ids.

    Django's bulk_create spends most of its time compiling SQL value by value; for the program's
    size (over a million rows) that is most of a minute. Here values are adapted once per column
    kind and sent with COPY on PostgreSQL or executemany on SQLite. Absent attributes take the
    field's default.
    """
    if not rows:
        return
    start = (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
    pk_name = model._meta.pk.attname
    for offset, row in enumerate(rows):
        setattr(row, pk_name, start + offset)
    fields = list(model._meta.concrete_fields)
    names = [f.attname for f in fields]
    defaults = [f.get_default() for f in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([getattr(row, name, default) for name, default in zip(names, defaults, strict=True)])
        return
    adapters = [_adapter(f) for f in fields]
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608 -- names from the model
    with connection.cursor() as cursor:
        for begin in range(0, len(rows), BATCH):
            cursor.executemany(
                sql,
                [
                    tuple(
                        adapt(getattr(row, name, default)) for adapt, name, default in zip(adapters, names, defaults, strict=True)
                    )
                    for row in rows[begin : begin + BATCH]
                ],
            )


def _adapter(field: Field) -> Callable[[object], object]:
    """How one column's Python values go to the driver (psycopg takes most types as they are)."""
    ops = connection.ops
    kind = field.get_internal_type()
    if kind == "DecimalField":
        return lambda v: None if v is None else ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    if kind == "DateTimeField":
        return lambda v: None if v is None else ops.adapt_datetimefield_value(v)
    if kind == "DateField":
        return lambda v: None if v is None else ops.adapt_datefield_value(v)
    return lambda v: v


def _reset_sequences(model_classes: list[type[Model]]) -> None:
    """After explicit ids, move PostgreSQL's sequences past them (SQLite follows on its own)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_classes)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def seed_demo(*, installations: int, seed: int, today: date, pipeline: int | None = None) -> DemoSummary:
    """Load reference fixtures and build the demo program into an empty database."""
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)
    builder = DemoBuilder(seed=seed, today=today)
    return builder.build(
        installations=installations, pipeline=pipeline if pipeline is not None else max(150, installations // 20)
    )


def demo_data_exists() -> bool:
    return Application.objects.exists() or Colonia.objects.filter(catalog_source="demo").exists()


def demo_data_delete() -> None:
    """Remove every request, household and demo colonia (reference fixtures stay)."""
    deleting: list[Callable[[], object]] = [
        lambda: StatusChange.objects.all().delete(),
        lambda: _delete_all(MaintenanceVisit),
        lambda: _delete_all(Component),
        lambda: _delete_all(Installation),
        lambda: _delete_all(Payment),
        lambda: _delete_all(TechnicalVisit),
        lambda: _delete_all(Application),
        lambda: _delete_all(Dwelling),
        lambda: _delete_all(Applicant),
        lambda: EligibleColonia.objects.filter(colonia__catalog_source="demo").delete(),
        lambda: Colonia.objects.filter(catalog_source="demo").delete(),
    ]
    with transaction.atomic():
        for step in deleting:
            step()


def _delete_all(model: type[Model]) -> None:
    """Delete every row of an audited model with one statement and one ``bulk_delete`` audit row.

    ``QuerySet.delete`` would load each row to send its delete signal, and each signal writes an
    audit row: about 650,000 of them for the 62,700-system demo.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 -- the name comes from the model
        count = cursor.rowcount
    if count > 0:
        audit_record(model=model, action=AuditAction.BULK_DELETE, row_count=count, note="seed_demo --reset")
