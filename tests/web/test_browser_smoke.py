"""The pages' frame in a real browser: language set, the switch works, nothing from another host."""

from __future__ import annotations

import pytest

from tests.web.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sign_in_page_is_spanish_first_and_switches_to_english(browser_page, screenshot):
    page = browser_page(viewport=PHONE)
    page.goto("/entrar/")
    assert page.locator("html").get_attribute("lang") == "es-mx"
    assert page.get_by_label("Usuario").is_visible()
    screenshot(page, "es")

    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").click()

    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_label("Username").is_visible()
    screenshot(page, "en")
