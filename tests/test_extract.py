"""Tests for crawler.extract: stored fixture pages, the shared real news pages, and decoding."""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.extract import Extracted, NotAnArticle, decode_html, extract_article

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
NEWS = Path(__file__).parents[1].parent / "shared" / "data" / "news"
ARTICLES = NEWS / "articles"

needs_news = pytest.mark.skipif(
    not ARTICLES.is_dir(), reason="../shared/data/news not present (clone outside the workplace)"
)

# Invisible characters (soft hyphen, zero-width space ...) are compared as absent: the truth keeps
# some, extract_article drops them on purpose.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_INVISIBLE)).strip()


# --- fixture pages written for these tests ------------------------------------------------------


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["de-jsonld-kim-putin", "en-opengraph-only"])
def test_fixture_page_gives_expected_fields(name: str) -> None:
    expected = _expected(name)
    page = (FIXTURES / f"{name}.html").read_bytes()

    got = extract_article(page, expected["url"])

    assert got == Extracted(
        url=expected["url"],
        title=expected["title"],
        authors=tuple(expected["authors"]),
        published=datetime.fromisoformat(expected["published"]),
        language=expected["language"],
        text=expected["text"],
        description=expected["description"],
    )
    assert got.published is not None
    assert got.published.utcoffset() == datetime.fromisoformat(expected["published"]).utcoffset()


def test_reader_comments_stay_out_of_the_text() -> None:
    expected = _expected("de-jsonld-kim-putin")
    page = (FIXTURES / "de-jsonld-kim-putin.html").read_bytes()

    text = extract_article(page, expected["url"]).text

    assert "Kim Jong Un" in text
    for comment in ("Leserkommentar", "Kommentare (3)", "Nachtfalke", "Weltpolitik"):
        assert comment not in text


def test_page_without_article_raises_not_an_article() -> None:
    expected = _expected("no-article")
    page = (FIXTURES / "no-article.html").read_bytes()

    with pytest.raises(NotAnArticle, match=expected["message"]):
        extract_article(page, expected["url"])


@pytest.mark.parametrize("page", [b"", "   ", "<html><body></body></html>"])
def test_empty_page_raises_not_an_article(page: bytes | str) -> None:
    with pytest.raises(NotAnArticle, match="no"):
        extract_article(page, "https://example.org/empty")


def test_not_an_article_is_a_value_error() -> None:
    assert issubclass(NotAnArticle, ValueError)


# --- metadata rules on small inline pages -------------------------------------------------------

_PROSE = (
    "<p>Der Stadtrat hat am Abend nach langer Debatte den neuen Haushalt für das kommende Jahr "
    "beschlossen und mehrere Anträge der Opposition abgelehnt.</p>"
)


def _page(head: str, lang: str = "") -> str:
    return f"<html{lang}><head>{head}</head><body><article>{_PROSE}</article></body></html>"


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        ("Von Anna Beispiel und Ben Test", ("Anna Beispiel", "Ben Test")),
        ("By Jane Doe and John Roe", ("Jane Doe", "John Roe")),
        ("Jane Doe, John Roe; Jane Doe", ("Jane Doe", "John Roe")),
        ("Elena Oberholzer (obe)", ("Elena Oberholzer",)),
        ("redaktion@example.org", ()),
        ("https://www.facebook.com/example", ()),
    ],
)
def test_author_meta_is_split_and_cleaned(author: str, expected: tuple[str, ...]) -> None:
    page = _page(f'<meta name="author" content="{author}">')
    assert extract_article(page, "https://example.org/a").authors == expected


def test_json_ld_authors_take_strings_objects_and_lists() -> None:
    ld = {
        "@type": "ReportageNewsArticle",
        "headline": "Haushalt beschlossen",
        "author": [{"@type": "Person", "name": "Von Anna Beispiel"}, "Ben Test & Cem Probe"],
    }
    page = _page(f'<script type="application/ld+json">[{json.dumps(ld)}]</script>')

    got = extract_article(page, "https://example.org/a")

    assert got.authors == ("Anna Beispiel", "Ben Test", "Cem Probe")
    assert got.title == "Haushalt beschlossen"


def test_dublin_core_creator_family_given_is_turned_around() -> None:
    page = _page('<meta name="dc.creator" content="Brazil, Rachel">')
    assert extract_article(page, "https://example.org/a").authors == ("Rachel Brazil",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-04-26T20:44:00+02:00", "2024-04-26T20:44:00+02:00"),
        ("2024-04-26T18:44:00.123Z", "2024-04-26T18:44:00.123000+00:00"),
        ("2024-04-26T20:44:00", "2024-04-26T20:44:00+00:00"),  # naive: taken as UTC
        ("2024-04-26", "2024-04-26T00:00:00+00:00"),  # date only: midnight UTC
        ("2024-04-30 16:17:29 +02:00", "2024-04-30T16:17:29+02:00"),
        ("Fri Apr 28 19:20:36 CEST 2023", "2023-04-28T19:20:36+02:00"),
        ("Fri, 28 Apr 2023 17:20:36 GMT", "2023-04-28T17:20:36+00:00"),
    ],
)
def test_published_time_formats(raw: str, expected: str) -> None:
    page = _page(f'<meta property="article:published_time" content="{raw}">')
    published = extract_article(page, "https://example.org/a").published
    assert published is not None
    assert published.tzinfo is not None
    assert published == datetime.fromisoformat(expected)


def test_naive_json_ld_time_takes_the_offset_of_the_same_wall_clock_time() -> None:
    ld = {"@type": "NewsArticle", "datePublished": "2023-04-28 18:11:01.0"}
    page = _page(
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        '<meta name="date" content="2023-04-28T18:11:01+02:00">'
    )
    published = extract_article(page, "https://example.org/a").published
    assert published == datetime.fromisoformat("2023-04-28T18:11:01+02:00")


@pytest.mark.parametrize(
    ("head", "url", "expected"),
    [
        ("<title>Haushalt beschlossen | Stadtkurier</title>", "https://stadtkurier.de/a", None),
        (
            '<meta property="og:title" content="Haushalt beschlossen - Golem.de">',
            "https://golem.de/a",
            None,
        ),
        (
            '<meta property="og:title" content="Bericht: Etat steht - Opposition unterliegt">',
            "https://example.org/a",
            "Bericht: Etat steht - Opposition unterliegt",
        ),
        (
            '<meta property="og:site_name" content="DW">'
            '<meta property="og:title" content="Haushalt beschlossen \u2013 DW \u2013 13.06.2023">',
            "https://www.dw.com/a",
            None,
        ),
    ],
)
def test_outlet_suffix_is_stripped_only_when_it_names_the_site(
    head: str, url: str, expected: str | None
) -> None:
    title = extract_article(_page(head), url).title
    assert title == (expected or "Haushalt beschlossen")


@pytest.mark.parametrize(
    ("head", "lang", "expected"),
    [
        (
            '<script type="application/ld+json">{"@type":"Article","inLanguage":"de-AT"}</script>',
            ' lang="en"',
            "de",
        ),
        ('<meta property="og:locale" content="fr_FR">', ' lang="en"', "fr"),
        ("", ' lang="de-CH"', "de"),
        ("", ' xml:lang="EN"', "en"),
        ("", "", None),
    ],
)
def test_language_precedence(head: str, lang: str, expected: str | None) -> None:
    assert extract_article(_page(head, lang), "https://example.org/a").language == expected


# --- decoding ------------------------------------------------------------------------------------

_LATIN1_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    "<title>Grüße aus Köln</title></head><body><p>Die Straße in Köln wird größer, "
    "schöner und für Fußgänger endlich sicherer, sagte der Bürgermeister am Montag.</p>"
    "</body></html>"
).encode("iso-8859-1")


def test_decode_html_honours_iso_8859_1_meta_charset() -> None:
    assert "Grüße aus Köln" in decode_html(_LATIN1_PAGE)


def test_decode_html_honours_declared_encoding() -> None:
    body = "<p>Größe</p>".encode("iso-8859-1")
    assert decode_html(body, "iso-8859-1") == "<p>Größe</p>"
    assert decode_html(body, "text/html; charset=ISO-8859-1") == "<p>Größe</p>"


def test_decode_html_prefers_valid_utf8_over_a_stale_declaration() -> None:
    # A page re-encoded to UTF-8 that still declares iso-8859-1 (seen on a real publisher page).
    body = '<meta charset="iso-8859-1"><p>für Größe</p>'.encode()
    assert decode_html(body).endswith("<p>für Größe</p>")


def test_decode_html_falls_back_to_windows_1252_without_declaration() -> None:
    page = "<p>Grüße \u2013 bis bald</p>"  # the en dash is 0x96 in cp1252, unused in latin-1
    assert decode_html(page.encode("cp1252")) == page


def test_extract_article_decodes_iso_8859_1_bytes() -> None:
    got = extract_article(_LATIN1_PAGE, "https://example.org/koeln")
    assert got.title == "Grüße aus Köln"
    assert "Fußgänger" in got.text


# --- the shared real news pages ------------------------------------------------------------------

# Titles: JSON-LD's headline comes first (measured best: 109 of 134 against 107 for og:title
# first). These publishers put a different (SEO) headline into JSON-LD than into og:title /
# <h1>, and the fundus truth follows the other one; no single precedence gets both kinds right.
_SEO_HEADLINE = "JSON-LD headline differs from the og:title/<h1> headline the truth took"
TITLE_KNOWN_MISSES: dict[str, str] = {
    "fundus-ch-SRF-2024-04-15": "no JSON-LD; og:title carries a kicker the truth drops",
    "fundus-ch-TagesAnzeiger-2024-09-04": _SEO_HEADLINE,
    "fundus-ch-TagesAnzeiger-2026-05-18": _SEO_HEADLINE,
    "fundus-ch-ZwanzigMinuten-2025-11-06": _SEO_HEADLINE,
    "fundus-de-BusinessInsiderDE-2024-01-29": _SEO_HEADLINE,
    "fundus-de-FAZ-2023-04-28": _SEO_HEADLINE,
    "fundus-de-Kicker-2024-04-26": _SEO_HEADLINE,
    "fundus-de-MDR-2026-07-08": _SEO_HEADLINE,
    "fundus-de-NTV-2023-04-28": _SEO_HEADLINE,
    "fundus-de-NTV-2024-08-05": _SEO_HEADLINE,
    "fundus-de-NTV-2025-12-12": _SEO_HEADLINE,
    "fundus-de-RheinischePost-2024-04-21": _SEO_HEADLINE,
    "fundus-de-SpiegelOnline-2023-04-28": _SEO_HEADLINE,
    "fundus-de-Stern-2023-04-28": _SEO_HEADLINE,
    "fundus-de-Stern-2024-11-05": _SEO_HEADLINE,
    "fundus-de-StuttgarterZeitung-2025-10-25": _SEO_HEADLINE,
    "fundus-de-TOnline-2026-04-15": "truth matches none of JSON-LD, og:title, <title>, <h1>",
    "fundus-de-ZDF-2025-11-07": _SEO_HEADLINE,
    "fundus-uk-DailyMail-2024-04-27": _SEO_HEADLINE,
    "fundus-uk-EveningStandard-2024-10-24": _SEO_HEADLINE,
    "fundus-uk-Express-2024-07-18": _SEO_HEADLINE,
    "fundus-uk-TheTelegraph-2024-09-17": _SEO_HEADLINE,
    "fundus-us-BusinessInsider-2025-04-01": _SEO_HEADLINE,
    "fundus-us-LATimes-2023-06-26": _SEO_HEADLINE,
    "fundus-us-TechCrunch-2024-05-17": "JSON-LD has curly quotes, truth og:title straight ones",
}
PUBLISHED_KNOWN_MISSES: dict[str, str] = {
    "fundus-de-AFPFaktencheck-2026-05-24": "no date markup; htmldate finds 15:44:29+02:00, "
    "the truth 15:44 without a zone",
    "fundus-de-DW-2023-04-28": "no date markup; htmldate takes 24 April from a photo caption",
    "fundus-de-Hessenschau-2024-04-27": "truth cut to the minute; JSON-LD has 07:39:18.751",
    "fundus-de-KlasseGegenKlasse-2026-01-07": "truth reads 06.01.2026 as 1 June (crawled 7 Jan)",
    "fundus-de-RBB24-2024-04-25": "the time is only in a tracking script; we find the date only",
}
# German pages under the body floor; each still has to reach _KNOWN_MISS_F1.
BODY_KNOWN_MISSES: dict[str, str] = {
    "fundus-de-Gamestar-2024-04-28": "the truth leaves out the article's bullet lists",
    "fundus-de-Taz-2024-10-23": "a donation appeal box is taken as body; drop cap splits a word",
    "fundus-de-WinFuture-2024-04-29": "trafilatura takes the right sidebar and misses the teaser",
}
LANGUAGE_KNOWN_MISSES: dict[str, str] = {
    "aeb-42aad16bde92": "the page declares no language; the truth was chosen by reading it",
    "aeb-d605bdef2cde": "the page declares no language; the truth was chosen by reading it",
}
_GERMAN_F1 = 0.8
_OTHER_F1 = 0.6  # a regression guard: the lowest non-German page is at 0.64
_KNOWN_MISS_F1 = 0.7


def _truths() -> list[dict[str, Any]]:
    if not ARTICLES.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(ARTICLES.glob("*.json"))]


_TRUTHS = {truth["id"]: truth for truth in _truths()}


@functools.cache
def _extracted(page_id: str) -> Extracted:
    truth = _TRUTHS[page_id]
    html = gzip.decompress((NEWS / truth["html_file"]).read_bytes())
    return extract_article(html, truth["url"])


def _ids(field: str) -> list[str]:
    return [page_id for page_id, truth in _TRUTHS.items() if truth.get(field)]


def _check(page_id: str, ok: bool, known: dict[str, str], what: str) -> None:
    if page_id in known:
        assert not ok, f"{page_id}: known {what} miss now passes, remove it from the list"
    else:
        assert ok, f"{page_id}: {what} differs from the truth"


def _token_f1(predicted: str, truth: str) -> float:
    """Bag-of-whitespace-tokens F1, as the article-extraction-benchmark scores bodies."""
    pred, true = (
        Counter(predicted.translate(_INVISIBLE).split()),
        Counter(truth.translate(_INVISIBLE).split()),
    )
    common = sum((pred & true).values())
    if not common:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(true.values())
    return 2 * precision * recall / (precision + recall)


def _same_published(got: datetime | None, truth: str) -> bool:
    """Same instant; for a date-only truth the same date; for a naive truth time, the same
    instant read as UTC or the same wall-clock time (the truth dropped the page's zone)."""
    if got is None:
        return False
    want = datetime.fromisoformat(truth)
    if want.tzinfo is not None:
        return got == want
    if want.time() == datetime.min.time():
        return got.date() == want.date()
    wall = got.replace(tzinfo=None)
    if want.microsecond == 0:
        wall = wall.replace(microsecond=0)
    return got == want.replace(tzinfo=UTC) or wall == want


@needs_news
def test_every_shared_page_is_extracted() -> None:
    assert len(_TRUTHS) >= 150
    for page_id in _TRUTHS:
        assert _extracted(page_id).text, page_id


@needs_news
@pytest.mark.parametrize("page_id", _ids("title"))
def test_shared_page_title(page_id: str) -> None:
    title = _extracted(page_id).title
    assert title
    _check(page_id, _norm(title) == _norm(_TRUTHS[page_id]["title"]), TITLE_KNOWN_MISSES, "title")


@needs_news
@pytest.mark.parametrize("page_id", _ids("date"))
def test_shared_page_published(page_id: str) -> None:
    published = _extracted(page_id).published
    assert published is not None
    assert published.tzinfo is not None
    ok = _same_published(published, _TRUTHS[page_id]["date"])
    _check(page_id, ok, PUBLISHED_KNOWN_MISSES, "published")


@needs_news
@pytest.mark.parametrize("page_id", _ids("body"))
def test_shared_page_body(page_id: str) -> None:
    truth = _TRUTHS[page_id]
    f1 = _token_f1(_extracted(page_id).text, truth["body"])
    if page_id in BODY_KNOWN_MISSES:
        assert _KNOWN_MISS_F1 <= f1 < _GERMAN_F1, f"{page_id}: F1 {f1:.3f}"
    else:
        floor = _GERMAN_F1 if truth["language"] == "de" else _OTHER_F1
        assert f1 >= floor, f"{page_id}: F1 {f1:.3f}"


@needs_news
@pytest.mark.parametrize("page_id", _ids("language"))
def test_shared_page_language(page_id: str) -> None:
    language = _extracted(page_id).language
    ok = language == _TRUTHS[page_id]["language"]
    _check(page_id, ok, LANGUAGE_KNOWN_MISSES, "language")
    if page_id in LANGUAGE_KNOWN_MISSES:
        assert language is None
