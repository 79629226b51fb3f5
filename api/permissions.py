"""Who may do what beyond reading: roles on top of the scoped querysets.

Seeing a record is decided by ``visible_to`` (another's record answers 404). These classes only
restrict actions to roles, and on a single record they are checked after the scoped lookup, so that
a record the caller cannot see still answers 404, never 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from installations.models import User


def is_manager(user: User) -> bool:
    """Coordinators and administrators: they plan visits and move requests through the lifecycle."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.role in {User.Role.COORDINATOR, User.Role.ADMINISTRATOR})
    )


def is_technician(user: User) -> bool:
    return bool(user.is_authenticated and not user.is_superuser and user.role == User.Role.TECHNICIAN)


class IsCoordinatorOrAdministrator(BasePermission):
    """Coordinators and administrators only; on a detail route, decided after the record is found."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(view, "detail", False):
            return bool(request.user and request.user.is_authenticated)
        return is_manager(request.user)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return is_manager(request.user)
