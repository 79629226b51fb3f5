"""Coverage snapshots: one per compile, built in parts (one per alcaldía) and published whole.

A snapshot is ``building`` while its parts are computed; the merge writes every slice and flips it to
``ready`` in one transaction, so a reader sees either the previous snapshot or the whole new one.
A slice holds the figures of one scope: program year (0 = every year), alcaldía ("" = the whole
city) and modality ("" = both), ready to serve as they are.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installations.models import Alcaldia
from worker.models import Job


class SnapshotState(models.TextChoices):
    BUILDING = "building", _("En construcción")
    READY = "ready", _("Publicada")
    FAILED = "failed", _("Falló")


class SnapshotKind(models.TextChoices):
    FULL = "full", _("Completa")
    INCREMENTAL = "incremental", _("Incremental")


class CoverageSnapshot(models.Model):
    State = SnapshotState
    Kind = SnapshotKind

    job = models.OneToOneField(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="snapshot")
    kind = models.CharField(_("tipo"), max_length=12, choices=Kind, default=Kind.FULL)
    state = models.CharField(_("estado"), max_length=10, choices=State, default=State.BUILDING)
    as_of = models.DateField(_("fecha de corte"))
    # Rows changed after this moment are not (all) in this snapshot; the next incremental starts here.
    watermark = models.DateTimeField(_("datos hasta"))
    base = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("basada en")
    )
    parameters = models.JSONField(_("parámetros"), default=dict, blank=True)
    source_rows = models.PositiveIntegerField(_("solicitudes contadas"), default=0)
    started_at = models.DateTimeField(_("iniciada"), auto_now_add=True)
    published_at = models.DateTimeField(_("publicada"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duración (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("corte de cobertura")
        verbose_name_plural = _("cortes de cobertura")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-published_at"], condition=Q(state="ready"), name="snapshot_ready_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="ready", published_at__isnull=False) | ~Q(state="ready"),
                name="snapshot_ready_has_published_at",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.as_of} #{self.pk}"


class CoveragePart(models.Model):
    """One alcaldía's grouped counts for a snapshot: the unit a worker computes (and a rerun skips)."""

    snapshot = models.ForeignKey(CoverageSnapshot, on_delete=models.CASCADE, related_name="parts")
    alcaldia = models.ForeignKey(Alcaldia, on_delete=models.PROTECT, related_name="+")
    # Column-oriented tables: {"columns": [...], "rows": [[...], ...]}.
    cube = models.JSONField(default=dict)
    monthly = models.JSONField(default=dict)
    source_rows = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    # The snapshot whose computation this is (an incremental snapshot copies unchanged parts).
    computed_for = models.ForeignKey(CoverageSnapshot, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        verbose_name = _("parte de un corte")
        verbose_name_plural = _("partes de un corte")
        constraints = [models.UniqueConstraint(fields=["snapshot", "alcaldia"], name="coverage_part_once_per_alcaldia")]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.alcaldia_id}"


class CoverageSlice(models.Model):
    snapshot = models.ForeignKey(CoverageSnapshot, on_delete=models.CASCADE, related_name="slices")
    program_year = models.PositiveSmallIntegerField(_("año del programa (0 = todos)"))
    alcaldia = models.CharField(_("alcaldía (vacío = toda la ciudad)"), max_length=5, blank=True)
    modality = models.CharField(_("modalidad (vacío = ambas)"), max_length=20, blank=True)
    figures = models.JSONField(_("cifras"))

    class Meta:
        verbose_name = _("cifras de cobertura")
        verbose_name_plural = _("cifras de cobertura")
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "program_year", "alcaldia", "modality"], name="coverage_slice_once_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.program_year or '*'}/{self.alcaldia or '*'}/{self.modality or '*'}"
