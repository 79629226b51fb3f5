"""The admin's export screens for requests and installations (django-import-export).

Each model has two resources: the masked one everybody who may export gets (CURP and phone masked,
no address columns) and the full one offered only to holders of ``legacy.export_full_pii``,
which needs a typed justification on the export form. Rows come from ``legacy.exports.export_rows``
(plain values, blocked households left out); each column's dehydrate method escapes its cell
against formula injection. Only CSV and XLSX are offered, and each export writes one ExportLog row.

Export permission (reliability.md C7) follows ``User.role`` like the rest of the admin: coordinators
and administrators export what they can see there; anyone else gets 403.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any, ClassVar

import tablib
from django import forms
from django.apps import apps
from django.contrib.admin.options import Action, ActionLocation
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ExportActionMixin
from import_export.fields import Field
from import_export.formats.base_formats import CSV, XLSX, Format
from import_export.forms import SelectableFieldsExportForm

from api.permissions import is_manager
from api.serializers import mask_curp
from installations.identifiers import CURP_PATTERN
from installations.models import Application, Installation
from legacy.exports import (
    FULL_PERSONAL_DATA_PERMISSION,
    JUSTIFICATION_MIN_LENGTH,
    csv_cell,
    export_columns,
    export_filename,
    export_log,
    export_rows,
    full_personal_data_allowed,
    write_xlsx,
)
from legacy.models import ExportChannel, ExportFormat, ExportKind


class LegacyExportResource(resources.ModelResource):
    """Rows in the legacy template's columns; one dehydrate method per column reads and escapes its cell."""

    kind: ClassVar[str]
    full_personal_data: ClassVar[bool] = False

    def __init__(
        self, *, user: Any = None, filters: dict[str, Any] | None = None, justification: str = "", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.user = user
        self.filters = filters or {}
        self.justification = (justification or "").strip()
        self.file_format = ExportFormat.CSV

    @classmethod
    def get_display_name(cls) -> str:
        if cls.full_personal_data:
            return str(_("Datos personales completos (CURP, teléfono y domicilio; requiere justificación)"))
        return str(_("Datos enmascarados (CURP y teléfono parciales, sin domicilio)"))

    def get_queryset(self) -> QuerySet:
        return self._meta.model.objects.none()  # an export always names its (scoped) queryset

    def export(self, queryset: QuerySet | None = None, **kwargs: Any) -> Any:
        if self.user is None:
            raise PermissionDenied("an export needs the user it is logged for")
        if self.full_personal_data and not full_personal_data_allowed(self.user, self.justification):
            raise PermissionDenied("full personal data needs its permission and a justification")
        self.file_format = kwargs.get("export_format") or ExportFormat.CSV
        # Resource.export resolves the fields and each cell's dehydrate method again for every cell
        # (some 10 s for the program's 62,700 systems); here they are resolved once per export.
        self.before_export(queryset, **kwargs)
        queryset = self.filter_export(self.get_queryset() if queryset is None else queryset, **kwargs)
        fields = self.get_export_fields(selected_fields=kwargs.get("export_fields"))
        dehydrators = [getattr(self, f"dehydrate_{self.get_field_name(field)}") for field in fields]
        rows = [[dehydrate(row) for dehydrate in dehydrators] for row in self.iter_queryset(queryset)]
        dataset = tablib.Dataset(*rows, headers=[str(field.column_name) for field in fields])
        self.after_export(queryset, dataset, **kwargs)
        return dataset

    def iter_queryset(self, queryset: QuerySet) -> Any:
        columns, rows = export_rows(queryset, kind=self.kind, full_personal_data=self.full_personal_data)
        for row in rows:
            yield dict(zip(columns, row, strict=True))

    def cell(self, value: Any) -> Any:
        """A value as the file shows it: numbers stay numbers in XLSX; everything else is escaped text."""
        if self.file_format == ExportFormat.XLSX and type(value) in (int, Decimal):
            return value
        return csv_cell(value)

    def after_export(self, queryset: QuerySet, dataset: Any, **kwargs: Any) -> None:
        export_log(
            user=self.user,
            kind=self.kind,
            file_format=self.file_format,
            filters=self.filters,
            row_count=dataset.height,
            columns=list(dataset.headers or []),
            full_personal_data=self.full_personal_data,
            justification=self.justification,
            channel=ExportChannel.ADMIN,
        )


def _dehydrate(column: str) -> Any:
    def dehydrate(self: LegacyExportResource, row: dict[str, Any]) -> Any:
        return self.cell(row[column])

    dehydrate.__name__ = f"dehydrate_{column}"
    return dehydrate


def _resource(name: str, model: type, kind: str, *, full_personal_data: bool) -> type[LegacyExportResource]:
    columns = export_columns(full_personal_data=full_personal_data)
    attributes: dict[str, Any] = {"__module__": __name__, "kind": kind, "full_personal_data": full_personal_data}
    for column in columns:
        attributes[column] = Field(column_name=column, readonly=True)
        attributes[f"dehydrate_{column}"] = _dehydrate(column)
    attributes["Meta"] = type("Meta", (), {"model": model, "fields": tuple(columns), "export_order": tuple(columns)})
    return type(name, (LegacyExportResource,), attributes)


ApplicationExportResource = _resource("ApplicationExportResource", Application, ExportKind.APPLICATIONS, full_personal_data=False)
ApplicationFullExportResource = _resource(
    "ApplicationFullExportResource", Application, ExportKind.APPLICATIONS, full_personal_data=True
)
InstallationExportResource = _resource(
    "InstallationExportResource", Installation, ExportKind.INSTALLATIONS, full_personal_data=False
)
InstallationFullExportResource = _resource(
    "InstallationFullExportResource", Installation, ExportKind.INSTALLATIONS, full_personal_data=True
)


class SpreadsheetXLSX(XLSX):
    """XLSX written by ``legacy.exports.write_xlsx`` from the resource's cells, escaped already.

    tablib's XLSX (openpyxl, the whole workbook in memory) took some 40 s and 540 MB for the
    program's 62,700 systems.
    """

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        stream = io.BytesIO()
        write_xlsx(dataset.headers or [], dataset, stream, sheet_name=dataset.title or "datos", escape=False)
        return stream.getvalue()


# --- The admin side --------------------------------------------------------------------------------------------
class JustifiedExportForm(SelectableFieldsExportForm):
    """django-import-export's export form, plus the justification that full personal data needs."""

    justification = forms.CharField(
        label=_("Justificación"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Obligatoria para exportar datos personales completos: para qué se necesitan (al menos 10 caracteres)."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        resource = self.get_selected_resource()
        justification = (cleaned.get("justification") or "").strip()
        if getattr(resource, "full_personal_data", False) and len(justification) < JUSTIFICATION_MIN_LENGTH:
            self.add_error(
                "justification",
                _("Explique para qué necesita los datos completos (al menos %(min)s caracteres).")
                % {"min": JUSTIFICATION_MIN_LENGTH},
            )
        return cleaned


def _admin_filters(request: HttpRequest) -> dict[str, Any]:
    """The changelist filters the export ran with, for the log; a CURP searched for is kept masked."""
    asked: dict[str, Any] = {}
    for name, values in request.GET.lists():
        values = [mask_curp(value.upper()) if name == "q" and CURP_PATTERN.match(value.upper()) else value for value in values]
        asked[name] = values if len(values) > 1 else values[0]
    selected = request.POST.getlist("export_items")
    if selected:
        asked["seleccion"] = len(selected)
    return asked


class LoggedExportAdminMixin(ExportActionMixin):
    """Export button and "export selected" action for a case-record admin: CSV or XLSX, masked unless allowed, logged."""

    # (masked resource, full resource)
    export_resources: ClassVar[tuple[type[LegacyExportResource], type[LegacyExportResource]]]
    # Only CSV and XLSX: no HTML (XSS history, reliability.md D5), JSON, YAML, XLS or ODS.
    export_formats: ClassVar[list[type[Format]]] = [CSV, SpreadsheetXLSX]
    export_form_class = JustifiedExportForm
    to_encoding = "utf-8-sig"  # a byte-order mark, so Excel reads the accents
    # The change pages stay as they were (the request's page has its own template and buttons).
    change_form_template = None
    show_change_form_export = False

    @property
    def import_export_change_list_template(self) -> str | None:
        # The "Exportar" button needs django-import-export's templates, found once "import_export" is
        # in INSTALLED_APPS; without it the changelist keeps Django's own template.
        return "admin/import_export/change_list_export.html" if apps.is_installed("import_export") else None

    def get_actions(self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST) -> dict[str, Any]:
        # Django's own, not ExportActionMixin's: that one has the pre-6.1 signature and tuple actions.
        actions = super(ExportActionMixin, self).get_actions(request, action_location=action_location)
        # An admin that offers no bulk actions (actions = None) keeps it that way: it has the export button.
        if self.actions is None or action_location != ActionLocation.CHANGE_LIST or not self.has_export_permission(request):
            return actions
        description = _("Exportar %(verbose_name_plural)s seleccionados")
        action = Action(
            func=type(self).export_admin_action,
            name="export_admin_action",
            description=description,
            plural_description=description,
            locations=[ActionLocation.CHANGE_LIST],
        )
        return {**actions, action.name: action}

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff and is_manager(request.user))

    def get_export_resource_classes(self, request: HttpRequest) -> list[type[LegacyExportResource]]:
        masked, full = self.export_resources
        return [masked, full] if request.user.has_perm(FULL_PERSONAL_DATA_PERMISSION) else [masked]

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.get("export_form")
        justification = getattr(form, "cleaned_data", {}).get("justification", "") if form is not None else ""
        return {**kwargs, "user": request.user, "filters": _admin_filters(request), "justification": justification}

    def get_export_data(self, file_format: Format, request: HttpRequest, queryset: QuerySet, **kwargs: Any) -> Any:
        return super().get_export_data(file_format, request, queryset, export_format=file_format.get_extension(), **kwargs)

    def get_export_filename(self, request: HttpRequest, queryset: QuerySet, file_format: Format) -> str:
        kind = self.export_resources[0].kind
        return export_filename(kind, file_format.get_extension(), timezone.localdate())

    def get_valid_export_item_pks(self, request: HttpRequest) -> list[str]:
        # Only the posted ids the user may see (django-import-export's default lists every key of the table).
        posted = [pk for pk in request.POST.getlist("export_items") if pk.isdigit()]
        return [str(pk) for pk in self.get_queryset(request).filter(pk__in=posted).values_list("pk", flat=True)]

    def _do_file_export(
        self, file_format: Format, request: HttpRequest, queryset: QuerySet, export_form: Any = None
    ) -> HttpResponse:
        response = super()._do_file_export(file_format, request, queryset, export_form=export_form)
        response["Cache-Control"] = "no-store"
        return response
