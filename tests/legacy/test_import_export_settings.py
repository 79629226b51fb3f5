"""django-import-export's settings (reliability.md C2, C5, C7, D5): CSV and XLSX only, transactions, permissions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from import_export.formats.base_formats import CSV, HTML, JSON, ODS, TSV, XLS, XLSX, YAML

from installations.models import Application, Installation


def test_only_csv_and_xlsx_are_registered_for_import_and_export():
    for name in ("IMPORT_EXPORT_FORMATS", "IMPORT_FORMATS", "EXPORT_FORMATS"):
        assert getattr(settings, name) == [CSV, XLSX], name


def test_no_format_that_can_carry_markup_or_objects_is_reachable():
    registered = set(settings.IMPORT_EXPORT_FORMATS + settings.IMPORT_FORMATS + settings.EXPORT_FORMATS)
    assert not registered & {HTML, JSON, YAML, XLS, ODS, TSV}


def test_imports_run_in_a_transaction_and_need_a_permission():
    assert settings.IMPORT_EXPORT_USE_TRANSACTIONS is True
    assert settings.IMPORT_EXPORT_IMPORT_PERMISSION_CODE
    assert settings.IMPORT_EXPORT_EXPORT_PERMISSION_CODE


def test_the_admin_export_screens_offer_csv_and_xlsx_only(rf):
    for model in (Application, Installation):
        model_admin = admin.site._registry[model]
        offered = model_admin.get_export_formats()
        assert [f().get_extension() for f in offered] == ["csv", "xlsx"], model
