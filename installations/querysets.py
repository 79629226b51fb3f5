"""Query vocabulary for the domain's models, including who may see what.

One rule for every record a member of staff opens: administrators see all, coordinators what lies in
the alcaldías they cover, technicians what is assigned to them; anyone else (anonymous, inactive,
no known role) sees nothing. Each queryset says only where its alcaldía is and what "assigned" means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db import models

if TYPE_CHECKING:
    from installations.models import User


class ScopedQuerySet(models.QuerySet):
    # The lookup from the model to its Alcaldia, e.g. "dwelling__colonia__alcaldia".
    alcaldia_lookup: str

    def assigned_to(self, user: User) -> models.Q:
        """The rows a technician works on."""
        raise NotImplementedError

    def visible_to(self, user: User) -> Self:
        """Administrators see all; coordinators their alcaldías; technicians what is assigned to them."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.role == user.Role.ADMINISTRATOR:
            return self
        if user.role == user.Role.COORDINATOR:
            return self.filter(**{f"{self.alcaldia_lookup}__in": user.alcaldias.all()})
        if user.role == user.Role.TECHNICIAN:
            return self.filter(self.assigned_to(user))
        return self.none()


class ApplicationQuerySet(ScopedQuerySet):
    alcaldia_lookup = "dwelling__colonia__alcaldia"

    def assigned_to(self, user: User) -> models.Q:
        from installations.models import TechnicalVisit

        # A subquery, not a join on the visits: a request with two visits must not come back twice.
        visits = TechnicalVisit.objects.filter(application=models.OuterRef("pk"), technician=user)
        return models.Q(assigned_technician=user) | models.Q(models.Exists(visits)) | models.Q(installation__technician=user)

    def open(self) -> ApplicationQuerySet:
        from installations.lifecycle import CLOSED_STATUSES

        return self.exclude(status__in=CLOSED_STATUSES)


class TechnicalVisitQuerySet(ScopedQuerySet):
    alcaldia_lookup = "application__dwelling__colonia__alcaldia"

    def assigned_to(self, user: User) -> models.Q:
        return models.Q(technician=user)


class InstallationQuerySet(ScopedQuerySet):
    alcaldia_lookup = "dwelling__colonia__alcaldia"

    def assigned_to(self, user: User) -> models.Q:
        return models.Q(technician=user)


class MaintenanceVisitQuerySet(ScopedQuerySet):
    alcaldia_lookup = "installation__dwelling__colonia__alcaldia"

    def assigned_to(self, user: User) -> models.Q:
        # The system's technician, and whoever recorded the visit (a colleague covering a round).
        return models.Q(installation__technician=user) | models.Q(technician=user)
