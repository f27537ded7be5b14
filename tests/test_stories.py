"""One alert per story: three outlets on three loopback addresses carry the same wire story
under several URLs each; topics hear of it once, with the other outlets listed later."""

from __future__ import annotations

import html
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import newshound, write_config
from tests.servers import NewsSite, Page, Receiver, fixture_pages

# A wire story written for these tests, as an agency would send it.
WIRE = [
    "Der nordkoreanische Machthaber Kim Jong-un ist zu einem Besuch in Russland eingetroffen. "
    "Sein gepanzerter Sonderzug erreichte am Morgen die Grenzstation Chassan, wie die "
    "Staatsagentur KCNA meldete.",
    "Kim will in der Hafenstadt Wladiwostok mit Präsident Wladimir Putin zusammentreffen. "
    "Nach Angaben des Kremls soll es um die Zusammenarbeit in Wirtschaft, Landwirtschaft und "
    "Verteidigung gehen.",
    "Westliche Geheimdienste erwarten, dass Russland Artilleriegranaten und Raketen aus "
    "nordkoreanischen Beständen kaufen will. Moskau braucht für den Krieg in der Ukraine "
    "große Mengen Munition, deren Produktion im eigenen Land nicht ausreicht.",
    "Im Gegenzug könnte Pjöngjang auf Nahrungsmittel, Öl und moderne Technik für Satelliten "
    "und U-Boote hoffen. Ein solcher Waffenhandel verstieße gegen mehrere Resolutionen des "
    "UN-Sicherheitsrats, denen auch Russland zugestimmt hat.",
    "Die Regierung in Washington warnte beide Länder vor einem Abkommen. Man werde nicht "
    "zögern, weitere Sanktionen zu verhängen, sagte ein Sprecher des Außenministeriums.",
    "Für Kim ist es die erste Auslandsreise seit mehr als vier Jahren. Zuletzt hatte er Putin "
    "im Frühjahr 2019 ebenfalls in Wladiwostok getroffen.",
    "Beobachter in Seoul sprechen von einem Zweckbündnis zweier isolierter Staaten. Beide "
    "Seiten könnten aus dem Treffen Vorteile ziehen, ohne einander wirklich zu vertrauen.",
]


def page(outlet: str, title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="og:site_name" content="{outlet}">'
        f'<meta property="og:title" content="{html.escape(title)}">'
        '<meta property="article:published_time" content="2026-11-27T08:00:00+01:00">'
        f"</head><body><header><nav><a href='/'>{outlet}</a></nav></header><main><article>"
        f"<h1>{html.escape(title)}</h1>{body}</article></main>"
        f"<footer>© {outlet}</footer></body></html>"
    ).encode()


@pytest.fixture
def outlets() -> Iterator[list[NewsSite]]:
    """Three outlets on three addresses, each with the wire story, lightly edited."""
    sites = [NewsSite(host=f"127.0.0.{n}") for n in (1, 2, 3)]
    now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    a, b, c = sites
    a.add(
        Page(
            "/politik/kim-in-russland-eingetroffen.html",
            page("Anzeiger", "Kim Jong-un in Russland eingetroffen", WIRE),
            "Kim in Russland",
            now,
        )
    )
    b.add(
        Page(
            "/ausland/kim-putin-treffen-wladiwostok-1234567.html",
            page(
                "Rundschau",
                "Treffen in Wladiwostok: Kim reist zu Putin",
                ["(dpa)", *WIRE[:5], "Mehr zum Thema: Nordkoreas Raketenprogramm", *WIRE[5:]],
            ),
            "Kim reist zu Putin",
            now,
        )
    )
    c.add(
        Page(
            "/welt/nordkorea-russland-waffen-kim-putin.html",
            page(
                "Kurier",
                "Waffen gegen Öl? Kim bei Putin",
                [*WIRE[:3], *WIRE[4:], "Mit Material von AFP und Reuters"],
            ),
            "Kim bei Putin",
            now,
        )
    )
    yield sites
    for site in sites:
        site.close()


def alert_rows(tmp_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(tmp_path / "newshound.db") as db:
        return db.execute("SELECT topic, channel, article_key FROM outbox ORDER BY id").fetchall()


def test_one_alert_per_story_across_outlets_and_url_variants(
    tmp_path: Path, outlets: list[NewsSite], receiver: Receiver
) -> None:
    a, b, c = outlets
    # The same articles again under URL variants: AMP and mobile editions, tracking, a slash.
    amp = "/amp/politik/kim-in-russland-eingetroffen.html"
    a.add(
        Page(
            amp,
            a.pages["/politik/kim-in-russland-eingetroffen.html"].body,
            "AMP",
            a.pages["/politik/kim-in-russland-eingetroffen.html"].published,
        )
    )
    config = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "anzeiger", "feed": f"{a.base}/feed.xml"},
                {"name": "rundschau", "feed": f"{b.base}/feed.xml"},
                {"name": "kurier", "feed": f"{c.base}/feed.xml"},
            ],
            "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
            "topics": [
                {"name": "kim-putin", "query": "Kim Putin", "notify": ["hook"], "copies": "digest"},
                {"name": "sanktionen", "query": "Sanktionen", "notify": ["hook"]},
            ],
            "stories": {"digest_every": "2s"},
        },
    )
    first = newshound(config, "once")
    assert first.returncode == 0, first.stderr
    posts = receiver.wait_for(2)
    time.sleep(1)
    assert len(receiver.posts) == 2, [p["title"] for p in receiver.posts]
    assert sorted(p["title"].split(":")[0] for p in posts) == [
        "[newshound] kim-putin",
        "[newshound] sanktionen",
    ]
    stored = first.stdout.count(" stored")
    assert stored and "3 new articles" in first.stdout, first.stdout  # all stored, as copies
    # The AMP edition at outlet A is the same article: stored once.
    assert sum(1 for _, _, key in alert_rows(tmp_path) if key.count(":") == 1) == 2

    # After the digest interval, one follow-up note names the two other outlets.
    time.sleep(2.5)
    second = newshound(config, "once")
    assert second.returncode == 0, second.stderr
    posts = receiver.wait_for(3)
    assert len(posts) == 3, [p["title"] for p in posts]
    note = posts[2]
    assert "also in 2 more outlets" in note["title"]
    first_outlet = next(
        name for name in ("Anzeiger", "Rundschau", "Kurier") if name not in note["message"]
    )
    assert first_outlet in posts[0]["message"] or first_outlet in posts[1]["message"]

    # A restart, a new copy at yet another URL of outlet B, and a different story.
    b.add(
        Page(
            "/m/ausland/kim-putin-treffen-wladiwostok-1234567.html?utm_source=x",
            b.pages["/ausland/kim-putin-treffen-wladiwostok-1234567.html"].body,
            "mobil",
            datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        )
    )
    munition = next(p for p in fixture_pages() if "munition" in p.path)
    c.add(munition)
    third = newshound(config, "once")
    assert third.returncode == 0, third.stderr
    # Only the different story is new: it matches both topics.
    posts = receiver.wait_for(5)
    time.sleep(1)
    assert len(receiver.posts) == 5, [p["title"] for p in receiver.posts]
    assert all("Munitionszüge" in p["title"] for p in receiver.posts[3:])


def test_related_but_different_stories_are_alerted_separately(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    fixture_site.in_feed.insert(0, "/news/04-kim-putin-munition.html")
    config = write_config(
        tmp_path,
        {
            "sources": [{"name": "t", "feed": f"{fixture_site.base}/feed.xml"}],
            "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
            "topics": [{"name": "k", "query": "Kim Putin", "notify": ["hook"]}],
        },
    )
    result = newshound(config, "once")
    assert result.returncode == 0, result.stderr
    assert len(receiver.wait_for(2)) == 2


def test_edited_article_is_a_revision_and_alerts_only_topics_that_ask(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    path = "/news/01-kim-putin-gipfel.html"
    config = write_config(
        tmp_path,
        {
            "sources": [{"name": "t", "feed": f"{fixture_site.base}/feed.xml"}],
            "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
            "topics": [
                {"name": "updates", "query": "Kim Putin", "notify": ["hook"], "on_update": "alert"},
                {"name": "quiet", "query": "Wladiwostok", "notify": ["hook"]},
            ],
        },
    )
    original = fixture_site.pages[path]
    fixture_site.pages[path] = replace(original, updated=original.published)
    assert newshound(config, "once").returncode == 0
    assert len(receiver.wait_for(2)) == 2

    # The outlet rewrites the headline and says so in its feed.
    edited = original.body.replace(
        b"Gipfel in Wladiwostok: Kim und Putin verhandeln \xc3\xbcber Waffen",
        b"Kim und Putin besiegeln Waffendeal in Wladiwostok",
    )
    fixture_site.pages[path] = replace(
        original, body=edited, updated=original.published + timedelta(hours=2)
    )
    second = newshound(config, "once")
    assert second.returncode == 0, second.stderr
    assert "1 revised" in second.stdout, second.stdout
    receiver.wait_for(3)
    time.sleep(1)
    assert len(receiver.posts) == 3, [p["title"] for p in receiver.posts]
    update = receiver.posts[2]
    assert (
        update["title"] == "[newshound] updates: Kim und Putin besiegeln Waffendeal in Wladiwostok"
    )
    assert "Updated (title changed); the headline was: Gipfel in Wladiwostok" in update["message"]
    assert fixture_site.fetched(path) == 2

    # Unchanged since: not fetched again, nothing sent.
    third = newshound(config, "once")
    assert third.returncode == 0
    time.sleep(0.5)
    assert len(receiver.posts) == 3 and fixture_site.fetched(path) == 2
    with sqlite3.connect(tmp_path / "newshound.db") as db:
        [(title, changed)] = db.execute("SELECT title, changed FROM article_revisions").fetchall()
    assert (title, changed) == (
        "Gipfel in Wladiwostok: Kim und Putin verhandeln über Waffen",
        "title",
    )
