"""Who is writing, from where: the current request (or command/task) for the audit trail.

The middleware stores the Django request in a context variable at the start of each request; the
audit writer reads the user, the device token and the address from it at the moment of the write.
DRF authenticates lazily inside the view and then sets ``user`` and ``auth`` on the Django request
too, so reading them at write time sees the device token the request used. Commands and tasks set a
request id (and no request) with ``audit_context``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.http import HttpRequest


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    request: HttpRequest | None = None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("harvest_audit_context", default=None)


def audit_context_current() -> AuditContext:
    return _current.get() or AuditContext()


@contextmanager
def audit_context(*, request_id: str = "", request: HttpRequest | None = None) -> Iterator[AuditContext]:
    """Audit rows written inside carry this request id (and the request's user, address and device)."""
    context = AuditContext(request_id=request_id, request=request)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
