"""`newshound once` over a local site holding every real page in ../shared/data/news (and the
seed article): the alerts are exactly the articles whose ground truth holds the topic's words."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import newshound, write_config
from tests.servers import SHARED_MISSING, SHARED_NEWS, NewsSite, Receiver, shared_pages

pytestmark = pytest.mark.skipif(not SHARED_NEWS.is_dir(), reason=SHARED_MISSING)

TOPICS = {
    "kim-putin-waffen": "Kim Putin Waffen*",
    "putin-russland": "Putin Russland*",
    "nordkorea": "Nordkorea*",
}


def _words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return set(re.findall(r"\w+", folded))


def reference_match(query: str, truth: dict[str, Any]) -> bool:
    """The all-words rule applied to the ground-truth title and body, independently of newshound."""
    words = _words(f"{truth.get('title') or ''} {truth.get('body') or ''}")
    for term in query.split():
        stem = next(iter(_words(term.rstrip("*"))))
        if term.endswith("*"):
            if not any(w.startswith(stem) for w in words):
                return False
        elif stem not in words:
            return False
    return True


def test_once_over_every_shared_page(tmp_path: Path, site: NewsSite, receiver: Receiver) -> None:
    expected: dict[str, set[str]] = {name: set() for name in TOPICS}
    for page, truth in shared_pages():
        url = site.add(page)
        for name, query in TOPICS.items():
            if reference_match(query, truth):
                expected[name].add(url)
    assert expected["kim-putin-waffen"] == {f"{site.base}/seed.html"}
    assert len(expected["putin-russland"]) >= 3

    config = write_config(
        tmp_path,
        {
            "sources": [{"name": "shared", "feed": f"{site.base}/feed.xml"}],
            "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
            "topics": [
                {"name": name, "query": query, "notify": ["hook"]} for name, query in TOPICS.items()
            ],
        },
    )
    # At most 100 new articles a poll: the rest come with the next one, nothing is lost.
    pages = len(site.pages)
    result = newshound(config, "once", timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{pages} entries, {min(pages, 100)} new" in result.stdout
    second = newshound(config, "once", timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"{pages} entries, {max(pages - 100, 0)} new" in second.stdout
    total = sum(len(v) for v in expected.values())
    posts = receiver.wait_for(total)
    got: dict[str, set[str]] = {name: set() for name in TOPICS}
    for post in posts:
        topic = post["title"].split(":", 1)[0].removeprefix("[newshound] ")
        got[topic].add(post["message"].strip().splitlines()[-1])
    assert got == expected, result.stdout + second.stdout
    assert len(posts) == total  # once each
    assert all(site.fetched(path) == 1 for path in site.pages)
