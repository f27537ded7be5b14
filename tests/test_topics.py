"""Topic queries: the table in fixtures/queries.yaml, the matcher, snippets and highlighting."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.topics import (
    MAX_SNIPPETS,
    SNIPPET_MAX_CHARS,
    And,
    Document,
    Hit,
    Query,
    QueryError,
    Term,
    TopicMatcher,
    Word,
    highlight,
)

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "queries.yaml").read_text(encoding="utf-8")
)
SEED = Path(__file__).parents[1].parent / "shared" / "data" / "seed-article-fr-2023-09.txt"


def star(word: str) -> str:
    return f"*{word}*"


def match_one(query: str, text: str, title: str = "") -> list[tuple[str, Hit]]:
    return TopicMatcher([("t", Query.parse(query))]).match(title, text)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 150
    assert sum("error" in case for case in CASES) >= 50
    assert sum("snippets" in case for case in CASES) >= 50
    for key in ("url", "source", "authors", "lang", "title"):
        assert any(key in case for case in CASES), key


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i:03d}-{case['query'] or 'empty'}" for i, case in enumerate(CASES)]
)
def test_query_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(QueryError) as raised:
            Query.parse(case["query"])
        assert str(raised.value) == case["error"]
        return
    document = Document(
        title=case.get("title", ""),
        text=case["text"],
        url=case.get("url", ""),
        source=case.get("source", ""),
        authors=tuple(case.get("authors", ())),
        language=case.get("lang"),
    )
    hits = TopicMatcher([("t", Query.parse(case["query"]))]).match_document(document)
    assert bool(hits) is case["match"]
    if hits:
        ((_, hit),) = hits
        assert list(hit.terms) == case["terms"]
        if "snippets" in case:
            assert [highlight(s, hit.terms, star) for s in hit.snippets] == case["snippets"]


def test_parse_keeps_terms_in_order_with_their_spelling() -> None:
    query = Query.parse("  Kim\tPutin  Waffen* Köln Jong-un ")
    assert query.text == "  Kim\tPutin  Waffen* Köln Jong-un "
    default = frozenset({"title", "text"})

    def word(text: str, spelled: tuple[str, ...], open_end: bool = False) -> Word:
        return Word(text, spelled, open_start=False, open_end=open_end)

    assert query.root == And(
        (
            Term("Kim", (word("Kim", ("kim",)),), default, 3),
            Term("Putin", (word("Putin", ("putin",)),), default, 7),
            Term("Waffen*", (word("Waffen*", ("waffen",), open_end=True),), default, 14),
            Term("Köln", (word("Köln", ("koln", "koeln")),), default, 22),
            Term("Jong-un", (word("Jong", ("jong",)), word("un", ("un",))), default, 27),
        )
    )
    assert query.terms == query.root.children


def test_parse_composes_decomposed_umlauts() -> None:
    # "Ko" + combining diaeresis + "ln", as some keyboards and pages send it.
    query = Query.parse("Ko\u0308ln")
    assert query.terms[0].words[0].spellings == ("koln", "koeln")
    assert match_one("Ko\u0308ln", "Demo in Koeln")


def test_query_error_carries_column_and_message() -> None:
    with pytest.raises(QueryError) as raised:
        Query.parse("Kim Waf*fen")
    error = raised.value
    message = "'*' is only allowed at the start or end of a word"
    assert (error.column, error.message) == (8, message)
    assert str(error) == f"column 8: {message}"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.column, copy.message, str(copy)) == (8, error.message, str(error))


def test_matcher_returns_matching_topics_in_the_given_order() -> None:
    matcher = TopicMatcher(
        [
            ("koeln", Query.parse("Köln")),
            ("kim-putin-waffen", Query.parse("Kim Putin Waffen*")),
            ("kimono", Query.parse("Kimono")),
            ("putin", Query.parse("PUTIN")),
            ("kim-putin", Query.parse("Putin Kim")),
        ]
    )
    hits = matcher.match(
        "Waffendeal: Was handelt Putin mit Kim aus?", "Kim Jong-un traf Putin in Wladiwostok."
    )
    assert [name for name, _ in hits] == ["kim-putin-waffen", "putin", "kim-putin"]
    assert dict(hits)["kim-putin-waffen"].terms == ("Kim", "Putin", "Waffendeal")
    assert dict(hits)["kim-putin"].terms == ("Putin", "Kim")


def test_matcher_is_reusable_across_articles() -> None:
    matcher = TopicMatcher([("a", Query.parse("Kim")), ("b", Query.parse("Putin"))])
    assert [name for name, _ in matcher.match("", "Kim")] == ["a"]
    assert [name for name, _ in matcher.match("", "Putin")] == ["b"]
    assert matcher.match("", "") == []
    assert TopicMatcher([]).match("Kim", "Putin") == []


def test_matcher_matches_a_thousand_topics_with_shared_terms() -> None:
    names = [f"topic-{i}" for i in range(1000)]
    matcher = TopicMatcher(
        [
            (name, Query.parse(f"Putin w{i}x" if i % 2 else "Putin Kim"))
            for i, name in enumerate(names)
        ]
    )
    hits = matcher.match("", "Kim traf Putin. w3x w4x")
    assert [name for name, _ in hits] == [n for i, n in enumerate(names) if i % 2 == 0 or i == 3]


def test_a_hyphenated_term_does_not_run_from_title_into_text() -> None:
    assert not match_one("Gipfel-Kim", "Kim traf Putin.", title="Gipfel")
    assert match_one("Gipfel-Kim", "", title="Gipfel-Kim")


def test_snippet_is_the_sentence_holding_the_terms() -> None:
    text = (
        "Russland will Militärgüter. Kim   traf\nPutin?\n\n"
        "Gestern traf Kim Jong-un in   Primorje ein, Putin wartete. Ort und Zeit blieben geheim."
    )
    ((_, hit),) = match_one("Kim Putin", text)
    assert hit.terms == ("Kim", "Putin")
    # A line break ends a sentence, so the first text sentence holding both is the one after.
    assert hit.snippets == ("Gestern traf Kim Jong-un in Primorje ein, Putin wartete.",)


def test_snippets_cover_terms_in_separate_sentences_in_article_order() -> None:
    text = "Putin wartete in Wladiwostok. Es ging um Waffen. Dann kam Kim aus Pjöngjang."
    ((_, hit),) = match_one("Kim Putin Waffen*", text)
    assert hit.snippets == (
        "Putin wartete in Wladiwostok.",
        "Es ging um Waffen.",
        "Dann kam Kim aus Pjöngjang.",
    )


def test_snippets_prefer_a_sentence_covering_several_terms() -> None:
    text = "Kim kam. Putin wartete. Kim und Putin sprachen. Es ging um Waffen."
    ((_, hit),) = match_one("Kim Putin Waffen*", text)
    assert hit.snippets == ("Kim und Putin sprachen.", "Es ging um Waffen.")


def test_snippets_prefer_text_to_the_title_which_heads_every_alert() -> None:
    ((_, hit),) = match_one("Kim Putin", "Vorher. Kim traf Putin. Nachher.", title="Kim und Putin")
    assert hit.snippets == ("Kim traf Putin.",)
    ((_, hit),) = match_one("Kim Putin", "Kim kam. Putin wartete.", title="Kim und Putin")
    assert hit.snippets == ("Kim und Putin",)


def test_snippets_show_the_words_named_in_terms() -> None:
    # The title names "Waffendeal"; the text's "Waffenlieferungen" would not be highlighted.
    title = "Waffendeal: Kim und Putin"
    text = "Kim und Putin sprachen über Waffenlieferungen. Der Waffendeal steht, sagt Kim zu Putin."
    ((_, hit),) = match_one("Kim Putin Waffen*", text, title=title)
    assert hit.terms == ("Kim", "Putin", "Waffendeal")
    assert hit.snippets == ("Der Waffendeal steht, sagt Kim zu Putin.",)


def test_at_most_three_snippets() -> None:
    text = "Eins alpha. Zwei beta. Drei gamma. Vier delta. Fünf epsilon."
    ((_, hit),) = match_one("alpha beta gamma delta epsilon", text)
    assert len(hit.snippets) == MAX_SNIPPETS
    assert hit.snippets == ("Eins alpha.", "Zwei beta.", "Drei gamma.")


def test_sentence_splitting_keeps_abbreviations_ordinals_and_quotes() -> None:
    text = (
        "Am 12. September traf z. B. Dr. Kim den Präsidenten. "
        "„Wir sind bereit.“ Putin nickte. Der nächste Satz."
    )
    ((_, hit),) = match_one("Kim", text)
    assert hit.snippets == ("Am 12. September traf z. B. Dr. Kim den Präsidenten.",)
    ((_, hit),) = match_one("Putin", text)
    assert hit.snippets == ("Putin nickte.",)
    ((_, hit),) = match_one("bereit", text)
    assert hit.snippets == ("„Wir sind bereit.“",)


def test_long_sentence_is_trimmed_around_the_hit() -> None:
    before = " ".join(f"vorher{i}" for i in range(60))
    after = " ".join(f"nachher{i}" for i in range(60))
    ((_, hit),) = match_one("Kim Putin", f"{before} Kim traf Putin {after}.")
    (snippet,) = hit.snippets
    assert len(snippet) <= SNIPPET_MAX_CHARS
    assert len(snippet) > SNIPPET_MAX_CHARS - 20  # the room is used
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "Kim traf Putin" in snippet
    # Cut at word boundaries and roughly centred on the hit.
    words = snippet.strip("…").split()
    assert all(re.fullmatch(r"vorher\d+|nachher\d+|Kim|traf|Putin", w) for w in words)
    middle = snippet.index("Kim traf Putin") + len("Kim traf Putin") / 2
    assert abs(middle - len(snippet) / 2) < 20


def test_long_sentence_trim_keeps_its_start_when_the_hit_is_there() -> None:
    after = " ".join(f"nachher{i}" for i in range(60))
    ((_, hit),) = match_one("Kim", f"Kim traf {after}.")
    (snippet,) = hit.snippets
    assert snippet.startswith("Kim traf nachher0")
    assert snippet.endswith("…")
    assert len(snippet) <= SNIPPET_MAX_CHARS


def test_hits_far_apart_in_one_long_sentence_keep_the_first() -> None:
    middle = " ".join(f"mitte{i}" for i in range(80))
    ((_, hit),) = match_one("Kim Putin", f"Kim {middle} Putin.")
    (snippet,) = hit.snippets
    assert snippet.startswith("Kim mitte0") and snippet.endswith("…")
    assert len(snippet) <= SNIPPET_MAX_CHARS


def test_a_single_overlong_word_is_cut() -> None:
    ((_, hit),) = match_one("x*", "x" * 500)
    (snippet,) = hit.snippets
    assert len(snippet) == SNIPPET_MAX_CHARS
    assert snippet.endswith("…")


def test_highlight_marks_whole_words_with_the_same_normalisation() -> None:
    snippet = "Kim trug einen Kimono; KIM traf Putin in KÖLN, nicht in Koeln."
    assert highlight(snippet, ["Kim", "Köln"], star) == (
        "*Kim* trug einen Kimono; *KIM* traf Putin in *KÖLN*, nicht in *Koeln*."
    )


def test_highlight_marks_hyphenated_terms_as_one() -> None:
    snippet = "Kim Jong-un und Jong Un; der Kim-Besuch"
    assert highlight(snippet, ["Jong-un", "Kim-Besuch"], star) == (
        "Kim *Jong-un* und *Jong Un*; der *Kim-Besuch*"
    )
    assert highlight(snippet, ["Kim", "Kim-Besuch"], star) == (
        "*Kim* Jong-un und Jong Un; der *Kim-Besuch*"
    )


def test_highlight_escapes_the_text_between_marks() -> None:
    marked = highlight(
        "<b>Kim</b> & Putin", ["Kim"], lambda w: f"<mark>{w}</mark>", escape=str.upper
    )
    assert marked == "<B><mark>Kim</mark></B> & PUTIN"
    assert highlight("nothing here", ["Kim"], star) == "nothing here"
    assert highlight("Kim", [], star) == "Kim"


def test_seed_article_matches_kim_putin_waffen() -> None:
    if not SEED.exists():
        pytest.skip(f"seed article not found at {SEED} (a clone without ../shared)")
    first_line, _, body = SEED.read_text(encoding="utf-8").partition("\n")
    title = re.sub(r"^\s*date \d{4}-\d{2}\s+", "", first_line)
    assert title == "Waffendeal: Was handelt Putin mit Kim aus?"
    matcher = TopicMatcher(
        [
            ("kim-putin-waffen", Query.parse("Kim Putin Waffen*")),
            ("kim-putin-panzer", Query.parse("Kim Putin Panzer")),  # only "Panzerzug"
            ("koeln", Query.parse("Köln")),
        ]
    )

    ((name, hit),) = matcher.match(title, body)
    assert name == "kim-putin-waffen"
    assert hit.terms == ("Kim", "Putin", "Waffendeal")
    assert hit.snippets == (title,)  # "Waffendeal" occurs only there

    ((name, hit),) = matcher.match("", body)  # the body alone matches too
    assert hit.terms == ("Kim", "Putin", "Waffen")
    assert hit.snippets == (
        "Wahrscheinlich treffen sich Kim und Putin heute.",
        "Für Moskau geht es bei Kims Besuch um Waffen, aber auch darum, beim heimischen Publikum"
        " möglichst viel Propagandalärm zu erzeugen.",
    )
    for snippet in hit.snippets:
        assert "*Kim*" in highlight(snippet, hit.terms, star) or "*Waffen*" in highlight(
            snippet, hit.terms, star
        )


def test_a_reload_keeps_the_matcher_unless_a_query_changed(tmp_path: Path) -> None:
    from crawler.config import parse_config
    from crawler.crawl import Runtime
    from crawler.store import Store

    def config(query: str, notify: str = "log") -> Any:
        topics = [{"name": "kim", "query": query, "notify": [notify]}]
        return parse_config({"database": f"sqlite:///{tmp_path}/d.db", "topics": topics})

    store = Store(f"sqlite:///{tmp_path}/d.db")
    try:
        runtime = Runtime.from_config(config("Kim Putin"), store)
        first = runtime.matcher
        assert first.matching(Document("Kim", "Putin")) == ["kim"]
        runtime.take(config("Kim Putin"))  # e.g. a source added: same matcher, words kept
        assert runtime.matcher is first
        runtime.take(config("Kim Xi"))
        assert runtime.matcher is not first
        assert runtime.matcher.matching(Document("Kim", "Putin")) == []
        assert runtime.matcher.matching(Document("Kim", "Xi")) == ["kim"]
        runtime.close()
    finally:
        store.close()


def test_a_wildcard_with_many_words_is_located_in_one_pass() -> None:
    # More distinct words than are looked up one by one: the positions come from one pass.
    words = [f"Waffen{chr(ord('a') + i)}" for i in range(20)]
    text = " ".join(words[:14]) + " x x x x " + words[14] + " Putin. " + " ".join(words[15:])
    matcher = TopicMatcher(
        [
            ("near", Query.parse("Waffen* NEAR/1 Putin")),
            ("phrase", Query.parse('"Waffen* Putin"')),
            ("far", Query.parse("Waffenb NEAR/2 Putin")),
        ]
    )
    hits = dict(matcher.match_document(Document("Titel", text)))
    assert sorted(hits) == ["near", "phrase"]
    assert hits["near"].terms == ("Waffeno", "Putin")
    assert hits["phrase"].terms == ("Waffeno Putin",)
