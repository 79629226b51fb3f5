"""Filters of the staff lists. They narrow a queryset already scoped to the caller, never widen it.

Ids and codes are plain number and text filters, not model choices: a choice filter would look the
value up in the whole table and answer "not a valid choice" for another alcaldía's technician, telling
the caller that it exists. An unknown value here just matches nothing.
"""

from __future__ import annotations

import django_filters

from installations.lifecycle import Status
from installations.models import (
    Application,
    Colonia,
    EligibleColonia,
    Installation,
    MaintenanceVisit,
    Modality,
    TechnicalVisit,
)


def _by_request(path: str) -> type[django_filters.FilterSet]:
    """A base with the request's filters (alcaldía, colonia, year, status, modality), reached through ``path``."""
    prefix = f"{path}__" if path else ""
    declared = {
        "alcaldia": django_filters.CharFilter(
            field_name=f"{prefix}dwelling__colonia__alcaldia", help_text="INEGI code (CVEGEO), e.g. 09007."
        ),
        "colonia": django_filters.NumberFilter(field_name=f"{prefix}dwelling__colonia"),
        "program_year": django_filters.NumberFilter(field_name=f"{prefix}program_year"),
        "status": django_filters.MultipleChoiceFilter(
            field_name=f"{prefix}status", choices=Status.choices, help_text="The request's status; repeat for several."
        ),
        "modality": django_filters.ChoiceFilter(field_name=f"{prefix}modality", choices=Modality.choices),
    }
    return type(f"ByRequest_{path or 'self'}", (django_filters.FilterSet,), declared)


class ApplicationFilter(_by_request("")):
    channel = django_filters.ChoiceFilter(choices=Application.Channel.choices)
    assigned_technician = django_filters.NumberFilter()
    created_on = django_filters.DateFromToRangeFilter(field_name="created_at")
    status_changed_on = django_filters.DateFromToRangeFilter(field_name="status_changed_at")

    class Meta:
        model = Application
        fields = (
            "alcaldia",
            "colonia",
            "program_year",
            "status",
            "modality",
            "channel",
            "assigned_technician",
            "created_on",
            "status_changed_on",
        )


class TechnicalVisitFilter(_by_request("application")):
    technician = django_filters.NumberFilter()
    outcome = django_filters.ChoiceFilter(choices=TechnicalVisit.Outcome.choices)
    pending = django_filters.BooleanFilter(field_name="visited_on", lookup_expr="isnull", help_text="Not visited yet.")
    scheduled_on = django_filters.DateFromToRangeFilter()
    visited_on = django_filters.DateFromToRangeFilter()

    class Meta:
        model = TechnicalVisit
        fields = (
            "alcaldia",
            "colonia",
            "program_year",
            "status",
            "modality",
            "technician",
            "outcome",
            "pending",
            "scheduled_on",
            "visited_on",
        )


class InstallationFilter(_by_request("application")):
    technician = django_filters.NumberFilter()
    installer = django_filters.NumberFilter()
    funding_source = django_filters.ChoiceFilter(choices=Installation.FundingSource.choices)
    installed_on = django_filters.DateFromToRangeFilter()

    class Meta:
        model = Installation
        fields = (
            "alcaldia",
            "colonia",
            "program_year",
            "status",
            "modality",
            "technician",
            "installer",
            "funding_source",
            "installed_on",
        )


class MaintenanceVisitFilter(_by_request("installation__application")):
    installation = django_filters.NumberFilter()
    technician = django_filters.NumberFilter()
    kind = django_filters.ChoiceFilter(choices=MaintenanceVisit.Kind.choices)
    visited_on = django_filters.DateFromToRangeFilter()
    next_due_on = django_filters.DateFromToRangeFilter()

    class Meta:
        model = MaintenanceVisit
        fields = (
            "alcaldia",
            "colonia",
            "program_year",
            "status",
            "modality",
            "installation",
            "technician",
            "kind",
            "visited_on",
            "next_due_on",
        )


class ColoniaFilter(django_filters.FilterSet):
    alcaldia = django_filters.CharFilter(help_text="INEGI code (CVEGEO), e.g. 09007.")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Colonia
        fields = ("alcaldia", "name")


class EligibleColoniaFilter(django_filters.FilterSet):
    alcaldia = django_filters.CharFilter(field_name="colonia__alcaldia", help_text="INEGI code (CVEGEO), e.g. 09007.")
    modality = django_filters.ChoiceFilter(choices=Modality.choices)

    class Meta:
        model = EligibleColonia
        fields = ("alcaldia", "modality")
