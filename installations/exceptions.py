"""Domain errors. They carry Spanish and English text and never know about HTTP."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override


class LazyText:
    """A %-template and its values, rendered in whatever language is active when turned into text.

    Values may be lazy strings (or lists of them, joined with "; "), so labels translate too.
    """

    def __init__(self, template: str | Promise, **params: object) -> None:
        self.template = template
        self.params = params

    def __str__(self) -> str:
        values = {
            name: "; ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
            for name, value in self.params.items()
        }
        return str(self.template) % values


class DomainError(Exception):
    """A rule of the program refused an operation; `message` is translated when it is read."""

    code = "domain_error"

    def __init__(self, message: str | Promise | LazyText) -> None:
        self.message = message
        super().__init__(str(message))

    def __str__(self) -> str:
        return str(self.message)

    def in_language(self, language: str) -> str:
        """The message in one language ("es-mx" or "en"), whatever the active one is."""
        with override(language):
            return str(self.message)


def _status_label(value: str) -> str:
    from installations.lifecycle import status_label

    return status_label(value)


status_label_lazy = lazy(_status_label, str)


class TransitionError(DomainError):
    """A status change that the lifecycle does not allow, or whose evidence is missing."""

    code = "invalid_transition"

    def __init__(self, *, current: str, wanted: str, missing: Sequence[Promise] = ()) -> None:
        self.current = current
        self.wanted = wanted
        self.missing = list(missing)
        labels = {"current": status_label_lazy(current), "wanted": status_label_lazy(wanted)}
        if self.missing:
            self.code = "missing_evidence"
            message = LazyText(
                _("No se puede pasar de «%(current)s» a «%(wanted)s»: falta %(missing)s."), **labels, missing=self.missing
            )
        else:
            message = LazyText(_("No se puede pasar de «%(current)s» a «%(wanted)s»: el proceso no lo permite."), **labels)
        super().__init__(message)


class EligibilityError(DomainError):
    """An application that the year's rules do not admit (colonia not eligible, duplicate CURP…)."""

    code = "not_eligible"

    def __init__(self, message: str | Promise | LazyText, *, field: str) -> None:
        self.field = field
        super().__init__(message)


class StaleVersionError(DomainError):
    """An edit based on an older version of the record than the one stored (a lost update avoided)."""

    code = "stale_version"

    def __init__(self, *, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(
            LazyText(
                _("El registro cambió mientras lo editaba (versión %(expected)s, ahora %(current)s); vuelva a cargarlo."),
                expected=expected,
                current=current,
            )
        )


class DuplicateCaptureError(DomainError):
    """A record captured on a phone that the server already has (same client_uuid)."""

    code = "duplicate_capture"

    def __init__(self) -> None:
        super().__init__(_("Este registro ya se recibió antes (mismo identificador del dispositivo)."))
