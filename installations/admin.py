"""The program officers' admin: every record of the program, in Spanish, scoped by role.

Access comes from ``User.role``, not from Django's per-model permissions: administrators (and
superusers) edit everything; coordinators see and edit the case records of the alcaldías they
cover and only look at reference data; technicians have no admin access. Nobody deletes a
request, its status history or an installed system here, and nobody edits a status: the
"Cambiar estado" page runs ``application_transition``, the only writer of ``Application.status``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Field, Model, Q, QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from installations.exceptions import TransitionError
from installations.forms import ThrottledAdminAuthenticationForm
from installations.identifiers import CURP_PATTERN, folio_is_valid, folio_normalize
from installations.lifecycle import CLOSED_STATUSES, Status, allowed_targets, missing_evidence, status_label
from installations.models import (
    Alcaldia,
    Applicant,
    Application,
    Colonia,
    Component,
    Dwelling,
    EligibleColonia,
    FieldPhoto,
    Installation,
    InstallerOrganisation,
    MaintenanceReminder,
    MaintenanceVisit,
    Payment,
    ProgramYear,
    RainfallReference,
    RoofCoefficient,
    StatusChange,
    TechnicalVisit,
    User,
)
from installations.services import application_transition
from legacy.resources import (
    ApplicationExportResource,
    ApplicationFullExportResource,
    InstallationExportResource,
    InstallationFullExportResource,
    LoggedExportAdminMixin,
)


# --- Who may do what ---------------------------------------------------------------------------------
def _is_administrator(user: Any) -> bool:
    return bool(
        user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) == User.Role.ADMINISTRATOR)
    )


def _is_coordinator(user: Any) -> bool:
    return bool(
        user.is_active and user.is_staff and not user.is_superuser and getattr(user, "role", None) == User.Role.COORDINATOR
    )


def _is_program_staff(user: Any) -> bool:
    return _is_administrator(user) or _is_coordinator(user)


def _visible_applications(user: User) -> QuerySet[Application]:
    return Application.objects.visible_to(user)


# How each case record reaches the alcaldías a coordinator covers. Colonia is here only to narrow
# a dwelling's colonia choices; the colonia catalogue itself is reference data everyone may read.
_COORDINATOR_SCOPES: dict[type[Model], Callable[[QuerySet, User], QuerySet]] = {
    Application: lambda qs, user: qs.visible_to(user),
    Applicant: lambda qs, user: qs.filter(pk__in=_visible_applications(user).values("applicant_id")),
    Dwelling: lambda qs, user: qs.filter(colonia__alcaldia__in=user.alcaldias.all()),
    Colonia: lambda qs, user: qs.filter(alcaldia__in=user.alcaldias.all()),
    TechnicalVisit: lambda qs, user: qs.filter(application__in=_visible_applications(user)),
    Payment: lambda qs, user: qs.filter(application__in=_visible_applications(user)),
    StatusChange: lambda qs, user: qs.filter(application__in=_visible_applications(user)),
    Installation: lambda qs, user: qs.filter(application__in=_visible_applications(user)),
    MaintenanceVisit: lambda qs, user: qs.filter(installation__application__in=_visible_applications(user)),
    Component: lambda qs, user: qs.filter(installation__application__in=_visible_applications(user)),
    MaintenanceReminder: lambda qs, user: qs.filter(installation__application__in=_visible_applications(user)),
    FieldPhoto: lambda qs, user: qs.filter(
        Q(technical_visit__application__in=_visible_applications(user))
        | Q(installation__application__in=_visible_applications(user))
        | Q(maintenance_visit__installation__application__in=_visible_applications(user))
    ),
}


def _scoped(queryset: QuerySet, user: User) -> QuerySet:
    """The rows of a case-record queryset that ``user`` may see in the admin."""
    if _is_administrator(user):
        return queryset
    if _is_coordinator(user):
        return _COORDINATOR_SCOPES[queryset.model](queryset, user)
    return queryset.none()


class _RoleAccess:
    """Admin access decided by ``User.role``; both ModelAdmin and inline signatures are accepted."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_program_staff(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_program_staff(request.user)


class ReferenceDataAccess(_RoleAccess):
    """Catalogues and parameters: administrators edit them, coordinators only look."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_administrator(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_administrator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_administrator(request.user)


class CaseRecordAccess(_RoleAccess):
    """A household's records: coordinators add and edit them in their alcaldías; deleting is restricted."""

    # False on records the lifecycle relies on as evidence or history: they are never lost.
    deletable = True
    coordinators_may_add = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_administrator(request.user) or (self.coordinators_may_add and _is_coordinator(request.user))

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_program_staff(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.deletable and _is_administrator(request.user)


class ReadOnlyAccess(_RoleAccess):
    """History: shown to program staff, written only by the services."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class AdministratorsReadOnly:
    """A trail (audit, export log): administrators read it; nobody adds, edits or deletes a row."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_administrator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class CaseRecordAdmin(CaseRecordAccess, admin.ModelAdmin):
    """A case-record admin: rows and foreign-key choices limited to what the user may see."""

    # Counting tens of thousands of rows on every page is what makes a big changelist slow.
    show_full_result_count = False
    list_select_related: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The changelist skips list_select_related once a queryset has any select_related, so it
        # is applied here, where autocomplete results (which print each row's name) use it too.
        queryset = super().get_queryset(request)
        if self.list_select_related:
            queryset = queryset.select_related(*self.list_select_related)
        return _scoped(queryset, request.user)

    def formfield_for_foreignkey(self, db_field: Field, request: HttpRequest, **kwargs: Any) -> ModelChoiceField | None:
        related = db_field.related_model
        if _is_coordinator(request.user) and related in _COORDINATOR_SCOPES and "queryset" not in kwargs:
            kwargs["queryset"] = _scoped(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class FolioSearchMixin:
    """Finds a record by its request's folio however it was typed: dashes, spaces, any case.

    The typed text is normalised and matched exactly, so the unique index on the folio does the work.
    """

    folio_lookup = "application__folio"
    search_help_text = _("Folio de la solicitud, con o sin guiones.")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_condition(term)), False

    def search_condition(self, term: str) -> Q:
        return Q(**{self.folio_lookup: folio_normalize(term)})


# --- List filters ------------------------------------------------------------------------------------
class AlcaldiaListFilter(admin.RelatedFieldListFilter):
    """Alcaldías to filter by; a coordinator is offered only those she covers."""

    def field_choices(self, field: Field, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        limit = {} if _is_administrator(request.user) else {"pk__in": request.user.alcaldias.all()}
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class TechnicianListFilter(admin.RelatedFieldListFilter):
    """Only field technicians, not every member of staff."""

    def field_choices(self, field: Field, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to={"role": User.Role.TECHNICIAN}, ordering=ordering)


APPLICATION_ALCALDIA_PARAMETER = "dwelling__colonia__alcaldia__cvegeo__exact"


class ApplicationColoniaListFilter(admin.SimpleListFilter):
    """The colonias of the alcaldía chosen in the alcaldía filter.

    Listing every colonia of the city (some 1,800) would bury the sidebar, so the choices appear
    once an alcaldía is chosen.
    """

    title = _("colonia")
    parameter_name = "colonia"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        alcaldia = request.GET.get(APPLICATION_ALCALDIA_PARAMETER)
        if not alcaldia:
            return []
        colonias = Colonia.objects.filter(alcaldia_id=alcaldia)
        if not _is_administrator(request.user):
            colonias = colonias.filter(alcaldia__in=request.user.alcaldias.all())
        return list(colonias.order_by("name").values_list("pk", "name"))

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(dwelling__colonia_id=self.value())
        return queryset


# --- People using Harvest ------------------------------------------------------------------------------
@admin.register(User)
class HarvestUserAdmin(ReferenceDataAccess, UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, (_("Programa"), {"fields": ("role", "alcaldias")}))
    add_fieldsets = (*UserAdmin.add_fieldsets, (_("Programa"), {"fields": ("role", "alcaldias")}))
    list_display = ("username", "first_name", "last_name", "email", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_active", "alcaldias")
    filter_horizontal = (*UserAdmin.filter_horizontal, "alcaldias")


# --- Reference data ------------------------------------------------------------------------------------
@admin.register(Alcaldia)
class AlcaldiaAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("cvegeo", "name")
    search_fields = ("name",)


@admin.register(Colonia)
class ColoniaAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("name", "kind", "alcaldia", "catalog_source", "catalog_key")
    list_filter = ("alcaldia", "kind")
    list_select_related = ("alcaldia",)
    search_fields = ("name", "=catalog_key")
    show_full_result_count = False


class EligibleColoniaInline(ReferenceDataAccess, admin.TabularInline):
    model = EligibleColonia
    fields = ("colonia", "modality")
    autocomplete_fields = ("colonia",)
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[EligibleColonia]:
        return super().get_queryset(request).select_related("colonia")


@admin.register(ProgramYear)
class ProgramYearAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("year", "target_systems", "budget_mxn", "registration_opens_on", "registration_closes_on")
    filter_horizontal = ("alcaldias",)
    inlines = (EligibleColoniaInline,)


@admin.register(EligibleColonia)
class EligibleColoniaAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("program_year", "colonia", "alcaldia", "modality")
    list_filter = ("program_year", "modality", ("colonia__alcaldia", AlcaldiaListFilter))
    list_select_related = ("program_year", "colonia__alcaldia")
    search_fields = ("colonia__name",)
    autocomplete_fields = ("colonia",)
    show_full_result_count = False

    @admin.display(description=_("alcaldía"), ordering="colonia__alcaldia__name")
    def alcaldia(self, obj: EligibleColonia) -> str:
        return obj.colonia.alcaldia.name

    def get_queryset(self, request: HttpRequest) -> QuerySet[EligibleColonia]:
        return super().get_queryset(request).select_related(*self.list_select_related)


@admin.register(RoofCoefficient)
class RoofCoefficientAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("material", "runoff_coefficient", "suitable")


@admin.register(RainfallReference)
class RainfallReferenceAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("__str__", "alcaldia", "annual_mm", "period", "station")
    list_select_related = ("alcaldia",)


@admin.register(InstallerOrganisation)
class InstallerOrganisationAdmin(ReferenceDataAccess, admin.ModelAdmin):
    list_display = ("name", "rfc")
    search_fields = ("name", "=rfc")


# --- Households ------------------------------------------------------------------------------------
@admin.register(Applicant)
class ApplicantAdmin(CaseRecordAdmin):
    # Registration creates applicants; one a coordinator added by hand would fall outside her scope.
    coordinators_may_add = False
    list_display = ("__str__", "curp", "sex", "birth_date", "is_household_head", "woman_headed_household")
    list_filter = (
        "sex",
        "woman_headed_household",
        "is_household_head",
        "single_mother",
        "older_adult",
        "disability",
        "indigenous",
    )
    search_fields = ("=curp", "first_name", "first_surname", "second_surname")
    search_help_text = _("CURP completa, nombre o apellidos.")


@admin.register(Dwelling)
class DwellingAdmin(CaseRecordAdmin):
    coordinators_may_add = False
    list_display = ("street_address", "colonia", "alcaldia", "water_supply", "roof_material", "roof_area_m2", "occupants")
    list_filter = (("colonia__alcaldia", AlcaldiaListFilter), "water_supply", "roof_material")
    list_select_related = ("colonia__alcaldia",)
    search_fields = ("street_address", "colonia__name")
    autocomplete_fields = ("colonia",)

    @admin.display(description=_("alcaldía"), ordering="colonia__alcaldia__name")
    def alcaldia(self, obj: Dwelling) -> str:
        return obj.colonia.alcaldia.name


# --- Requests ------------------------------------------------------------------------------------------
class StatusChangeInline(ReadOnlyAccess, admin.TabularInline):
    model = StatusChange
    fields = ("changed_at", "from_status", "to_status", "changed_by", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusChange]:
        return super().get_queryset(request).select_related("changed_by")


class TechnicalVisitInline(ReadOnlyAccess, admin.TabularInline):
    model = TechnicalVisit
    fields = ("scheduled_on", "technician", "visited_on", "outcome", "measured_roof_area_m2", "adjustments_verified_on")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[TechnicalVisit]:
        return super().get_queryset(request).select_related("technician", "application")


class PaymentInline(ReadOnlyAccess, admin.TabularInline):
    model = Payment
    fields = ("amount_mxn", "method", "paid_on", "agreement_reference")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("application")


class ApplicationAdminForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = (
            "program_year",
            "modality",
            "channel",
            "applicant",
            "dwelling",
            "assigned_technician",
            "privacy_consent_at",
            "commitment_letter_on",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Django skips the one-open-request constraint here because it involves the status,
        # which is not a form field; check it so a clash is a form error, not a database error.
        applicant, program_year = cleaned.get("applicant"), cleaned.get("program_year")
        if applicant and program_year and self.instance.status not in CLOSED_STATUSES:
            clash = Application.objects.open().filter(applicant=applicant, program_year=program_year).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("applicant", _("Esta persona ya tiene una solicitud abierta en ese año del programa."))
        return cleaned


class StatusChoiceField(forms.ChoiceField):
    """Offers the steps the table allows, but passes any status on so the service explains a refusal.

    The page may be stale (someone else moved the request meanwhile); the service, which locks
    the row, is the one that knows whether the step is still possible, and says why not.
    """

    def valid_value(self, value: Any) -> bool:
        return value in Status.values


class ApplicationTransitionForm(forms.Form):
    to = StatusChoiceField(label=_("Nuevo estado"))
    note = forms.CharField(label=_("Nota"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(target, status_label(target)) for target in allowed_targets(current)]


@admin.register(Application)
class ApplicationAdmin(LoggedExportAdminMixin, FolioSearchMixin, CaseRecordAdmin):
    # Requests are created by registration (folio, verification code, eligibility, first history
    # row) and are never deleted; their status changes only on the "Cambiar estado" page.
    deletable = False
    actions = None  # no bulk actions but the export's own (legacy/resources.py)
    export_resources = (ApplicationExportResource, ApplicationFullExportResource)
    form = ApplicationAdminForm
    folio_lookup = "folio"
    transition_template = "admin/installations/application/transition.html"

    list_display = (
        "display_folio",
        "applicant",
        "alcaldia",
        "colonia",
        "program_year",
        "modality",
        "status",
        "status_changed_at",
    )
    list_filter = (
        "status",
        "program_year",
        "modality",
        "channel",
        ("dwelling__colonia__alcaldia", AlcaldiaListFilter),
        ApplicationColoniaListFilter,
    )
    list_select_related = ("applicant", "dwelling__colonia__alcaldia", "program_year")
    # Newest first along the primary key (requests get ids as they register): the model's
    # -created_at has no index, and sorting a coordinator's tens of thousands of rows on every
    # page took about 250 ms on PostgreSQL against under 1 ms for the key.
    ordering = ("-pk",)
    search_fields = ("folio", "applicant__curp", "applicant__first_surname", "applicant__second_surname")
    search_help_text = _("Folio (con o sin guiones), CURP completa o apellido.")
    autocomplete_fields = ("assigned_technician",)
    # What registration decided (year, modality from the colonia's eligibility, household, consent)
    # is read-only: changing it here would bypass the eligibility rules the service applied.
    readonly_fields = (
        "display_folio",
        "status",
        "status_changed_at",
        "program_year",
        "modality",
        "channel",
        "applicant",
        "dwelling",
        "privacy_consent_at",
        "verification_code_hash",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("display_folio", "status", "status_changed_at", "program_year", "modality", "channel")}),
        (_("Hogar"), {"fields": ("applicant", "dwelling")}),
        (_("Seguimiento"), {"fields": ("assigned_technician", "privacy_consent_at", "commitment_letter_on")}),
        (_("Registro"), {"fields": ("verification_code_hash", "created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (StatusChangeInline, TechnicalVisitInline, PaymentInline)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description=_("folio"), ordering="folio")
    def display_folio(self, obj: Application) -> str:
        return obj.folio_display

    @admin.display(description=_("alcaldía"), ordering="dwelling__colonia__alcaldia__name")
    def alcaldia(self, obj: Application) -> str:
        return obj.dwelling.colonia.alcaldia.name

    @admin.display(description=_("colonia"), ordering="dwelling__colonia__name")
    def colonia(self, obj: Application) -> str:
        return obj.dwelling.colonia.name

    def search_condition(self, term: str) -> Q:
        """Folio however typed, the exact CURP, or every word in one of the surnames."""
        folio, curp = folio_normalize(term), term.upper()
        # A folio whose check symbol matches, or a well-formed CURP, is looked up alone so that
        # its unique index answers; a condition OR-ed with the surnames would scan every row.
        if folio_is_valid(folio):
            return Q(folio=folio)
        if CURP_PATTERN.match(curp):
            return Q(applicant__curp=curp)
        surnames = Q()
        for word in term.split():
            surnames &= Q(applicant__first_surname__icontains=word) | Q(applicant__second_surname__icontains=word)
        return Q(folio=folio) | Q(applicant__curp=curp) | surnames

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_transition"
        transition = path("<path:object_id>/transition/", self.admin_site.admin_view(self.transition_view), name=name)
        return [transition, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if self.has_change_permission(request):
            extra_context["transition_url"] = reverse(
                "admin:installations_application_transition", args=[object_id], current_app=self.admin_site.name
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Move a request to another status through the lifecycle service, or say why it cannot."""
        application = self.get_object(request, unquote(object_id))
        if application is None:
            raise Http404(gettext("No existe una solicitud con ese identificador a su alcance."))
        if not self.has_change_permission(request, application):
            raise PermissionDenied
        change_url = reverse(
            "admin:installations_application_change", args=[quote(application.pk)], current_app=self.admin_site.name
        )
        if request.method == "POST":
            form = ApplicationTransitionForm(request.POST, current=application.status)
            if form.is_valid():
                previous = application.status
                try:
                    application_transition(
                        application=application, to=form.cleaned_data["to"], by=request.user, note=form.cleaned_data["note"]
                    )
                except TransitionError as error:
                    form.add_error(None, str(error))
                except ValidationError as error:
                    form.add_error(None, error.messages)
                else:
                    change = {"from": status_label(previous), "to": status_label(application.status)}
                    self.log_change(request, application, gettext("Estado: %(from)s → %(to)s.") % change)
                    self.message_user(
                        request,
                        gettext("La solicitud %(folio)s pasó a «%(status)s».")
                        % {"folio": application.folio_display, "status": change["to"]},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        else:
            form = ApplicationTransitionForm(current=application.status)
        steps = [
            {"label": status_label(target), "missing": [str(item) for item in missing_evidence(application, target)]}
            for target in allowed_targets(application.status)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Cambiar estado de la solicitud %(folio)s") % {"folio": application.folio_display},
            "opts": self.opts,
            "original": application,
            "form": form,
            "current_label": status_label(application.status),
            "steps": steps,
            "change_url": change_url,
            "has_view_permission": True,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.transition_template, context)


@admin.register(TechnicalVisit)
class TechnicalVisitAdmin(FolioSearchMixin, CaseRecordAdmin):
    # The outcome of a visit is the evidence for viability; it is kept even when a visit is redone.
    deletable = False
    list_display = ("application_folio", "technician", "scheduled_on", "visited_on", "outcome")
    list_filter = ("outcome", ("technician", TechnicianListFilter))
    list_select_related = ("application", "technician")
    search_fields = ("application__folio",)
    autocomplete_fields = ("application", "technician")
    date_hierarchy = "scheduled_on"

    @admin.display(description=_("folio"), ordering="application__folio")
    def application_folio(self, obj: TechnicalVisit) -> str:
        return obj.application.folio_display


@admin.register(Payment)
class PaymentAdmin(FolioSearchMixin, CaseRecordAdmin):
    # The payment is the evidence for the "Pagada" status of a partial-subsidy request.
    deletable = False
    list_display = ("application_folio", "amount_mxn", "method", "paid_on", "agreement_reference")
    list_filter = ("method",)
    list_select_related = ("application",)
    search_fields = ("application__folio",)
    autocomplete_fields = ("application",)
    date_hierarchy = "paid_on"

    @admin.display(description=_("folio"), ordering="application__folio")
    def application_folio(self, obj: Payment) -> str:
        return obj.application.folio_display


class ComponentInline(CaseRecordAccess, admin.TabularInline):
    model = Component
    fields = ("kind", "size", "unit", "replaced_on")
    extra = 0


class InstallationAdminForm(forms.ModelForm):
    class Meta:
        model = Installation
        fields = (
            "application",
            "technician",
            "installer",
            "installed_on",
            "tank_capacity_litres",
            "funding_source",
            "unit_cost_mxn",
            "training_on",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        application = cleaned.get("application")
        if application is not None and self.instance.pk is None:
            # The system goes where the request's dwelling is; the form does not ask twice.
            self.instance.dwelling_id = application.dwelling_id
            # Django skips this constraint because the dwelling is not a form field; check it here.
            if Installation.objects.filter(dwelling_id=application.dwelling_id, removed_on=None).exists():
                self.add_error("application", _("La vivienda de esta solicitud ya tiene un sistema en funcionamiento."))
        return cleaned


@admin.register(Installation)
class InstallationAdmin(LoggedExportAdminMixin, FolioSearchMixin, CaseRecordAdmin):
    # A system's record outlives the system: removal sets removed_on through the lifecycle instead.
    deletable = False
    export_resources = (InstallationExportResource, InstallationFullExportResource)
    form = InstallationAdminForm
    list_display = ("application_folio", "installed_on", "tank_capacity_litres", "installer", "funding_source")
    list_filter = ("installer", "funding_source")
    list_select_related = ("application", "installer")
    search_fields = ("application__folio",)
    autocomplete_fields = ("application", "technician")
    date_hierarchy = "installed_on"
    inlines = (ComponentInline,)

    @admin.display(description=_("folio"), ordering="application__folio")
    def application_folio(self, obj: Installation) -> str:
        return obj.application.folio_display

    def get_readonly_fields(self, request: HttpRequest, obj: Installation | None = None) -> tuple[str, ...]:
        # removed_on is written by the transition to "Sistema retirado", so history and row agree.
        if obj is None:
            return ("dwelling", "removed_on")
        return ("application", "dwelling", "removed_on")


@admin.register(Component)
class ComponentAdmin(FolioSearchMixin, CaseRecordAdmin):
    folio_lookup = "installation__application__folio"
    list_display = ("installation_folio", "kind", "size", "unit", "replaced_on")
    list_filter = ("kind", "unit")
    list_select_related = ("installation__application",)
    search_fields = ("installation__application__folio",)
    autocomplete_fields = ("installation",)

    @admin.display(description=_("folio"), ordering="installation__application__folio")
    def installation_folio(self, obj: Component) -> str:
        return obj.installation.application.folio_display


@admin.register(MaintenanceVisit)
class MaintenanceVisitAdmin(FolioSearchMixin, CaseRecordAdmin):
    folio_lookup = "installation__application__folio"
    list_display = ("installation_folio", "kind", "performed_by", "visited_on", "technician", "next_due_on")
    list_filter = ("kind", "performed_by")
    list_select_related = ("installation__application", "technician")
    search_fields = ("installation__application__folio",)
    autocomplete_fields = ("installation", "technician")
    date_hierarchy = "visited_on"

    @admin.display(description=_("folio"), ordering="installation__application__folio")
    def installation_folio(self, obj: MaintenanceVisit) -> str:
        return obj.installation.application.folio_display


@admin.register(StatusChange)
class StatusChangeAdmin(FolioSearchMixin, ReadOnlyAccess, admin.ModelAdmin):
    list_display = ("application_folio", "from_status", "to_status", "changed_by", "changed_at")
    list_filter = ("to_status",)
    list_select_related = ("application", "changed_by")
    search_fields = ("application__folio",)
    show_full_result_count = False
    # Newest first along the primary key: the model's per-request ordering would sort every row
    # (half a million for the whole program) on each page.
    ordering = ("-pk",)

    @admin.display(description=_("folio"), ordering="application__folio")
    def application_folio(self, obj: StatusChange) -> str:
        return obj.application.folio_display

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusChange]:
        queryset = super().get_queryset(request)
        if self.list_select_related:
            queryset = queryset.select_related(*self.list_select_related)
        return _scoped(queryset, request.user)


@admin.register(MaintenanceReminder)
class MaintenanceReminderAdmin(FolioSearchMixin, ReadOnlyAccess, admin.ModelAdmin):
    """The reminder outbox: written by the daily maintenance sweep, stamped by a sender once delivered."""

    folio_lookup = "installation__application__folio"
    list_display = ("installation_folio", "season", "reason", "due_since", "created_at", "delivered_at")
    list_filter = ("season", "reason", ("delivered_at", admin.EmptyFieldListFilter))
    list_select_related = ("installation__application",)
    search_fields = ("installation__application__folio",)
    show_full_result_count = False
    ordering = ("-pk",)

    @admin.display(description=_("folio"), ordering="installation__application__folio")
    def installation_folio(self, obj: MaintenanceReminder) -> str:
        return obj.installation.application.folio_display

    def get_queryset(self, request: HttpRequest) -> QuerySet[MaintenanceReminder]:
        return _scoped(super().get_queryset(request).select_related(*self.list_select_related), request.user)


@admin.register(FieldPhoto)
class FieldPhotoAdmin(ReadOnlyAccess, admin.ModelAdmin):
    """Photos taken in the field: written only by the technicians' forms, shown through the private photo view."""

    list_display = ("pk", "record_link", "taken_by", "created_at", "width", "height", "photo_link")
    list_select_related = (
        "technical_visit__application",
        "installation__application",
        "maintenance_visit__installation__application",
        "taken_by",
    )
    # The image field itself is left out: its widget links to MEDIA_URL, which is never served.
    fields = ("record_link", "photo_link", "width", "height", "taken_by", "created_at")
    readonly_fields = fields
    show_full_result_count = False
    ordering = ("-pk",)

    @admin.display(description=_("registro"))
    def record_link(self, obj: FieldPhoto) -> str:
        record = obj.record
        application = record.installation.application if isinstance(record, MaintenanceVisit) else record.application
        return f"{record._meta.verbose_name.capitalize()} · {application.folio_display}"

    @admin.display(description=_("foto"))
    def photo_link(self, obj: FieldPhoto) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', reverse("web:field_photo", args=[obj.pk]), _("Ver")
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FieldPhoto]:
        return _scoped(super().get_queryset(request).select_related(*self.list_select_related), request.user)


# Staff sign-in on the admin pages is throttled per user name and per client.
admin.site.login_form = ThrottledAdminAuthenticationForm
