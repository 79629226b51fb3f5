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


class CoverageFact(models.Model):
    """One request as the compile counts it: its keys and its system's measures, on one narrow row.

    Derived from seven tables (request, household, dwelling, colonia, technical visits, system,
    maintenance visits) and kept in step by the compile itself: each compile first re-derives the rows
    of the requests changed since the last one (``coverage.facts``), so an alcaldía's part is one
    GROUP BY over its own rows instead of a seven-table join over the whole program. No foreign keys:
    the rows are rebuilt, never edited by hand, and a rebuild of a million rows skips a million checks.
    The measures of a system that is not working are zero; the maintenance dates are kept raw because
    what they mean depends on the compile's date (the day they were derived on: see ``coverage.facts``).
    """

    application_id = models.BigIntegerField(primary_key=True)
    alcaldia = models.CharField(max_length=5)
    colonia_id = models.BigIntegerField()
    program_year = models.PositiveSmallIntegerField()
    modality = models.CharField(max_length=20)
    sex = models.CharField(max_length=1)
    woman_headed = models.BooleanField()
    status = models.CharField(max_length=30)
    viable = models.BooleanField()
    installation_id = models.BigIntegerField(null=True)
    installed_on = models.DateField(null=True)
    working = models.BooleanField()
    occupants = models.PositiveIntegerField()
    storage_litres = models.PositiveIntegerField()
    harvest_litres = models.BigIntegerField()
    next_due_on = models.DateField(null=True)  # latest next_due_on of the system's maintenance visits
    last_visit_on = models.DateField(null=True)  # latest visited_on of the system's maintenance visits
    # The latest on or before the day the row was derived (a visit may be recorded ahead of time). The
    # facts are rebuilt by the first compile of each day, so that day is always the compile's cut-off.
    last_visit_to_date = models.DateField(null=True)

    class Meta:
        verbose_name = _("hecho de cobertura")
        verbose_name_plural = _("hechos de cobertura")
        indexes = [models.Index(fields=["alcaldia"], name="coverage_fact_alcaldia_idx")]

    def __str__(self) -> str:
        return f"{self.application_id} ({self.alcaldia})"


class CoverageFactsState(models.Model):
    """The one row that says how far the facts are in step: the time they were synced up to, and how."""

    watermark = models.DateTimeField(_("datos hasta"))
    rebuilt_at = models.DateTimeField(_("reconstruidos"))
    reference = models.CharField(_("huella de los datos de referencia"), max_length=64)
    # The snapshot whose compile last synced the facts: only that snapshot can be an incremental base.
    snapshot_id = models.BigIntegerField(null=True)

    class Meta:
        verbose_name = _("estado de los hechos de cobertura")
        verbose_name_plural = _("estado de los hechos de cobertura")

    def __str__(self) -> str:
        return f"{self.watermark:%Y-%m-%d %H:%M:%S}"
