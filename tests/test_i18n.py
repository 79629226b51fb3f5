"""The English catalogue: complete, placeholder-safe, compiled, and actually used by the code and the admin.

Spanish (es-MX) is the default language and every msgid is Spanish; English comes from
locale/en/LC_MESSAGES/django.po (and its compiled django.mo).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from installations.exceptions import TransitionError
from installations.lifecycle import status_label

PO_FILE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfir]")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class Entry:
    """One message of a .po file: its flags, context, msgid (and plural) and its msgstr forms."""

    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    def __str__(self) -> str:
        return f"line {self.line}: {self.msgid!r}"


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), f"not a quoted string: {text!r}"
    return re.sub(r"\\(.)", lambda match: ESCAPES.get(match.group(1), match.group(0)), text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """A tiny .po reader: flags, msgctxt, msgid, msgid_plural, msgstr / msgstr[n], continued strings.

    Obsolete entries (``#~``) are kept out of the result but counted as a flag on a sentinel entry,
    so that a test can refuse them.
    """
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # the keyword a continuation line belongs to
    pending_flags: set[str] = set()
    obsolete_lines = 0

    def start(line_number: int) -> Entry:
        nonlocal pending_flags
        entry = Entry(line=line_number, flags=pending_flags)
        pending_flags = set()
        entries.append(entry)
        return entry

    def append(entry: Entry, where: tuple[str, int], text: str) -> None:
        keyword, index = where
        if keyword == "msgstr":
            entry.msgstr[index] = entry.msgstr.get(index, "") + text
        else:
            setattr(entry, keyword, (getattr(entry, keyword) or "") + text)

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            target = None
            continue
        if line.startswith("#~"):
            obsolete_lines += 1
            continue
        if line.startswith("#,"):
            pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            assert current is not None and target is not None, f"line {number}: string outside an entry"
            append(current, target, _unquote(line))
            continue
        keyword, _, rest = line.partition(" ")
        # An entry starts at its msgctxt, or at its msgid when it has no context.
        if keyword == "msgctxt" or (keyword == "msgid" and (target is None or target[0] != "msgctxt")):
            current = start(number)
        assert current is not None, f"line {number}: {keyword} outside an entry"
        if keyword in {"msgctxt", "msgid", "msgid_plural"}:
            target = (keyword, 0)
            setattr(current, keyword, "")
        elif keyword == "msgstr":
            target = ("msgstr", 0)
        elif (plural := re.fullmatch(r"msgstr\[(\d+)\]", keyword)) is not None:
            target = ("msgstr", int(plural.group(1)))
        else:
            raise AssertionError(f"line {number}: unknown keyword {keyword!r}")
        append(current, target, _unquote(rest))

    if obsolete_lines:
        entries.append(Entry(line=0, flags={"obsolete"}, msgid=f"<{obsolete_lines} obsolete lines>"))
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return [entry for entry in parse_po(PO_FILE) if not entry.is_header]


# --- The catalogue file ---------------------------------------------------------------------------
def test_parser_reads_multiline_strings_and_plurals(tmp_path):
    sample = tmp_path / "sample.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: en\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgid ""\n"Dos «%(n)s» "\n"líneas"\nmsgstr "Two «%(n)s» lines"\n\n'
        'msgid "uno"\nmsgid_plural "varios"\nmsgstr[0] "one"\nmsgstr[1] ""\n"many \\"ones\\""\n\n'
        'msgctxt "botón"\nmsgid "Guardar"\nmsgstr "Save"\n\n'
        '#~ msgid "viejo"\n#~ msgstr "old"\n',
        encoding="utf-8",
    )
    header, multiline, plural, with_context, obsolete = parse_po(sample)
    assert header.is_header and header.msgstr == {0: "Language: en\n"}
    assert multiline.msgid == "Dos «%(n)s» líneas"
    assert multiline.msgstr == {0: "Two «%(n)s» lines"}
    assert multiline.flags == {"fuzzy", "python-format"}
    assert plural.msgid_plural == "varios"
    assert plural.msgstr == {0: "one", 1: 'many "ones"'}
    assert (with_context.msgctxt, with_context.msgid, with_context.msgstr) == ("botón", "Guardar", {0: "Save"})
    assert "obsolete" in obsolete.flags


def test_catalogue_exists_and_is_compiled():
    assert PO_FILE.is_file()
    assert MO_FILE.is_file(), "run: manage.py compilemessages -l en"


def test_header_is_english_and_not_fuzzy():
    header = next(entry for entry in parse_po(PO_FILE) if entry.is_header)
    assert "fuzzy" not in header.flags
    assert "Language: en\n" in header.msgstr[0]
    assert "charset=UTF-8" in header.msgstr[0]


def test_catalogue_has_entries(entries):
    # The project marks a few hundred strings; an almost empty catalogue means makemessages went wrong.
    assert len(entries) > 200


def test_no_entry_is_empty_fuzzy_or_obsolete(entries):
    empty = [str(entry) for entry in entries if not entry.msgstr or any(not text.strip() for text in entry.msgstr.values())]
    fuzzy = [str(entry) for entry in entries if "fuzzy" in entry.flags]
    obsolete = [str(entry) for entry in entries if "obsolete" in entry.flags]
    assert empty == []
    assert fuzzy == []
    assert obsolete == []


def test_plural_entries_have_every_form(entries):
    for entry in entries:
        if entry.msgid_plural is not None:
            assert sorted(entry.msgstr) == [0, 1], str(entry)


def test_placeholders_match(entries):
    mismatched = []
    for entry in entries:
        wanted = set(PLACEHOLDER.findall(entry.msgid)) | set(PLACEHOLDER.findall(entry.msgid_plural or ""))
        for text in entry.msgstr.values():
            if set(PLACEHOLDER.findall(text)) != wanted:
                mismatched.append(str(entry))
    assert mismatched == []


def test_guillemets_are_kept(entries):
    for entry in entries:
        for text in entry.msgstr.values():
            assert (text.count("«"), text.count("»")) == (entry.msgid.count("«"), entry.msgid.count("»")), str(entry)


def test_compiled_catalogue_serves_every_entry(entries):
    """What gettext returns in English is what the .po says: the .mo is compiled from this .po."""
    with translation.override("en"):
        wrong = [
            str(entry)
            for entry in entries
            if entry.msgid_plural is None and entry.msgctxt is None and translation.gettext(entry.msgid) != entry.msgstr[0]
        ]
    assert wrong == []


# --- The code speaks both languages ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "registered", "withdrawn", "active"),
    [
        ("en", "Registered", "Withdrawn", "System in operation"),
        ("es-mx", "Registrada", "Desistida", "Sistema en operación"),
    ],
)
def test_status_labels(language, registered, withdrawn, active):
    with translation.override(language):
        assert status_label("registered") == registered
        assert status_label("withdrawn") == withdrawn
        assert status_label("active") == active


def test_default_language_is_spanish():
    assert settings.LANGUAGE_CODE == "es-mx"
    assert status_label("registered") == "Registrada"


def test_transition_error_in_each_language():
    error = TransitionError(current="registered", wanted="installed")

    english = error.in_language("en")
    assert "Registered" in english
    assert "Installed" in english
    assert "«Registered»" in english

    spanish = error.in_language("es-mx")
    assert "Registrada" in spanish
    assert "Instalada" in spanish
    assert "Registered" not in spanish


def test_transition_error_is_rendered_in_the_active_language():
    error = TransitionError(current="registered", wanted="installed")
    with translation.override("en"):
        assert str(error).startswith("Cannot move from «Registered» to «Installed»")
        # in_language does not leak its language into the caller's.
        assert "Registrada" in error.in_language("es-mx")
        assert translation.get_language() == "en"


# --- The admin ------------------------------------------------------------------------------------
def test_admin_login_is_spanish_by_default(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "es-mx"
    assert 'lang="es-mx"' in response.text
    assert "Nombre de usuario" in response.text
    assert "Username" not in response.text
    assert "Harvest · Cosecha de Lluvia" in response.text


def test_admin_login_follows_accept_language(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "en"
    assert 'lang="en"' in response.text
    assert "Username" in response.text
    assert "Nombre de usuario" not in response.text
    assert "Harvest · Cosecha de Lluvia" in response.text


def test_admin_login_follows_the_language_cookie(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="es-MX")
    assert "Username" in response.text
    assert "Nombre de usuario" not in response.text


@pytest.mark.parametrize(
    ("accept_language", "index_title", "status_model"),
    [("en", "Program administration", "Status changes"), ("es-MX", "Administración del programa", "Cambios de estado")],
)
def test_admin_index_uses_the_project_catalogue(client, administrator, accept_language, index_title, status_model):
    client.force_login(administrator)
    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE=accept_language)
    assert response.status_code == 200
    assert index_title in response.text
    assert status_model in response.text


def test_an_eligibility_error_renders_in_the_language_asked_for_not_the_one_it_was_raised_in():
    from installations.exceptions import EligibilityError, LazyText

    with translation.override("es-mx"):
        error = EligibilityError(
            LazyText(_("La colonia %(colonia)s no participa en el programa %(year)s."), colonia="Teotongo", year=2023),
            field="colonia",
        )
    assert error.in_language("en") == "The colonia Teotongo is not taking part in the 2023 program."
    assert error.in_language("es-mx") == "La colonia Teotongo no participa en el programa 2023."
