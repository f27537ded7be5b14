"""Tests for crawler.neardup: edited copies of one story merge, other stories do not, short
texts need the same text, signatures and band keys survive storage and other processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.neardup import (
    BANDS,
    MIN_WORDS,
    NUM_PERM,
    SAME_STORY,
    Signature,
    band_keys,
    normalise,
    same_story,
    signature,
    similarity,
)

REPO = Path(__file__).resolve().parents[1]
NEWS = REPO.parent / "shared" / "data" / "news"
needs_shared = pytest.mark.skipif(
    not (NEWS / "pairs.json").is_file(),
    reason="../shared/data/news not present (a clone outside the workplace)",
)

# A wire story written for these tests, eight paragraphs.
STORY = [
    "Kassel (dpa) - Die Stadtwerke Kassel wollen von Herbst an einen Teil der Innenstadt mit "
    "Wärme aus der Fulda heizen. Eine Großwärmepumpe am Ufer soll dem Fluss im Winter Energie "
    "entziehen und sie in das Fernwärmenetz einspeisen, teilte das Unternehmen am Dienstag mit.",
    "Die Anlage kostet nach Angaben der Stadtwerke rund 38 Millionen Euro. Knapp die Hälfte "
    "davon trägt der Bund aus einem Förderprogramm für klimafreundliche Wärmenetze. Den Rest "
    "finanziert das kommunale Unternehmen über Kredite und höhere Grundpreise.",
    "Nach der Inbetriebnahme soll die Pumpe rechnerisch etwa 9000 Haushalte versorgen. Bislang "
    "stammt die Fernwärme in Kassel überwiegend aus einem Kraftwerk, das Erdgas und Abfall "
    "verbrennt. Der Anteil fossiler Energie im Netz soll so bis 2030 um ein Drittel sinken.",
    "Umweltverbände begrüßten das Vorhaben grundsätzlich, mahnten aber Vorsicht an. Die Fulda "
    "dürfe sich durch die Entnahme von Wärme nicht zu stark abkühlen, sagte ein Sprecher des "
    "Naturschutzbundes. Fische und Kleinstlebewesen seien auf stabile Temperaturen angewiesen.",
    "Die Stadtwerke verweisen auf ein Gutachten der Universität Kassel. Demnach verändert sich "
    "die Wassertemperatur unterhalb der Anlage selbst an kalten Tagen um weniger als ein halbes "
    "Grad. Das Regierungspräsidium hat die wasserrechtliche Genehmigung im Frühjahr erteilt.",
    "Vorbilder gibt es bereits in anderen Städten. In Mannheim arbeitet seit einiger Zeit eine "
    "ähnliche Anlage am Rhein, auch Rosenheim und Stuttgart planen Wärmepumpen an Flüssen. "
    "Fachleute sehen in Flusswasser eine der größten ungenutzten Wärmequellen in Deutschland.",
    "Kritik kommt dagegen vom Bund der Steuerzahler. Die höheren Grundpreise träfen auch "
    "Mieterinnen und Mieter, die keinen Einfluss auf die Heizung ihres Hauses hätten, erklärte "
    "der Landesverband. Die Stadtwerke halten dagegen, die Kosten stiegen langfristig weniger "
    "stark als beim Gas.",
    "Der Bau beginnt im Juni. Während der Arbeiten wird der Radweg am Fuldaufer auf einer Länge "
    "von rund 300 Metern gesperrt, eine Umleitung ist ausgeschildert. Die Stadt will die "
    "Anwohner im Mai bei einer Versammlung im Rathaus über die Pläne informieren.",
]
ORIGINAL = "\n\n".join(STORY)

# Another outlet's report on the same plan, written independently: must NOT merge.
SAME_EVENT = "\n\n".join(
    [
        "In Kassel soll künftig ein Fluss beim Heizen helfen. Das städtische Energieunternehmen "
        "hat am Dienstag den Bau einer großen Wärmepumpe an der Fulda angekündigt.",
        "Das Projekt soll 38 Millionen Euro kosten, etwa die Hälfte übernimmt der Bund. Von "
        "Herbst an soll die Anlage Wärme für rund 9000 Haushalte in der Innenstadt liefern.",
        "Bisher wird das Fernwärmenetz vor allem durch ein Kraftwerk gespeist, in dem Gas und "
        "Müll verbrannt werden. Bis 2030 will das Unternehmen den fossilen Anteil deutlich senken.",
        "Der Naturschutzbund sieht das Vorhaben positiv, warnt jedoch vor Folgen für Fische, "
        "falls das Wasser zu kalt wird. Ein Gutachten der Universität kommt zu dem Ergebnis, "
        "dass sich die Fulda nur um Bruchteile eines Grades abkühlt.",
        "Der Bund der Steuerzahler kritisiert die steigenden Grundpreise, die auch Mieter zahlen "
        "müssen. Für Radfahrer bedeutet der Bau ab Juni eine Umleitung am Ufer.",
    ]
)

UNRELATED = "\n\n".join(
    [
        "Frankfurt am Main (dpa) - Der Flughafen Frankfurt hat im vergangenen Jahr so viele "
        "Fluggäste gezählt wie seit der Pandemie nicht mehr. Knapp 62 Millionen Menschen seien "
        "gestartet oder gelandet, teilte der Betreiber Fraport am Mittwoch mit.",
        "Das Vorkrisenniveau von 2019 ist damit aber noch nicht erreicht. Damals waren es mehr "
        "als 70 Millionen Passagiere. Vor allem Geschäftsreisen hätten sich nicht vollständig "
        "erholt, sagte der Vorstandsvorsitzende bei der Vorlage der Zahlen.",
        "Stark gefragt waren dagegen Urlaubsziele am Mittelmeer und in der Karibik. Auch die "
        "Fracht legte zu, nachdem sie im Vorjahr wegen der schwachen Weltwirtschaft gesunken "
        "war. Fraport rechnet für das laufende Jahr mit einem weiteren Wachstum.",
        "Anwohner kritisieren seit Jahren den Fluglärm in den umliegenden Städten. Eine "
        "Bürgerinitiative forderte, das Nachtflugverbot auf die Zeit von 22 bis 6 Uhr "
        "auszuweiten. Die Landesregierung lehnte das bislang ab.",
    ]
)

VARIANTS = {
    "headline": "Fulda soll Kassels Innenstadt heizen\n\n" + ORIGINAL,
    "first sentence removed": ORIGINAL.split(". ", 1)[1],
    "middle paragraph removed": "\n\n".join(STORY[:4] + STORY[5:]),
    "last paragraph removed": "\n\n".join(STORY[:-1]),
    "sentences added": "\n\n".join(
        [
            *STORY[:3],
            "Kassel hat rund 200.000 Einwohner. Die Stadtwerke gehören vollständig der Stadt.",
            *STORY[3:],
            "Weitere Informationen will das Unternehmen auf seiner Internetseite veröffentlichen.",
        ]
    ),
    "credit lines": ORIGINAL + "\n\nMit Material von AFP\n© dpa-infocom, dpa:240604-99-1\n"
    "Foto: Uwe Zucchi/dpa",
    "boilerplate": "\n\n".join(
        [
            *STORY[:4],
            "Lesen Sie auch: Wie teuer wird Fernwärme in Nordhessen?",
            *STORY[4:],
            "Sie wollen keine Nachricht aus der Region verpassen? Abonnieren Sie unseren "
            "kostenlosen Newsletter und erhalten Sie jeden Morgen die wichtigsten Meldungen.",
        ]
    ),
    "typography": ORIGINAL.replace("Stadtwerke", "Stadt\u00adwerke")
    .replace(" - ", " \u2013 ")
    .replace("\n\n", "\n \n")
    .replace("38 Millionen", "38\u00a0Millionen"),
    "all at once": "Kassel heizt mit Flusswasser\n\n"
    + "\n\n".join([*STORY[:2], STORY[2].split(". ", 1)[1], *STORY[3:7]])
    + "\n\nLesen Sie auch: Wie teuer wird Fernwärme in Nordhessen?\n\ndpa/lhe",
}

FLASH = (
    "+++ Eilmeldung +++ Der hessische Landtag hat Boris Rhein erneut zum Ministerpräsidenten "
    "gewählt."
)
OTHER_FLASH = FLASH.replace("erneut", "nicht")


# --- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize("edit", VARIANTS)
def test_edited_copy_is_the_same_story(edit: str) -> None:
    original, copy = signature(ORIGINAL), signature(VARIANTS[edit])
    assert same_story(original, copy), similarity(original, copy)
    assert set(band_keys(original)) & set(band_keys(copy)), "LSH would not find it"


def test_edited_copies_are_the_same_story_as_each_other() -> None:
    signatures = [signature(text) for text in VARIANTS.values()]
    for a in signatures:
        for b in signatures:
            assert same_story(a, b), similarity(a, b)


def test_unrelated_story_is_not_the_same_story() -> None:
    original, other = signature(ORIGINAL), signature(UNRELATED)
    assert not same_story(original, other)
    assert similarity(original, other) < 0.05
    assert not set(band_keys(original)) & set(band_keys(other))


def test_same_event_written_independently_is_not_the_same_story() -> None:
    original, other = signature(ORIGINAL), signature(SAME_EVENT)
    assert not same_story(original, other)
    assert similarity(original, other) < SAME_STORY / 2


def test_identical_texts() -> None:
    assert similarity(signature(ORIGINAL), signature(ORIGINAL)) == 1.0
    assert same_story(signature(ORIGINAL), signature(ORIGINAL))


# --- short texts ---------------------------------------------------------------------------


def test_short_texts_need_the_same_normalised_text() -> None:
    flash = signature(FLASH)
    assert flash.short and flash.words < MIN_WORDS
    # One word makes it the opposite news, yet most shingles are shared: without the
    # MIN_WORDS rule the estimate alone would merge them.
    other = signature(OTHER_FLASH)
    assert similarity(flash, other) >= SAME_STORY
    assert not same_story(flash, other)
    # Credits, dateline, case and typography are not part of the text.
    copy = FLASH.upper().replace("MINISTERPRÄSIDENTEN", "MINISTER\u00adPRÄSIDENTEN")
    assert same_story(flash, signature(f"Wiesbaden (dpa) \u2013 {copy}\n(AFP)"))


def test_short_text_is_not_the_same_story_as_a_long_one_that_contains_it() -> None:
    teaser = " ".join(STORY[0].split()[:40])
    assert not same_story(signature(teaser), signature(ORIGINAL))


def test_empty_text_matches_nothing_and_has_no_band_keys() -> None:
    empty = signature("  (dpa)\n\n")
    assert empty.words == 0
    assert not same_story(empty, signature(""))
    assert band_keys(empty) == []


# --- normalisation -------------------------------------------------------------------------


def test_normalise() -> None:
    text = (
        "BERLIN (dpa) \u2013 Die Bundes\u00adregierung „plant“ ein E\u2011Auto-Programm.\n"
        "Lesen Sie auch: Was Elektroautos kosten\n"
        "Nach Angaben von Reuters (AFP) steigen die Preise.\n"
        "Foto: Kay Nietfeld/dpa\n"
        "© AFP 2024"
    )
    assert normalise(text) == (
        "die bundesregierung plant ein e auto programm nach angaben von reuters steigen die preise"
    )


def test_normalise_keeps_ordinary_lines_that_mention_agencies() -> None:
    text = "Die Agentur AP (AP) berichtete am Montag.\nReuters meldete dasselbe."
    assert normalise(text) == "die agentur ap berichtete am montag reuters meldete dasselbe"


# --- storage -------------------------------------------------------------------------------


def test_bytes_round_trip() -> None:
    sig = signature(ORIGINAL)
    data = sig.to_bytes()
    assert len(data) == 13 + 4 * NUM_PERM
    assert Signature.from_bytes(data) == sig
    assert band_keys(Signature.from_bytes(data)) == band_keys(sig)


@pytest.mark.parametrize("data", [b"", b"\x01" * 20, b"\x09" + bytes(12 + 4 * NUM_PERM)])
def test_from_bytes_refuses_other_data(data: bytes) -> None:
    with pytest.raises(ValueError, match="signature"):
        Signature.from_bytes(data)


def test_band_keys_fit_a_postgresql_bigint() -> None:
    keys = band_keys(signature(ORIGINAL)) + band_keys(signature(UNRELATED))
    assert [band for band, _ in keys[:BANDS]] == list(range(BANDS))
    assert all(-(2**63) <= key < 2**63 for _, key in keys)
    assert len({key for _, key in keys}) == len(keys)


def test_band_keys_are_the_same_in_another_process() -> None:
    code = (
        "import json, sys\n"
        "from crawler.neardup import band_keys, signature\n"
        "print(json.dumps(band_keys(signature(sys.stdin.read()))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=ORIGINAL,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
        timeout=60,
    )
    assert [tuple(k) for k in json.loads(done.stdout)] == band_keys(signature(ORIGINAL))


def test_signature_is_pinned() -> None:
    """Stored signatures stay comparable only while these values do: a datasketch or numpy
    upgrade that changes them needs a new signature format and a re-signing of stored rows."""
    sig = signature("Der Landtag in Wiesbaden hat am Donnerstag den Haushalt beschlossen.")
    assert sig.values[:4] == PINNED_VALUES
    assert band_keys(sig)[0] == PINNED_KEY


PINNED_VALUES = (799987681, 91362561, 87539509, 42648344)
PINNED_KEY = (0, -153616150061101551)


# --- the shared real articles --------------------------------------------------------------


def _body(page_id: str) -> str:
    return str(json.loads((NEWS / "articles" / f"{page_id}.json").read_text("utf-8"))["body"])


def _pairs(relation: str) -> list[tuple[str, str]]:
    pairs = json.loads((NEWS / "pairs.json").read_text("utf-8"))
    return [(p["a"], p["b"]) for p in pairs if p["relation"] == relation]


@needs_shared
def test_recrawled_article_is_the_same_story() -> None:
    for a, b in _pairs("same_article_recrawled"):
        first, second = signature(_body(a)), signature(_body(b))
        assert same_story(first, second), similarity(first, second)
        assert set(band_keys(first)) & set(band_keys(second))


@needs_shared
def test_same_event_from_other_outlets_is_not_the_same_story() -> None:
    pairs = _pairs("same_news_event_different_outlet")
    assert len(pairs) == 4
    for a, b in pairs:
        first, second = signature(_body(a)), signature(_body(b))
        assert not same_story(first, second), (a, b, similarity(first, second))
