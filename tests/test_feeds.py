"""Feed parsing on bytes (real feeds from ../shared, small ones of our own) and canonical URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.spiders.feed import parse_feed
from crawler.urls import canonical_url
from tests.servers import SHARED_MISSING, SHARED_NEWS

FEEDS = SHARED_NEWS / "feeds"
needs_shared = pytest.mark.skipif(not FEEDS.is_dir(), reason=SHARED_MISSING)

RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title> Kim trifft Putin </title><link>https://example.org/a?utm_source=rss#top</link>
<pubDate>Tue, 12 Sep 2023 08:00:00 +0200</pubDate></item>
<item><title>Same again</title><link>https://example.org/a?utm_medium=x</link></item>
<item><title>GUID only</title><guid isPermaLink="true">https://example.org/b</guid></item>
<item><title>No link at all</title></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>t</title><id>urn:x</id><updated>2023-09-12T06:00:00Z</updated>
<entry><title>Eintrag</title><id>urn:1</id><link href="https://example.org/c"/>
<updated>2023-09-12T06:00:00Z</updated></entry></feed>"""


def test_rss_entries_are_canonical_and_deduplicated() -> None:
    entries, problem = parse_feed(RSS)
    assert problem == ""
    assert [(e.url, e.title) for e in entries] == [
        ("https://example.org/a", "Kim trifft Putin"),
        ("https://example.org/b", "GUID only"),
    ]
    assert entries[0].published == datetime(2023, 9, 12, 6, 0, tzinfo=UTC)


def test_atom_entry() -> None:
    [entry], problem = parse_feed(ATOM)
    assert (entry.url, entry.published, problem) == (
        "https://example.org/c",
        datetime(2023, 9, 12, 6, 0, tzinfo=UTC),
        "",
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty response"),
        (b"   \n", "empty response"),
        (b"<html><body><p>Wartungsarbeiten</p></body></html>", "not an RSS, RDF or Atom feed"),
        (b"%PDF-1.7 \x00\x01\x02", "not an RSS, RDF or Atom feed"),
    ],
)
def test_what_is_no_feed_is_one_clear_problem(body: bytes, problem: str) -> None:
    entries, found = parse_feed(body)
    assert entries == [] and found.startswith(problem)


def test_empty_feed_is_not_a_problem() -> None:
    assert parse_feed(b"<rss version='2.0'><channel><title>t</title></channel></rss>") == ([], "")


def test_truncated_feed_keeps_the_entries_it_has() -> None:
    entries, problem = parse_feed(RSS[: RSS.index(b"<item><title>GUID")])
    assert problem == "" and [e.url for e in entries] == ["https://example.org/a"]


def test_billion_laughs_is_refused() -> None:
    # Ten levels of tenfold expansion would be 10 GB of text; expat stops it.
    levels = [b'<!ENTITY l0 "ha">'] + [
        b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10) for n in range(1, 11)
    ]
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [' + b"".join(levels) + b"]>"
        b"<rss version='2.0'><channel><item><title>&l10;</title>"
        b"<link>https://example.org/x</link></item></channel></rss>"
    )
    entries, _ = parse_feed(bomb)
    assert all(len(e.title or "") < 1_000_000 for e in entries)


@needs_shared
@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("heise-online-news.rdf", 60),
        ("golem-de.rss2.iso-8859-1.xml", 40),
        ("bbc-urdu.rss2.xml", 26),
        ("cnn-hp-hero.rss2.xml", 69),
        ("korea-times.rss2.xml", 195),
        ("bbc-chinese.atom", 2),
        ("nasa-breaking-news.rss2.xml", 10),
    ],
)
def test_real_feeds(name: str, count: int) -> None:
    entries, problem = parse_feed((FEEDS / name).read_bytes())
    assert problem == ""
    assert len(entries) == count
    assert all(e.url.startswith(("http://", "https://")) and "#" not in e.url for e in entries)


@needs_shared
def test_iso_8859_1_feed_decodes_umlauts() -> None:
    entries, _ = parse_feed((FEEDS / "golem-de.rss2.iso-8859-1.xml").read_bytes())
    titles = " ".join(e.title or "" for e in entries)
    assert any(ch in titles for ch in "äöüÄÖÜß")
    assert "\ufffd" not in titles and "Ã" not in titles


@needs_shared
def test_heise_tracking_parameter_is_dropped() -> None:
    entries, _ = parse_feed((FEEDS / "heise-online-news.rdf").read_bytes())
    assert entries[0].url == (
        "https://www.heise.de/newsticker/meldung/"
        "OLED-TVs-Vorsichtsmassnahmen-gegen-Einbrennen-4205274.html"
    )


@needs_shared
def test_sitemap_is_reported_as_no_feed() -> None:
    entries, problem = parse_feed((FEEDS / "sitemaps-org.sitemap.xml").read_bytes())
    assert entries == [] and problem == "not an RSS, RDF or Atom feed"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Example.org/a?utm_source=x&utm_medium=y", "https://example.org/a"),
        ("https://example.org/a#comments", "https://example.org/a"),
        ("https://example.org/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
        ("https://example.org/a?id=7&fbclid=abc&gclid=def", "https://example.org/a?id=7"),
        ("https://example.org/a?wt_mc=rss.ho.beitrag.rdf", "https://example.org/a"),
        ("https://example.org/a?ref=home&x=1", "https://example.org/a?x=1"),
        ("  https://example.org/ä  ", "https://example.org/%C3%A4"),
        ("https://example.org/a?reference=1", "https://example.org/a?reference=1"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (
            [
                "http://www.fr.de/politik/kim-putin-92513541.html",
                "https://m.fr.de/politik/kim-putin-92513541.html?utm_source=x",
                "https://amp.fr.de/politik/kim-putin-92513541.html",
                "https://www.fr.de/politik/kim-putin-92513541.amp.html",
                "https://www.fr.de/politik/kim-putin-92513541.html/",
                "https://www.fr.de/politik/kim-putin-92513541.html#kommentare",
            ],
            "https://fr.de/politik/kim-putin-92513541.html",
        ),
        (
            [
                "https://www.spiegel.de/amp/politik/kim-a-1f2e",
                "https://www.spiegel.de/politik/kim-a-1f2e/amp",
                "https://www.spiegel.de/politik/kim-a-1f2e?amp=1&outputType=amp",
                "https://www2.spiegel.de/politik/kim-a-1f2e/",
            ],
            "https://spiegel.de/politik/kim-a-1f2e",
        ),
    ],
)
def test_identity_url_folds_editions_of_one_page(variants: list[str], key: str) -> None:
    from crawler.urls import identity_url

    assert {identity_url(v) for v in variants} == {key}


def test_identity_url_keeps_what_tells_pages_apart() -> None:
    from crawler.urls import identity_url

    assert identity_url("https://x.de/a?id=1") != identity_url("https://x.de/a?id=2")
    assert (
        identity_url("https://x.de/sport/amp-stadion-neu") == "https://x.de/sport/amp-stadion-neu"
    )
    assert identity_url("https://news.x.de/a") != identity_url("https://x.de/a")
