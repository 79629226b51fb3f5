"""Domain errors. They carry Spanish and English text and never know about HTTP."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override


class DomainError(Exception):
    """A rule of the program refused an operation; `message` is translated lazily."""

    code = "domain_error"

    def __init__(self, message: str | Promise) -> None:
        self.message = message
        super().__init__(str(message))

    def __str__(self) -> str:
        return str(self.message)

    def in_language(self, language: str) -> str:
        """The message in one language ("es-mx" or "en"), whatever the active one is."""
        with override(language):
            return str(self.message)


class TransitionError(DomainError):
    """A status change that the lifecycle does not allow, or whose evidence is missing."""

    code = "invalid_transition"

    def __init__(self, *, current: str, wanted: str, missing: list[Promise] | None = None) -> None:
        self.current = current
        self.wanted = wanted
        self.missing = missing or []
        if self.missing:
            self.code = "missing_evidence"
            message = _LazyTransitionMessage(
                _("No se puede pasar de «%(current)s» a «%(wanted)s»: falta %(missing)s."),
                current=current,
                wanted=wanted,
                missing=self.missing,
            )
        else:
            message = _LazyTransitionMessage(
                _("No se puede pasar de «%(current)s» a «%(wanted)s»: el proceso no lo permite."),
                current=current,
                wanted=wanted,
                missing=[],
            )
        super().__init__(message)


class _LazyTransitionMessage:
    """Renders in whatever language is active when it is turned into text."""

    def __init__(self, template: Promise, *, current: str, wanted: str, missing: list[Promise]) -> None:
        self.template = template
        self.current = current
        self.wanted = wanted
        self.missing = missing

    def __str__(self) -> str:
        from installations.lifecycle import status_label

        return str(self.template) % {
            "current": status_label(self.current),
            "wanted": status_label(self.wanted),
            "missing": "; ".join(str(m) for m in self.missing),
        }


class EligibilityError(DomainError):
    """An application that the year's rules do not admit (colonia not eligible, duplicate CURP…)."""

    code = "not_eligible"

    def __init__(self, message: str | Promise, *, field: str) -> None:
        self.field = field
        super().__init__(message)


class UnknownFolioError(DomainError):
    code = "not_found"
