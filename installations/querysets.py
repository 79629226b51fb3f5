"""Query vocabulary for the domain's models, including who may see what."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from installations.models import User


class ApplicationQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> ApplicationQuerySet:
        """Administrators see all; coordinators their alcaldías; technicians what is assigned to them."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.role == user.Role.ADMINISTRATOR:
            return self
        if user.role == user.Role.COORDINATOR:
            return self.filter(dwelling__colonia__alcaldia__in=user.alcaldias.all())
        if user.role == user.Role.TECHNICIAN:
            return self.filter(
                models.Q(assigned_technician=user)
                | models.Q(technical_visits__technician=user)
                | models.Q(installation__technician=user)
            ).distinct()
        return self.none()

    def open(self) -> ApplicationQuerySet:
        from installations.lifecycle import CLOSED_STATUSES

        return self.exclude(status__in=CLOSED_STATUSES)
