"""Every save and delete of a household's records writes an audit row (reliability.md G8).

Signals are the one place that sees every ``Model.save`` and ``Model.delete`` (services, admin,
cascades, fixtures) without each writer having to remember. Before an update the receiver reads the
row's current values (one query, inside the writer's transaction and after its lock), after the
write it stores the difference. ``QuerySet.update`` and ``bulk_create`` send no signals: they go
through ``audit.services.update_with_history`` and ``bulk_create_with_history``, and a test checks
that no code calls them directly on these models.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save

from audit.models import AuditAction
from audit.services import audit_record, changes_between, tracked_fields

# Households, requests, surveys (technical visits), payments, installations and maintenance.
AUDITED_MODELS = (
    "installations.Applicant",
    "installations.Dwelling",
    "installations.Application",
    "installations.TechnicalVisit",
    "installations.Payment",
    "installations.Installation",
    "installations.Component",
    "installations.MaintenanceVisit",
)
_PREVIOUS = "_audit_previous"


def _remember_previous(
    sender: type[Model], instance: Model, using: str, update_fields: frozenset[str] | None, **kwargs: Any
) -> None:
    if instance.pk is None:  # a new row: nothing to compare with
        return
    fields = tracked_fields(sender, update_fields)
    row = sender._base_manager.using(using).filter(pk=instance.pk).values(*(f.attname for f in fields)).first()
    instance.__dict__[_PREVIOUS] = row


def _record_save(
    sender: type[Model], instance: Model, created: bool, using: str, update_fields: frozenset[str] | None, **kwargs: Any
) -> None:
    previous = instance.__dict__.pop(_PREVIOUS, None)
    fields = tracked_fields(sender, None if created else update_fields)
    current = {f.attname: getattr(instance, f.attname) for f in fields}
    changes = changes_between(fields, None if created else previous, current)
    action = AuditAction.CREATE if created else AuditAction.UPDATE
    audit_record(model=sender, object_id=instance.pk, action=action, changes=changes, using=using)


def _record_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    # Only the values already loaded: a deferred field cannot be read back from a deleted row.
    fields = [f for f in tracked_fields(sender) if f.attname in instance.__dict__]
    changes = changes_between(fields, {f.attname: instance.__dict__[f.attname] for f in fields}, None)
    audit_record(model=sender, object_id=instance.pk, action=AuditAction.DELETE, changes=changes, using=using)


def connect_receivers() -> None:
    for label in AUDITED_MODELS:
        model = apps.get_model(label)
        pre_save.connect(_remember_previous, sender=model, dispatch_uid=f"audit-previous-{label}")
        post_save.connect(_record_save, sender=model, dispatch_uid=f"audit-save-{label}")
        post_delete.connect(_record_delete, sender=model, dispatch_uid=f"audit-delete-{label}")
