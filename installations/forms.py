"""Forms for people: the staff sign-in, throttled per user name and per client (reliability.md B7)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from api.counters import client_ip
from api.signin import signin_give_back, signin_keys, signin_reserve


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """After 5 failures for one user name or from one client in 15 minutes, sign-in waits."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": _("Demasiados intentos fallidos. Espere %(minutes)s minutos e intente de nuevo."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        keys = signin_keys(username=username, ip=client_ip(self.request)) if self.request else []
        wait_seconds = signin_reserve(keys)
        if wait_seconds is not None:
            minutes = max(1, -(-wait_seconds // 60))
            raise ValidationError(self.error_messages["throttled"], code="throttled", params={"minutes": minutes})
        cleaned = super().clean()
        signin_give_back(keys)
        return cleaned
