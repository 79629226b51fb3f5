"""Forms for people: the staff sign-in, throttled per user name and per client (reliability.md B7)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from api.counters import client_ip, counter_hit, counter_seconds_left


def login_throttle_keys(*, username: str, ip: str) -> list[str]:
    """Counter keys shared by every sign-in path (admin pages and phone tokens)."""
    return [f"login-user:{username.strip().lower()}", f"login-ip:{ip}"]


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """After 5 failures for one user name or from one client in 15 minutes, sign-in waits."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": _("Demasiados intentos fallidos. Espere %(minutes)s minutos e intente de nuevo."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        keys = login_throttle_keys(username=username, ip=client_ip(self.request)) if self.request else []
        window = settings.HARVEST_LOGIN_WINDOW_S
        # Reserve an attempt first so parallel tries cannot all slip under the limit.
        counts = [counter_hit(key, window_seconds=window) for key in keys]
        if any(count > settings.HARVEST_LOGIN_FAILURES for count in counts):
            seconds = max(counter_seconds_left(key) for key in keys)
            raise ValidationError(
                self.error_messages["throttled"], code="throttled", params={"minutes": max(1, -(-seconds // 60))}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            raise
        for key in keys:  # a good password gives its reservation back
            counter_hit(key, window_seconds=window, amount=-1)
        return cleaned
