"""The coverage endpoints: the latest snapshot's stored figures by scope, the refresh, and the job it queues.

``GET coverage/`` answers from the stored slices only; these tests pin the contract: who may read
what, which slice each filter selects, the errors (in Spanish, or English when asked), and the
202 + job + Location of a refresh.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from api.coverage import JobView
from coverage.models import CoverageSlice, CoverageSnapshot
from coverage.services import coverage_compile_inline, coverage_refresh_request
from installations.lifecycle import Status
from installations.models import ApplicantSex, Modality
from tests.clients import client_for
from tests.factories import ApplicationFactory, ColoniaFactory, InstallationFactory
from worker.models import Job, JobKind, JobState

COVERAGE = "/api/v1/coverage/"
REFRESH = "/api/v1/coverage/refresh/"
SCOPE_KEYS = ("program_year", "alcaldia", "modality")
LABELLED = ("by_status", "funnel", "by_sex")
SPANISH_FUNNEL = {
    "registered": "Registradas",
    "documents_complete": "Con documentos completos",
    "visited": "Con visita técnica",
    "viable": "Viables",
    "installed": "Con sistema instalado",
    "working": "Con sistema en operación",
}


@pytest.fixture
def program(db) -> None:
    """Requests and systems in the coordinator's two alcaldías and in one she does not cover."""
    for code in ("09009", "09007", "09005"):
        colonia = ColoniaFactory(alcaldia_id=code)
        ApplicationFactory(dwelling__colonia=colonia)
        InstallationFactory(application__dwelling__colonia=colonia)
    InstallationFactory(
        application__dwelling__colonia=ColoniaFactory(alcaldia_id="09007"),
        application__modality=Modality.PARTIAL_SUBSIDY,
        application__applicant__sex=ApplicantSex.MAN,
    )


@pytest.fixture
def snapshot(program) -> CoverageSnapshot:
    job, _ = coverage_refresh_request(by=None)
    compiled = coverage_compile_inline(job)
    assert compiled is not None
    return compiled


def stored(snapshot: CoverageSnapshot, program_year: int = 0, alcaldia: str = "", modality: str = "") -> dict[str, Any]:
    return CoverageSlice.objects.get(snapshot=snapshot, program_year=program_year, alcaldia=alcaldia, modality=modality).figures


def unlabelled(result: dict[str, Any]) -> dict[str, Any]:
    """A result's figures without its scope and labels: what the slice stores."""
    figures = {key: value for key, value in result.items() if key not in SCOPE_KEYS}
    for key in LABELLED:
        figures[key] = [{k: v for k, v in row.items() if k != "label"} for row in figures[key]]
    return figures


# --- Reading figures ------------------------------------------------------------------------------------
def test_before_the_first_compile_there_is_no_snapshot(program, administrator):
    response = client_for(administrator).get(COVERAGE)

    assert response.status_code == 200
    assert response.json() == {"snapshot": None, "results": []}


def test_an_administrator_gets_the_whole_city_of_all_years_and_both_modalities_by_default(snapshot, administrator):
    response = client_for(administrator).get(COVERAGE)

    assert response.status_code == 200
    body = response.json()
    assert body["snapshot"]["id"] == snapshot.pk
    assert body["snapshot"]["as_of"] == snapshot.as_of.isoformat()
    assert body["snapshot"]["source_rows"] == 7
    [result] = body["results"]
    assert (result["program_year"], result["alcaldia"], result["modality"]) == (None, None, None)
    assert unlabelled(result) == stored(snapshot)
    assert result["totals"]["applications"] == 7
    assert {row["alcaldia"] for row in result["by_alcaldia"]} == {"09005", "09007", "09009"}


@pytest.mark.parametrize(
    ("query", "scope"),
    [
        ("program_year=2023", (2023, "", "")),
        ("alcaldia=09007", (0, "09007", "")),
        ("modality=partial_subsidy_50", (0, "", Modality.PARTIAL_SUBSIDY)),
        ("program_year=2023&alcaldia=09007&modality=total_subsidy", (2023, "09007", Modality.TOTAL_SUBSIDY)),
        ("program_year=2021&alcaldia=09005", (2021, "09005", "")),
    ],
)
def test_the_filters_select_the_stored_slice_of_their_scope(snapshot, administrator, query, scope):
    response = client_for(administrator).get(f"{COVERAGE}?{query}")

    assert response.status_code == 200
    [result] = response.json()["results"]
    year, alcaldia, modality = scope
    assert result["program_year"] == (year or None)
    assert result["alcaldia"] == ({"cvegeo": alcaldia, "name": result["alcaldia"]["name"]} if alcaldia else None)
    assert result["modality"] == (modality or None)
    assert unlabelled(result) == stored(snapshot, *scope)


def test_a_filtered_alcaldia_is_named(snapshot, administrator):
    [result] = client_for(administrator).get(f"{COVERAGE}?alcaldia=09007").json()["results"]

    assert result["alcaldia"] == {"cvegeo": "09007", "name": "Iztapalapa"}
    assert result["totals"]["applications"] == 3
    assert "by_colonia" in result and "by_alcaldia" not in result


def test_a_coordinator_gets_one_result_per_alcaldia_she_covers(snapshot, coordinator):
    response = client_for(coordinator).get(COVERAGE)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["alcaldia"]["cvegeo"] for r in results] == ["09007", "09009"]
    for result in results:
        assert unlabelled(result) == stored(snapshot, 0, result["alcaldia"]["cvegeo"])


def test_a_coordinator_may_filter_by_her_own_alcaldia_and_year(snapshot, coordinator):
    response = client_for(coordinator).get(f"{COVERAGE}?alcaldia=09009&program_year=2023")

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert unlabelled(result) == stored(snapshot, 2023, "09009")


def test_a_coordinator_asking_for_another_alcaldia_is_refused_in_spanish(snapshot, coordinator):
    response = client_for(coordinator).get(f"{COVERAGE}?alcaldia=09005")

    assert response.status_code == 403
    assert response.json()["detail"] == "La alcaldía 09005 no está entre las suyas."


def test_the_labels_are_given_in_spanish_by_default(snapshot, administrator):
    [result] = client_for(administrator).get(COVERAGE).json()["results"]

    assert {row["status"]: row["label"] for row in result["by_status"]} == {
        Status.REGISTERED: "Registrada",
        Status.ACTIVE: "Sistema en operación",
    }
    assert {row["stage"]: row["label"] for row in result["funnel"]} == SPANISH_FUNNEL
    assert {row["sex"]: row["label"] for row in result["by_sex"]} == {"H": "Hombre", "M": "Mujer"}


def test_the_labels_follow_the_requests_language(snapshot, administrator):
    [result] = client_for(administrator, "en").get(COVERAGE).json()["results"]

    assert {row["status"]: row["label"] for row in result["by_status"]} == {
        Status.REGISTERED: "Registered",
        Status.ACTIVE: "System in operation",
    }
    assert {row["sex"]: row["label"] for row in result["by_sex"]} == {"H": "Man", "M": "Woman"}
    untranslated = {row["stage"]: row["label"] for row in result["funnel"] if row["label"] == SPANISH_FUNNEL[row["stage"]]}
    assert not untranslated, f"funnel labels still in Spanish: {untranslated}"


# --- Bad filters ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "field", "spanish", "english"),
    [
        pytest.param("program_year=1999", "program_year", "No hay un año del programa 1999.", "1999", id="unknown-year"),
        pytest.param("program_year=dos-mil", "program_year", "número entero válido", "valid integer", id="not-a-year"),
        pytest.param("alcaldia=09999", "alcaldia", "No hay una alcaldía con la clave 09999.", "09999", id="unknown-alcaldia"),
        pytest.param("alcaldia=090070", "alcaldia", "no tenga más de 5 caracteres", "no more than 5", id="long-alcaldia"),
        pytest.param("modality=gratis", "modality", "no es una elección válida", "is not a valid choice", id="bad-modality"),
    ],
)
@pytest.mark.parametrize("language", ["es", "en"])
def test_a_bad_filter_is_a_400_naming_it_in_the_requests_language(
    program, administrator, query, field, spanish, english, language
):
    response = client_for(administrator, None if language == "es" else "en").get(f"{COVERAGE}?{query}")

    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field]
    [message] = body["fields"][field]
    if language == "es":
        assert body["detail"] == "Datos inválidos."
        assert spanish in message
    else:
        assert body["detail"] == "Invalid data."
        assert english in message
        assert spanish not in message, f"still in Spanish: {message!r}"


# --- Who may read ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("get", COVERAGE), ("post", REFRESH), ("get", "/api/v1/jobs/{job}/")])
def test_technicians_are_refused_and_anonymous_callers_must_sign_in(program, technician, method, path):
    job, _ = coverage_refresh_request(by=None)
    url = path.format(job=job.pk)

    assert getattr(client_for(technician), method)(url).status_code == 403
    assert getattr(client_for(None), method)(url).status_code == 401
    assert Job.objects.count() == 1


# --- Refresh and its job ---------------------------------------------------------------------------------------
def test_a_refresh_answers_202_with_the_queued_job_and_its_location(program, coordinator):
    response = client_for(coordinator).post(REFRESH, {}, format="json")

    assert response.status_code == 202
    body = response.json()
    job = Job.objects.get()
    assert body["id"] == str(job.pk)
    assert (body["kind"], body["state"], body["state_label"]) == (JobKind.COVERAGE_FULL, JobState.QUEUED, "En cola")
    assert body["progress"] == {"done": 0, "total": 0, "percent": None}
    assert response["Location"] == body["url"]
    assert set(body) == {
        "id",
        "kind",
        "kind_label",
        "state",
        "state_label",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "result",
        "url",
    }
    assert job.created_by == coordinator


def test_a_repeated_refresh_answers_the_same_job_while_it_is_queued(program, administrator):
    api = client_for(administrator)

    first = api.post(REFRESH, {"incremental": True}, format="json")
    second = api.post(REFRESH, {}, format="json")

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["kind"] == JobKind.COVERAGE_INCREMENTAL
    assert Job.objects.count() == 1


def test_a_refresh_with_a_bad_body_is_a_400_naming_the_field(program, administrator):
    response = client_for(administrator).post(REFRESH, {"incremental": "a veces"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["incremental"]
    assert not Job.objects.exists()


def test_the_jobs_url_resolves_to_the_job(program, administrator):
    api = client_for(administrator)
    body = api.post(REFRESH, {}, format="json").json()

    match = resolve(urlparse(body["url"]).path)
    followed = api.get(body["url"])

    assert match.func.view_class is JobView
    assert str(match.kwargs["pk"]) == body["id"]
    assert followed.status_code == 200
    assert followed.json() == body


def test_a_job_reports_its_progress_and_result_once_finished(program, administrator):
    # given
    api = client_for(administrator)
    job_id = api.post(REFRESH, {}, format="json").json()["id"]
    snapshot = coverage_compile_inline(Job.objects.get(pk=job_id))
    # when
    response = api.get(f"/api/v1/jobs/{job_id}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["state_label"]) == (JobState.SUCCEEDED, "Terminado")
    assert body["progress"] == {"done": 4, "total": 4, "percent": 100}  # three alcaldías and the merge
    assert body["result"]["snapshot"] == snapshot.pk
    assert body["started_at"] and body["finished_at"]
    assert body["error"] == ""


def test_a_running_job_reports_its_steps_so_far(program, administrator):
    from coverage.services import coverage_compile_begin, coverage_part_compute

    job, _ = coverage_refresh_request(by=None)
    plan = coverage_compile_begin(job.pk)
    coverage_part_compute(plan.snapshot_id, plan.alcaldias_to_compute[0])

    body = client_for(administrator).get(f"/api/v1/jobs/{job.pk}/").json()

    assert body["state"] == JobState.RUNNING
    assert body["progress"] == {"done": 1, "total": 4, "percent": 25}


def test_an_unknown_job_is_a_404(program, administrator):
    response = client_for(administrator).get(f"/api/v1/jobs/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_reading_figures_takes_the_same_few_queries_however_many_alcaldias_a_coordinator_covers(
    snapshot, coordinator, django_assert_num_queries
):
    api = client_for(coordinator)
    with django_assert_num_queries(4) as two:  # her alcaldías, the snapshot, its slices, their names
        assert len(api.get(COVERAGE).json()["results"]) == 2

    coordinator.alcaldias.add("09005")
    with django_assert_num_queries(len(two.captured_queries)):
        assert len(api.get(COVERAGE).json()["results"]) == 3


@pytest.mark.parametrize("param", ["program_year", "alcaldia", "modality"])
def test_a_coverage_filter_sent_empty_is_refused(administrator, param):
    # found by Schemathesis: ?modality= answered 200 as if no filter had been asked for
    client = APIClient()
    client.force_authenticate(administrator)
    response = client.get(f"/api/v1/coverage/?{param}=")
    assert response.status_code == 400
    assert param in response.json()["fields"]


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_refresh_takes_only_json_booleans(administrator, value):
    # found by Schemathesis: {"incremental": 0} was taken for false
    client = APIClient()
    client.force_authenticate(administrator)
    response = client.post("/api/v1/coverage/refresh/", {"incremental": value}, format="json")
    assert response.status_code == 400
    assert "incremental" in response.json()["fields"]
