"""Filters of the staff lists. They narrow a queryset already scoped to the caller, never widen it.

Ids and codes are plain number and text filters, not model choices: a choice filter would look the
value up in the whole table and answer "not a valid choice" for another alcaldía's technician, telling
the caller that it exists. An unknown value here just matches nothing.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

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


class IdFilter(django_filters.NumberFilter):
    """A whole number that fits a database key: 0.5 or a 30-digit number is a 400, not a query."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class _StrictBooleanField(forms.NullBooleanField):
    widget = forms.TextInput

    def to_python(self, value: object) -> bool | None:
        if value in (None, ""):
            return None
        if value in (True, "true", "True", "1"):
            return True
        if value in (False, "false", "False", "0"):
            return False
        raise forms.ValidationError(_("Use true o false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """true or false; anything else (null, maybe) is a 400 instead of being read as "no filter"."""

    field_class = _StrictBooleanField


def _by_request(path: str) -> type[django_filters.FilterSet]:
    """A base with the request's filters (alcaldía, colonia, year, status, modality), reached through ``path``."""
    prefix = f"{path}__" if path else ""
    declared = {
        "alcaldia": django_filters.CharFilter(
            field_name=f"{prefix}dwelling__colonia__alcaldia", help_text="INEGI code (CVEGEO), e.g. 09007."
        ),
        "colonia": IdFilter(field_name=f"{prefix}dwelling__colonia"),
        "program_year": IdFilter(field_name=f"{prefix}program_year"),
        "status": django_filters.MultipleChoiceFilter(
            field_name=f"{prefix}status", choices=Status.choices, help_text="The request's status; repeat for several."
        ),
        "modality": django_filters.ChoiceFilter(field_name=f"{prefix}modality", choices=Modality.choices),
    }
    return type(f"ByRequest_{path or 'self'}", (django_filters.FilterSet,), declared)


class ApplicationFilter(_by_request("")):
    channel = django_filters.ChoiceFilter(choices=Application.Channel.choices)
    assigned_technician = IdFilter()
    created_on = django_filters.DateFromToRangeFilter(field_name="created_at")
    status_changed_on = django_filters.DateFromToRangeFilter(field_name="status_changed_at")


class TechnicalVisitFilter(_by_request("application")):
    technician = IdFilter()
    outcome = django_filters.ChoiceFilter(choices=TechnicalVisit.Outcome.choices)
    pending = StrictBooleanFilter(field_name="visited_on", lookup_expr="isnull", help_text="Not visited yet.")
    scheduled_on = django_filters.DateFromToRangeFilter()
    visited_on = django_filters.DateFromToRangeFilter()


class InstallationFilter(_by_request("application")):
    technician = IdFilter()
    installer = IdFilter()
    funding_source = django_filters.ChoiceFilter(choices=Installation.FundingSource.choices)
    installed_on = django_filters.DateFromToRangeFilter()


class MaintenanceVisitFilter(_by_request("installation__application")):
    installation = IdFilter()
    technician = IdFilter()
    kind = django_filters.ChoiceFilter(choices=MaintenanceVisit.Kind.choices)
    visited_on = django_filters.DateFromToRangeFilter()
    next_due_on = django_filters.DateFromToRangeFilter()


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


class StrictFilterBackend(DjangoFilterBackend):
    """Like django-filter's backend, but a filter given with an empty value is an error, not "no filter".

    A phone that sends ``visited_on_before=`` has a bug; answering the unfiltered list would hide it.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            names = set(filterset_class.base_filters)
            # Range filters read <name>_after and <name>_before.
            given = [param for param in request.query_params if param in names or param.rsplit("_", 1)[0] in names]
            empty = sorted(param for param in given if not request.query_params.get(param))
            if empty:
                raise ValidationError({name: [_("Indique un valor o quite el parámetro.")] for name in empty})
            if not given:  # no filter asked for: skip building and validating the filter form
                return queryset
        return super().filter_queryset(request, queryset, view)
