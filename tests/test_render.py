"""Alert rendering: subject, chat text and HTML, escaping, fallbacks and the JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerts.render import SUBJECT_MAX_CHARS, AlertContent, Message, render
from alerts.topics import Query, TopicMatcher

URL = "https://www.fr.de/politik/waffendeal-putin-kim-92514741.html"


def content(**changes: object) -> AlertContent:
    fields: dict[str, object] = {
        "topic": "kim-putin-waffen",
        "title": "Waffendeal: Was handelt Putin mit Kim aus?",
        "url": URL,
        "outlet": "Frankfurter Rundschau",
        "published": datetime(2023, 9, 12, 14, 5, tzinfo=UTC),
        "terms": ("Kim", "Putin", "Waffendeal"),
        "snippets": (
            "Wahrscheinlich treffen sich Kim und Putin heute.",
            "Der Waffendeal steht.",
        ),
    }
    fields.update(changes)
    return AlertContent(**fields)  # type: ignore[arg-type]


def test_subject_names_topic_and_title() -> None:
    assert render(content()).subject == (
        "[newshound] kim-putin-waffen: Waffendeal: Was handelt Putin mit Kim aus?"
    )


def test_subject_is_one_line_cut_at_a_word() -> None:
    title = "Ein sehr langer Titel\nüber zwei Zeilen " + "und noch mehr Wörter " * 20
    subject = render(content(title=title)).subject
    assert "\n" not in subject
    assert subject.startswith("[newshound] kim-putin-waffen: Ein sehr langer Titel über zwei")
    assert len(subject) <= SUBJECT_MAX_CHARS
    assert subject.endswith("…")
    assert subject[:-1] in " ".join(f"[newshound] kim-putin-waffen: {title}".split())
    assert not subject[:-1].endswith(" ")


def test_text_has_title_source_terms_highlighted_snippets_and_link() -> None:
    text = render(content()).text
    assert text == (
        "Waffendeal: Was handelt Putin mit Kim aus?\n"
        "Frankfurter Rundschau · 2023-09-12 14:05 UTC\n"
        "\n"
        "Matched: Kim, Putin, Waffendeal\n"
        "\n"
        "> Wahrscheinlich treffen sich *Kim* und *Putin* heute.\n"
        "\n"
        "> Der *Waffendeal* steht.\n"
        "\n"
        f"{URL}\n"
    )


def test_published_time_is_shown_in_utc() -> None:
    berlin = datetime(2023, 9, 12, 16, 5, tzinfo=timezone(timedelta(hours=2)))
    assert "Frankfurter Rundschau · 2023-09-12 14:05 UTC" in render(content(published=berlin)).text
    naive = datetime(2023, 9, 12, 16, 5)  # zone unknown: no zone claimed
    assert "Frankfurter Rundschau · 2023-09-12 16:05\n" in render(content(published=naive)).text


def test_published_none_and_no_outlet() -> None:
    text = render(content(published=None)).text
    assert text.splitlines()[:3] == [
        "Waffendeal: Was handelt Putin mit Kim aus?",
        "Frankfurter Rundschau",
        "",
    ]
    text = render(content(published=None, outlet="")).text
    assert text.splitlines()[:3] == [
        "Waffendeal: Was handelt Putin mit Kim aus?",
        "",
        "Matched: Kim, Putin, Waffendeal",
    ]


def test_html_has_the_same_content_with_marks_and_links() -> None:
    body = render(content()).html
    assert f'<a href="{URL}">Waffendeal: Was handelt Putin mit Kim aus?</a>' in body
    assert "Frankfurter Rundschau · 2023-09-12 14:05 UTC" in body
    assert "<p>Matched: Kim, Putin, Waffendeal</p>" in body
    assert (
        "<blockquote>Wahrscheinlich treffen sich <mark>Kim</mark> und <mark>Putin</mark> heute."
        "</blockquote>" in body
    )
    assert "<blockquote>Der <mark>Waffendeal</mark> steht.</blockquote>" in body
    assert f'<p><a href="{URL}">{URL}</a></p>' in body


def test_html_escapes_everything_from_the_page() -> None:
    hostile = content(
        title="<script>alert(1)</script> Kim & Putin",
        outlet='"Outlet" <b>',
        url='https://evil.example/?a=1&b="><script>x</script>',
        terms=("<Kim>",),
        snippets=("<img src=x onerror=alert(1)> Kim & Putin </blockquote>",),
    )
    body = render(hostile).html
    assert "<script>" not in body
    assert "<img" not in body
    assert "<b>" not in body
    assert body.count("</blockquote>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kim &amp; Putin" in body
    assert 'href="https://evil.example/?a=1&amp;b=&quot;&gt;&lt;script&gt;' in body
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>Kim</mark> &amp; Putin" in body
    assert "Matched: &lt;Kim&gt;" in body
    # Plain text is not HTML: it keeps the characters as they are.
    assert render(hostile).text.startswith("<script>alert(1)</script> Kim & Putin\n")


def test_html_does_not_link_non_http_urls() -> None:
    body = render(content(url="javascript:alert(document.cookie)", title="")).html
    assert "href" not in body
    assert "javascript:alert(document.cookie)" in body


def test_empty_title_falls_back_to_the_url() -> None:
    message = render(content(title="  \n "))
    assert message.subject == f"[newshound] kim-putin-waffen: {URL}"
    assert message.text.startswith(f"{URL}\nFrankfurter Rundschau")
    assert f'<a href="{URL}">{URL}</a>' in message.html


def test_nothing_at_all_still_renders_something() -> None:
    empty = AlertContent(
        topic="", title="", url="", outlet="", published=None, terms=(), snippets=()
    )
    message = render(empty)
    assert message.subject == "[newshound] (untitled article)"
    assert message.text == "(untitled article)\n"
    assert message.html.strip()


def test_repeated_terms_are_listed_once() -> None:
    assert "Matched: Kim, Putin\n" in render(content(terms=("Kim", "Putin", "Kim"))).text


def test_json_round_trip() -> None:
    original = content()
    data = json.loads(json.dumps(original.to_json()))
    assert data["published"] == "2023-09-12T14:05:00+00:00"
    assert AlertContent.from_json(data) == original


def test_json_round_trip_without_published() -> None:
    original = content(published=None, snippets=())
    data = json.loads(json.dumps(original.to_json()))
    assert data["published"] is None
    assert AlertContent.from_json(data) == original


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("topic", None, "alert content: 'topic' must be a string"),
        ("terms", "Kim", "alert content: 'terms' must be a list of strings"),
        ("snippets", [1], "alert content: 'snippets' must be a list of strings"),
        ("published", "yesterday", "alert content: 'published' must be an ISO 8601 string or null"),
    ],
)
def test_from_json_names_the_bad_field(key: str, value: object, message: str) -> None:
    data = content().to_json()
    data[key] = value
    with pytest.raises(ValueError, match=f"^{message}$"):
        AlertContent.from_json(data)


def test_render_from_a_real_match() -> None:
    matcher = TopicMatcher([("kim-putin-waffen", Query.parse("Kim Putin Waffen*"))])
    title = "Gipfel in Wladiwostok"
    text = "Kim Jong-un traf Putin. Es ging um Waffenlieferungen und <Munition>."
    ((topic, hit),) = matcher.match(title, text)
    alert = AlertContent(
        topic=topic,
        title=title,
        url=URL,
        outlet="Frankfurter Rundschau",
        published=None,
        terms=hit.terms,
        snippets=hit.snippets,
    )
    message: Message = render(AlertContent.from_json(json.loads(json.dumps(alert.to_json()))))
    assert "Matched: Kim, Putin, Waffenlieferungen" in message.text
    assert "> *Kim* Jong-un traf *Putin*." in message.text
    assert "> Es ging um *Waffenlieferungen* und <Munition>." in message.text
    assert "um <mark>Waffenlieferungen</mark> und &lt;Munition&gt;." in message.html
