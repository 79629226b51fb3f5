"""Writing the audit trail: rows written in the writer's own transaction, so a write and its row stand or fall together.

``Model.save`` and ``Model.delete`` of the audited models are recorded by the receivers in
``audit.receivers``. Writes that bypass them must go through a helper here: ``update_with_history``
instead of ``QuerySet.update``, ``bulk_create_with_history`` instead of ``bulk_create``, and
``audit_record`` for imports that write rows by other means (one ``bulk_*`` row per model).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field, Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api.counters import client_ip
from api.models import DeviceToken
from audit.context import audit_context_current
from audit.models import AuditAction, AuditEntry

# Never stored with their values: personal data (CURP, phone, e-mail) and the code's guessable hash.
REDACTED_FIELDS = frozenset({"curp", "phone", "email", "verification_code_hash"})
# Stamps the row's own clock writes on every save; occurred_at says when.
UNTRACKED_FIELDS = frozenset({"created_at", "updated_at"})
ANONYMOUS_ROLE = "anonymous"  # a household on the public portal
SYSTEM_ROLE = "system"  # a command or task, outside any request


def tracked_fields(model: type[Model], names: Iterable[str] | None = None) -> list[Field]:
    """The model's audited columns (all but the primary key and the timestamps), or those of ``names``."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and f.name not in UNTRACKED_FIELDS]
    if names is None:
        return fields
    wanted = set(names)
    return [f for f in fields if f.name in wanted or f.attname in wanted]


def changes_between(
    fields: Sequence[Field], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """``{field: {"old", "new"}}`` for each field whose value differs (by attname); every field if a side is None."""
    changes = {}
    for field in fields:
        before = _python(field, old.get(field.attname)) if old is not None else None
        after = _python(field, new.get(field.attname)) if new is not None else None
        if old is not None and new is not None and before == after:
            continue
        changes[field.name] = {"redacted": True} if field.name in REDACTED_FIELDS else {"old": before, "new": after}
    return changes


def _python(field: Field, value: Any) -> Any:
    # The same value may arrive as a string (set on an instance) or typed (read back from the database).
    try:
        return field.to_python(value)
    except ValidationError:
        return value


def _actor() -> dict[str, Any]:
    """Who is writing: the request's user, role, address and device token, or the system."""
    context = audit_context_current()
    request = context.request
    who: dict[str, Any] = {"request_id": context.request_id, "actor": None, "actor_role": SYSTEM_ROLE}
    if request is None:
        return who
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        who.update(actor=user, actor_role=getattr(user, "role", "") or "")
    else:
        who.update(actor_role=ANONYMOUS_ROLE)
    # DRF sets ``auth`` on the Django request once it has authenticated the caller.
    token = getattr(request, "auth", None)
    who.update(client_ip=_address(request), device_token_id=token.pk if isinstance(token, DeviceToken) else None)
    return who


def _address(request: HttpRequest) -> str | None:
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:  # "unknown", or a proxy hop that is not an address
        return None


def _entries(
    *, model: type[Model], rows: Iterable[tuple[object, dict[str, Any]]], action: str, row_count: int = 1, note: str = ""
) -> list[AuditEntry]:
    who = _actor()
    now = timezone.now()
    label = model._meta.label_lower
    return [
        AuditEntry(
            model_label=label,
            object_id="" if object_id is None else str(object_id),
            action=action,
            row_count=row_count,
            changes=changes,
            occurred_at=now,
            note=note,
            **who,
        )
        for object_id, changes in rows
    ]


def audit_record(
    *,
    model: type[Model],
    action: str,
    object_id: object = None,
    changes: dict[str, Any] | None = None,
    row_count: int = 1,
    note: str = "",
    using: str | None = None,
) -> AuditEntry:
    """Write one audit row for a write to ``model`` (a bulk row: no object id, ``row_count`` records)."""
    (entry,) = _entries(model=model, rows=[(object_id, changes or {})], action=action, row_count=row_count, note=note)
    entry.save(using=using)
    return entry


def update_with_history(queryset: QuerySet, *, note: str = "", **values: Any) -> int:
    """``queryset.update(**values)`` plus a ``bulk_update`` audit row per record, with old and new values.

    The rows are locked and read first, and exactly those are updated, so the trail names every
    record the update touched. Returns the number of records updated.
    """
    model = queryset.model
    fields = tracked_fields(model, values)
    columns = ["pk", *(f.attname for f in fields)]
    with transaction.atomic(using=queryset.db):
        # NO KEY: the same lock a plain UPDATE takes, so inserts of child rows are not held up.
        before = {row["pk"]: row for row in queryset.select_for_update(no_key=True).values(*columns)}
        if not before:
            return 0
        updated = model._base_manager.using(queryset.db).filter(pk__in=before).update(**values)
        # Read back rather than trust ``values``: they may be expressions, instances or strings.
        after = model._base_manager.using(queryset.db).filter(pk__in=before).values(*columns)
        rows = [(row["pk"], changes_between(fields, before[row["pk"]], row)) for row in after]
        AuditEntry.objects.using(queryset.db).bulk_create(
            _entries(model=model, rows=rows, action=AuditAction.BULK_UPDATE, note=note)
        )
    return updated


def bulk_create_with_history[M: Model](objs: Sequence[M], *, note: str = "") -> list[M]:
    """``bulk_create(objs)`` plus a ``create`` audit row per new record (the database returns their ids)."""
    if not objs:
        return []
    model = type(objs[0])
    fields = tracked_fields(model)
    with transaction.atomic():
        created = model._default_manager.bulk_create(objs)
        if any(obj.pk is None for obj in created):
            raise RuntimeError(f"bulk_create gave no ids for {model._meta.label}; their audit rows need them")
        rows = [(obj.pk, changes_between(fields, None, {f.attname: getattr(obj, f.attname) for f in fields})) for obj in created]
        AuditEntry.objects.bulk_create(_entries(model=model, rows=rows, action=AuditAction.CREATE, note=note))
    return created
