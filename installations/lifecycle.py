"""The one lifecycle of a request and its system: states, the transition table, and evidence rules.

Brief §10: registration → documents → technical visit → viability → (payment, partial subsidy
only) → installation; side exits withdrawn, rejected and waitlisted; then the system's own states
active, needs maintenance, inactive and removed. Nothing else changes ``Application.status``:
``services.application_transition`` is the only writer, and it consults this table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from installations.models import Application


class Status(models.TextChoices):
    REGISTERED = "registered", _("Registrada")
    DOCUMENTS_PENDING = "documents_pending", _("Documentos pendientes")
    DOCUMENTS_COMPLETE = "documents_complete", _("Documentos completos")
    VISIT_SCHEDULED = "visit_scheduled", _("Visita técnica programada")
    VISIT_DONE = "visit_done", _("Visita técnica realizada")
    NOT_VIABLE = "not_viable", _("No viable")
    ADJUSTMENTS_PENDING = "adjustments_pending", _("Adecuaciones pendientes")
    VIABLE = "viable", _("Viable")
    PAYMENT_PENDING = "payment_pending", _("Pago pendiente")
    PAID = "paid", _("Pagada")
    INSTALLATION_SCHEDULED = "installation_scheduled", _("Instalación programada")
    INSTALLED = "installed", _("Instalada")
    WITHDRAWN = "withdrawn", _("Desistida")
    REJECTED = "rejected", _("Rechazada")
    WAITLISTED = "waitlisted", _("En lista de espera")
    ACTIVE = "active", _("Sistema en operación")
    NEEDS_MAINTENANCE = "needs_maintenance", _("Requiere mantenimiento")
    INACTIVE = "inactive", _("Sistema sin uso")
    REMOVED = "removed", _("Sistema retirado")


# States in which an application no longer counts as "open" for its CURP and year.
CLOSED_STATUSES = frozenset({Status.NOT_VIABLE, Status.WITHDRAWN, Status.REJECTED})
# States in which a system exists at the dwelling.
SYSTEM_STATUSES = frozenset({Status.INSTALLED, Status.ACTIVE, Status.NEEDS_MAINTENANCE, Status.INACTIVE, Status.REMOVED})
WORKING_SYSTEM_STATUSES = frozenset({Status.INSTALLED, Status.ACTIVE, Status.NEEDS_MAINTENANCE})

# What a household is told comes next, by status.
NEXT_STEP: dict[str, Promise] = {
    Status.REGISTERED: _("Revisaremos su solicitud y le pediremos los documentos que falten."),
    Status.DOCUMENTS_PENDING: _("Entregue los documentos que faltan (CURP, identificación, comprobante de domicilio, predial)."),
    Status.DOCUMENTS_COMPLETE: _("Le llamaremos para programar la visita técnica a su vivienda."),
    Status.VISIT_SCHEDULED: _("Reciba al personal técnico el día acordado; revisará techo, bajadas y lugar para el tanque."),
    Status.VISIT_DONE: _("Estamos evaluando el resultado de la visita técnica."),
    Status.NOT_VIABLE: _("Su vivienda no es viable para el sistema este año."),
    Status.ADJUSTMENTS_PENDING: _("Haga las adecuaciones indicadas en la visita; después las verificaremos."),
    Status.VIABLE: _("Su vivienda es viable; programaremos la instalación."),
    Status.PAYMENT_PENDING: _("Firme el convenio y realice el pago del 50 % para continuar."),
    Status.PAID: _("Pago recibido; programaremos la instalación."),
    Status.INSTALLATION_SCHEDULED: _("Esté en casa el día de la instalación y de la capacitación."),
    Status.INSTALLED: _("Sistema instalado; asista a la capacitación de uso y mantenimiento."),
    Status.WITHDRAWN: _("La solicitud se cerró a petición de la persona solicitante."),
    Status.REJECTED: _("La solicitud no cumple las reglas del programa."),
    Status.WAITLISTED: _("Su solicitud está en lista de espera por disponibilidad de presupuesto."),
    Status.ACTIVE: _("Limpie techo y filtro de hojas y purgue el Tlaloque antes de cada temporada de lluvias."),
    Status.NEEDS_MAINTENANCE: _("Programaremos una visita de mantenimiento."),
    Status.INACTIVE: _("Comuníquese con el programa para volver a poner en uso su sistema."),
    Status.REMOVED: _("El sistema ya no está en la vivienda."),
}

Requirement = Callable[["Application"], Promise | None]


def _needs_a_recorded_visit(application: Application) -> Promise | None:
    if not application.technical_visits.exclude(outcome=None).exists():
        return _("el registro de una visita técnica realizada")
    return None


def _needs_a_planned_visit(application: Application) -> Promise | None:
    if not application.technical_visits.filter(outcome=None).exists():
        return _("una visita técnica programada (fecha y técnica/o)")
    return None


def _visit_outcome_is(outcome: str, missing: Promise) -> Requirement:
    def requirement(application: Application) -> Promise | None:
        latest = application.technical_visits.exclude(outcome=None).order_by("-visited_on", "-pk").first()
        if latest is None or latest.outcome != outcome:
            return missing
        return None

    return requirement


def _needs_a_viable_visit(application: Application) -> Promise | None:
    from installations.models import TechnicalVisit

    latest = application.technical_visits.exclude(outcome=None).order_by("-visited_on", "-pk").first()
    if latest is None:
        return _("una visita técnica con resultado viable")
    if latest.outcome == TechnicalVisit.Outcome.VIABLE:
        return None
    if latest.outcome == TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS and latest.adjustments_verified_on:
        return None
    if latest.outcome == TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS:
        return _("la verificación de las adecuaciones pedidas en la visita técnica")
    return _("una visita técnica con resultado viable")


def _needs_partial_subsidy(application: Application) -> Promise | None:
    from installations.models import Modality

    if application.modality != Modality.PARTIAL_SUBSIDY:
        return _("que la solicitud sea de subsidio parcial (50 %); las de subsidio total no pagan")
    return None


def _needs_total_subsidy_or_payment(application: Application) -> Promise | None:
    from installations.models import Modality

    if application.modality == Modality.PARTIAL_SUBSIDY and not hasattr(application, "payment"):
        return _("el pago registrado del 50 % (subsidio parcial)")
    return None


def _needs_a_payment(application: Application) -> Promise | None:
    if not hasattr(application, "payment"):
        return _("el pago registrado del 50 % (subsidio parcial)")
    return None


def _needs_an_installation(application: Application) -> Promise | None:
    if not hasattr(application, "installation"):
        return _("el registro de la instalación (fecha, instaladora, tanque y componentes)")
    return None


def _needs_a_maintenance_visit_since_flagged(application: Application) -> Promise | None:
    installation = getattr(application, "installation", None)
    flagged = application.status_changes.filter(to_status=Status.NEEDS_MAINTENANCE).order_by("-changed_at").first()
    if installation is None or flagged is None:
        return _("una visita de mantenimiento realizada")
    # Compare local dates: a flag set at 20:00 in Mexico City is already the next day in UTC.
    flagged_on = timezone.localdate(flagged.changed_at)
    if not installation.maintenance_visits.filter(visited_on__gte=flagged_on).exists():
        return _("una visita de mantenimiento realizada después de marcar el sistema")
    return None


_withdraw_or_reject = {Status.WITHDRAWN: [], Status.REJECTED: []}

# from-state → {to-state: [requirements]}. A pair that is not here is not a step of the process.
TRANSITIONS: dict[str, dict[str, list[Requirement]]] = {
    Status.REGISTERED: {Status.DOCUMENTS_PENDING: [], Status.DOCUMENTS_COMPLETE: [], **_withdraw_or_reject},
    Status.DOCUMENTS_PENDING: {Status.DOCUMENTS_COMPLETE: [], **_withdraw_or_reject},
    Status.DOCUMENTS_COMPLETE: {Status.VISIT_SCHEDULED: [_needs_a_planned_visit], Status.WAITLISTED: [], **_withdraw_or_reject},
    Status.WAITLISTED: {Status.VISIT_SCHEDULED: [_needs_a_planned_visit], **_withdraw_or_reject},
    Status.VISIT_SCHEDULED: {Status.VISIT_DONE: [_needs_a_recorded_visit], Status.WITHDRAWN: []},
    Status.VISIT_DONE: {
        Status.VIABLE: [_visit_outcome_is("viable", _("una visita técnica con resultado «viable»"))],
        Status.ADJUSTMENTS_PENDING: [
            _visit_outcome_is("viable_with_adjustments", _("una visita técnica con resultado «viable con adecuaciones»"))
        ],
        Status.NOT_VIABLE: [_visit_outcome_is("not_viable", _("una visita técnica con resultado «no viable»"))],
    },
    Status.ADJUSTMENTS_PENDING: {Status.VIABLE: [_needs_a_viable_visit], Status.WITHDRAWN: []},
    Status.VIABLE: {
        Status.PAYMENT_PENDING: [_needs_partial_subsidy],
        Status.INSTALLATION_SCHEDULED: [_needs_a_viable_visit, _needs_total_subsidy_or_payment],
        Status.WAITLISTED: [],
        Status.WITHDRAWN: [],
    },
    Status.PAYMENT_PENDING: {Status.PAID: [_needs_partial_subsidy, _needs_a_payment], Status.WITHDRAWN: []},
    Status.PAID: {Status.INSTALLATION_SCHEDULED: [_needs_a_viable_visit, _needs_a_payment]},
    Status.INSTALLATION_SCHEDULED: {
        Status.INSTALLED: [_needs_a_viable_visit, _needs_total_subsidy_or_payment, _needs_an_installation],
        Status.WITHDRAWN: [],
    },
    Status.INSTALLED: {Status.ACTIVE: [_needs_an_installation], Status.REMOVED: [_needs_an_installation]},
    Status.ACTIVE: {
        Status.NEEDS_MAINTENANCE: [],
        Status.INACTIVE: [],
        Status.REMOVED: [],
    },
    Status.NEEDS_MAINTENANCE: {
        Status.ACTIVE: [_needs_a_maintenance_visit_since_flagged],
        Status.INACTIVE: [],
        Status.REMOVED: [],
    },
    Status.INACTIVE: {Status.ACTIVE: [], Status.NEEDS_MAINTENANCE: [], Status.REMOVED: []},
    Status.NOT_VIABLE: {},
    Status.WITHDRAWN: {},
    Status.REJECTED: {},
    Status.REMOVED: {},
}


def status_label(value: str) -> str:
    """The Spanish (or active language's) label of a status value; the raw value if unknown."""
    try:
        return str(Status(value).label)
    except ValueError:
        return value


def allowed_targets(current: str) -> list[str]:
    """The states the table lets a request move to from ``current``, in the table's order."""
    return list(TRANSITIONS.get(current, {}))


def missing_evidence(application: Application, wanted: str) -> list[Promise]:
    """What the step to ``wanted`` still needs; empty when every requirement is met."""
    requirements = TRANSITIONS[application.status][wanted]
    return [message for requirement in requirements if (message := requirement(application)) is not None]
