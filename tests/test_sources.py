"""Every kind of source against a local site, and the politeness rules: conditional GET,
robots.txt, Retry-After, include/exclude, language, adaptive polling."""

from __future__ import annotations

import gzip
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.middlewares import retry_after
from crawler.schedule import next_interval
from crawler.spiders.page import looks_like_article
from crawler.spiders.sitemap import parse_sitemap
from tests.conftest import newshound, start_daemon, write_config
from tests.servers import NewsSite

KIM = {"name": "kim", "query": "Kim Putin Waffen*"}
GIPFEL = "/news/01-kim-putin-gipfel.html"
WIRTSCHAFT = "/news/02-putin-wirtschaft.html"
HARBOUR = "/news/03-harbour-weather.html"
MUNITION = "/news/04-kim-putin-munition.html"


def run(tmp_path: Path, source: dict[str, object], **extra: object) -> str:
    config = write_config(
        tmp_path, {"sources": [{"name": "src", **source}], "topics": [KIM], **extra}
    )
    result = newshound(config, "once")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


def fetched(site: NewsSite) -> set[str]:
    return {p for p in site.pages if site.fetched(p)}


def news_sitemap(site: NewsSite, entries: list[tuple[str, datetime]]) -> bytes:
    urls = "".join(
        f"<url><loc>{site.base}{path}</loc><news:news><news:publication>"
        "<news:name>Testzeitung</news:name><news:language>de</news:language>"
        f"</news:publication><news:publication_date>{when.isoformat()}"
        "</news:publication_date><news:title>T</news:title></news:news></url>"
        for path, when in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{urls}</urlset>"
    ).encode()


# -- sitemaps ------------------------------------------------------------------------------


def test_news_sitemap_index_gzip_fetches_only_recent_entries(
    tmp_path: Path, fixture_site: NewsSite
) -> None:
    now = datetime.now(UTC)
    fixture_site.extra["/news-sitemap.xml.gz"] = gzip.compress(
        news_sitemap(
            fixture_site,
            [(GIPFEL, now - timedelta(hours=1)), (WIRTSCHAFT, now - timedelta(days=9))],
        )
    )
    fixture_site.extra["/sitemap-index.xml"] = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{fixture_site.base}/news-sitemap.xml.gz</loc>"
        f"<lastmod>{now.isoformat()}</lastmod></sitemap>"
        f"<sitemap><loc>{fixture_site.base}/old-sitemap.xml</loc>"
        "<lastmod>2019-01-01T00:00:00+00:00</lastmod></sitemap></sitemapindex>"
    ).encode()
    out = run(tmp_path, {"sitemap": f"{fixture_site.base}/sitemap-index.xml"})
    assert "src: 1 entries, 1 new, 1 stored, 1 alerts" in out
    assert fetched(fixture_site) == {GIPFEL}
    assert fixture_site.fetched("/old-sitemap.xml") == 0  # an old child sitemap is not read


def test_parse_sitemap_reads_news_fields_and_survives_damage(site: NewsSite) -> None:
    when = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    [entry] = parse_sitemap(news_sitemap(site, [(GIPFEL, when)]))[1]
    assert (entry.url, entry.date, entry.title, entry.language) == (
        f"{site.base}{GIPFEL}",
        when,
        "T",
        "de",
    )
    kind, entries = parse_sitemap(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://example.org/a</loc><lastmod>2026-11-27</lastmod></url>"
        b"<url><loc>javascript:alert(1)</loc></url><url><loc>https://example.org/b"
    )
    assert kind == "urlset"
    # What could be read is kept, the truncated last entry included (it has no date, so a
    # source would not fetch it); the javascript: one is not a page.
    assert [(e.url, e.date) for e in entries] == [
        ("https://example.org/a", datetime(2026, 11, 27, tzinfo=UTC)),
        ("https://example.org/b", None),
    ]
    assert parse_sitemap(b"<html><body>no</body></html>")[0] == ""


def test_sitemap_is_read_from_shared_gzip_file(tmp_path: Path, site: NewsSite) -> None:
    from tests.servers import SHARED_MISSING, SHARED_NEWS

    if not SHARED_NEWS.is_dir():
        pytest.skip(SHARED_MISSING)
    plain = (SHARED_NEWS / "feeds" / "sitemaps-org.sitemap.xml").read_bytes()
    packed = (SHARED_NEWS / "feeds" / "sitemaps-org.sitemap.xml.gz").read_bytes()
    kind, entries = parse_sitemap(plain)
    assert kind == "urlset" and len(entries) > 5
    assert parse_sitemap(gzip.decompress(packed)) == (kind, entries)
    # All its entries are years old: a sitemap source fetches none of them.
    site.extra["/sitemap.xml.gz"] = packed
    out = run(tmp_path, {"sitemap": f"{site.base}/sitemap.xml.gz"})
    assert "src: 0 entries, 0 new" in out


# -- listing pages -------------------------------------------------------------------------

LISTING = """<!DOCTYPE html><html><head><title>Politik</title></head><body>
<header><nav><a href="/">Start</a> <a href="/politik/">Politik</a>
<a href="/news/99-nav-link-kim-putin.html">Top</a></nav></header>
<main>
<a class="teaser" href="{gipfel}">Kim und Putin</a>
<a href="{wirtschaft}?utm_source=home">Putin lobt</a>
<a href="{harbour}#comments">Storm</a>
<a href="/tag/putin/">Thema Putin</a>
<a href="/autor/erika-beispiel-von-der-zeitung/">Erika Beispiel</a>
<a href="https://elsewhere.example.org/news/some-other-story-about-kim.html">extern</a>
</main>
<footer><a href="/impressum/kontakt-und-redaktion-seite.html">Impressum</a></footer>
</body></html>"""


@pytest.fixture
def listing_site(fixture_site: NewsSite) -> NewsSite:
    fixture_site.extra["/politik/"] = LISTING.format(
        gipfel=GIPFEL, wirtschaft=WIRTSCHAFT, harbour=HARBOUR
    ).encode()
    return fixture_site


def test_listing_page_follows_article_links_only(tmp_path: Path, listing_site: NewsSite) -> None:
    out = run(tmp_path, {"page": f"{listing_site.base}/politik/"})
    assert "src: 3 entries, 3 new, 3 stored, 1 alerts" in out
    assert fetched(listing_site) == {GIPFEL, WIRTSCHAFT, HARBOUR}
    assert not any(r.startswith(("/tag/", "/autor/", "/impressum")) for r in listing_site.requests)


def test_listing_page_with_css_selector(tmp_path: Path, listing_site: NewsSite) -> None:
    out = run(tmp_path, {"page": f"{listing_site.base}/politik/", "links": "main a.teaser"})
    assert "src: 1 entries, 1 new, 1 stored, 1 alerts" in out
    assert fetched(listing_site) == {GIPFEL}


@pytest.mark.parametrize(
    ("url", "article"),
    [
        ("https://www.fr.de/politik/waffendeal-was-handelt-putin-mit-kim-aus-92513541.html", True),
        ("https://www.tagesschau.de/ausland/asien/nordkorea-russland-102.html", True),
        ("https://www.spiegel.de/ausland/kim-jong-un-trifft-putin-a-8f1c-4e2b", True),
        ("https://www.zeit.de/politik/ausland/2023-09/kim-jong-un-putin-treffen", True),
        ("https://www.fr.de/politik/", False),
        ("https://www.fr.de/", False),
        ("https://www.zeit.de/thema/nordkorea", False),
        ("https://www.fr.de/autor/stefan-scholl/", False),
    ],
)
def test_article_like_urls(url: str, article: bool) -> None:
    import re

    from crawler.spiders.page import NOT_ARTICLES

    shaped = looks_like_article(url) and not re.search(NOT_ARTICLES, url)
    assert shaped == article


# -- site discovery ------------------------------------------------------------------------


def test_site_uses_the_feed_its_homepage_announces(tmp_path: Path, fixture_site: NewsSite) -> None:
    fixture_site.extra["/"] = (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        b"</head><body><p>Start</p></body></html>"
    )
    out = run(tmp_path, {"site": f"{fixture_site.base}/"})
    assert "src: 3 entries, 3 new, 3 stored, 1 alerts" in out
    discover = newshound(tmp_path / "config.yaml", "discover", f"{fixture_site.base}/")
    assert discover.returncode == 0, discover.stderr
    assert f"feeds: {fixture_site.base}/feed.xml" in discover.stdout
    assert "a site: source polls the feeds" in discover.stdout


def test_site_falls_back_to_robots_sitemap(tmp_path: Path, fixture_site: NewsSite) -> None:
    fixture_site.extra["/"] = b"<html><body><p>Start</p></body></html>"
    fixture_site.extra["/robots.txt"] = (
        f"User-agent: *\nDisallow:\nSitemap: {fixture_site.base}/news-sitemap.xml\n"
    ).encode()
    fixture_site.extra["/news-sitemap.xml"] = news_sitemap(
        fixture_site, [(MUNITION, datetime.now(UTC) - timedelta(minutes=5))]
    )
    out = run(tmp_path, {"site": f"{fixture_site.base}/"})
    assert "src: 1 entries, 1 new, 1 stored, 1 alerts" in out
    assert fetched(fixture_site) == {MUNITION}


def test_discover_names_an_unreachable_site(tmp_path: Path) -> None:
    from tests.servers import free_port

    result = newshound(tmp_path / "none.yaml", "discover", f"http://127.0.0.1:{free_port()}/")
    assert result.returncode == 1
    assert "cannot reach the site" in result.stderr and "Traceback" not in result.stderr


# -- politeness ----------------------------------------------------------------------------


def test_unchanged_feed_costs_one_304_and_no_article_twice(
    tmp_path: Path, fixture_site: NewsSite
) -> None:
    config = write_config(
        tmp_path,
        {"sources": [{"name": "src", "feed": f"{fixture_site.base}/feed.xml"}], "topics": [KIM]},
    )
    first = newshound(config, "once")
    assert "src: 3 entries, 3 new" in first.stdout
    before = list(fixture_site.requests)
    second = newshound(config, "once")
    assert "src: not modified (304)" in second.stdout, second.stdout
    # The second poll asked for the feed once (answered 304) and for nothing else:
    # robots.txt is fetched once per process, and no stored article again.
    assert fixture_site.requests[len(before) :] == ["/robots.txt", "/feed.xml"]
    assert fixture_site.not_modified == ["/feed.xml"]
    fixture_site.in_feed.insert(0, MUNITION)
    third = newshound(config, "once")
    assert "src: 4 entries, 1 new, 1 stored, 1 alerts" in third.stdout
    assert all(fixture_site.fetched(p) == 1 for p in (GIPFEL, WIRTSCHAFT, HARBOUR, MUNITION))


def test_robots_txt_is_obeyed(tmp_path: Path, fixture_site: NewsSite) -> None:
    fixture_site.extra["/robots.txt"] = b"User-agent: *\nDisallow: /news/02\n"
    out = run(tmp_path, {"feed": f"{fixture_site.base}/feed.xml"})
    assert "src: 3 entries, 3 new, 2 stored, 1 alerts (skipped: 1 article forbidden)" in out
    assert fixture_site.fetched(WIRTSCHAFT) == 0
    again = run(tmp_path, {"feed": f"{fixture_site.base}/feed.xml"})
    assert fixture_site.fetched(WIRTSCHAFT) == 0
    assert "0 new" in again or "not modified" in again


def test_user_agent_names_newshound_and_the_contact(tmp_path: Path, fixture_site: NewsSite) -> None:
    seen: list[str] = []
    original = fixture_site.handle

    def spy(handler):  # type: ignore[no-untyped-def]
        seen.append(handler.headers.get("User-Agent", ""))
        original(handler)

    fixture_site.handle = spy  # type: ignore[method-assign]
    run(
        tmp_path,
        {"feed": f"{fixture_site.base}/feed.xml"},
        crawl={"delay": 0, "contact": "desk@example.org"},
    )
    assert seen and all(ua.startswith("newshound/") and "+desk@example.org" in ua for ua in seen)


class _Status:
    def __init__(self, site: NewsSite, path: str, status: int, headers: dict[str, str]) -> None:
        self.calls = 0
        original = site.handle

        def handle(handler):  # type: ignore[no-untyped-def]
            if handler.path.split("?")[0] != path:
                return original(handler)
            self.calls += 1
            handler.send_response(status)
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        site.handle = handle  # type: ignore[method-assign]


def test_retry_after_backs_the_site_off(tmp_path: Path, fixture_site: NewsSite) -> None:
    feed = _Status(fixture_site, "/feed.xml", 429, {"Retry-After": "120"})
    out = run(tmp_path, {"feed": f"{fixture_site.base}/feed.xml"})
    assert "src: failed: feed" in out and "asked to wait until" in out
    assert feed.calls == 1  # not retried at once

    # In the daemon the wait holds across polls: polled every second, the site is asked once.
    config = write_config(
        tmp_path,
        {
            "sources": [{"name": "src", "feed": f"{fixture_site.base}/feed.xml"}],
            "every": "1s",
            "poll": {"min": "1s", "max": "1s"},
            "topics": [KIM],
        },
    )
    calls = feed.calls
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        time.sleep(5)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log.read_text()
    assert feed.calls - calls == 1, text
    assert text.count("asked to wait until") >= 2, text


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == now + timedelta(seconds=120)
    assert retry_after("Sat, 28 Nov 2026 12:05:00 GMT", now) == now + timedelta(minutes=5)
    assert retry_after("999999999", now) == now + timedelta(hours=24)
    assert retry_after("soon", now) is None and retry_after(None, now) is None


# -- filters -------------------------------------------------------------------------------


def test_include_and_exclude(tmp_path: Path, fixture_site: NewsSite) -> None:
    out = run(
        tmp_path,
        {
            "feed": f"{fixture_site.base}/feed.xml",
            "include": [r"/news/0[12]"],
            "exclude": "wirtschaft",
        },
    )
    assert "src: 3 entries, 1 new, 1 stored" in out
    assert fetched(fixture_site) == {GIPFEL}


def test_language_filter(tmp_path: Path, fixture_site: NewsSite) -> None:
    out = run(tmp_path, {"feed": f"{fixture_site.base}/feed.xml", "language": "en"})
    assert "src: 3 entries, 3 new, 1 stored, 0 alerts (skipped: 2 other language)" in out
    again = run(tmp_path, {"feed": f"{fixture_site.base}/feed.xml", "language": "en"})
    assert all(fixture_site.fetched(p) == 1 for p in (GIPFEL, WIRTSCHAFT, HARBOUR)), again


# -- adaptive polling ----------------------------------------------------------------------


def test_next_interval_adapts_within_bounds() -> None:
    bounds = {"base": 600.0, "low": 120.0, "high": 7200.0}
    assert next_interval(600, new=3, failed=False, **bounds) == 300
    assert next_interval(150, new=3, failed=False, **bounds) == 120
    assert next_interval(600, new=0, failed=False, **bounds) == 750
    assert next_interval(7000, new=0, failed=False, **bounds) == 7200
    assert next_interval(600, new=0, failed=True, **bounds) == 1200
    # An explicit `every` below the lower bound stays reachable.
    assert next_interval(60, new=5, failed=False, base=60, low=120, high=7200) == 60
