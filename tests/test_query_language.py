"""The topic query language: its grammar, the compiled matcher checked against a plain reference
evaluator on generated queries and articles, and `newshound test-query`."""

from __future__ import annotations

import argparse
import gzip
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.query import _spellings, spell_all
from alerts.snippets import SNIPPET_MAX_CHARS
from alerts.topics import (
    And,
    Document,
    Near,
    Not,
    Or,
    Query,
    QueryError,
    Term,
    TopicMatcher,
    Value,
    spellings,
)
from crawler import query_cli
from crawler.config import ConfigError, parse_config

PAGES = Path(__file__).parent / "fixtures" / "pages"

# --- the grammar, as trees


def words(node: object) -> object:
    """A parsed query with each term reduced to its text, to compare trees at a glance."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Near):
        return ("NEAR", node.distance, [t.text for t in node.left], [t.text for t in node.right])
    if isinstance(node, Value):
        return f"{node.field}:{node.pattern}"
    if isinstance(node, Not):
        return ("NOT", words(node.child))
    assert isinstance(node, And | Or)
    return (type(node).__name__.upper(), *(words(child) for child in node.children))


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("a b c", ("AND", "a", "b", "c")),
        ("a AND b AND c", ("AND", "a", "b", "c")),
        ("a OR b c", ("OR", "a", ("AND", "b", "c"))),
        ("a b OR c", ("OR", ("AND", "a", "b"), "c")),
        ("a NOT b OR c", ("OR", ("AND", "a", ("NOT", "b")), "c")),
        ("a -b c", ("AND", "a", ("NOT", "b"), "c")),
        ("(a OR b) c", ("AND", ("OR", "a", "b"), "c")),
        ("a -(b OR c)", ("AND", "a", ("NOT", ("OR", "b", "c")))),
        ("a NEAR/2 b c", ("AND", ("NEAR", 2, ["a"], ["b"]), "c")),
        ("x NOT a NEAR/2 b", ("AND", "x", ("NOT", ("NEAR", 2, ["a"], ["b"])))),
        ('(a OR "b c") NEAR/0 d', ("NEAR", 0, ["a", '"b c"'], ["d"])),
        ("x NOT NOT y", ("AND", "x", "y")),
        ("a lang:de url:*/politik/*", ("AND", "a", "lang:de", "url:*/politik/*")),
        ("title:(a OR b) -source:dpa", ("AND", ("OR", "a", "b"), ("NOT", "source:dpa"))),
        ("url:https://x.de/a:b a", ("AND", "url:https://x.de/a:b", "a")),
    ],
)
def test_precedence_and_grouping(query: str, tree: object) -> None:
    assert words(Query.parse(query).root) == tree


def test_field_scopes_reach_every_term_inside() -> None:
    root = Query.parse('title:(Kim OR "Kim Jong-un") text:Putin author:(Müller NEAR/1 Anna)').root
    assert isinstance(root, And)
    group, text, near = root.children
    assert isinstance(group, Or) and isinstance(text, Term) and isinstance(near, Near)
    assert {term.fields for term in group.children} == {frozenset({"title"})}  # type: ignore[union-attr]
    assert text.fields == frozenset({"text"})
    assert {t.fields for t in near.left + near.right} == {frozenset({"author"})}
    assert Query.parse("Kim").terms[0].fields == frozenset({"title", "text"})


def test_query_errors_point_at_the_column() -> None:
    query = "Kim (Putin OR Xi"
    with pytest.raises(QueryError) as raised:
        Query.parse(query)
    assert raised.value.column == len(query) + 1
    assert str(raised.value).startswith(f"column {len(query) + 1}: expected ')'")


def test_config_reports_a_malformed_topic_query_with_its_path() -> None:
    data = {"topics": [{"name": "ok", "query": "Kim"}, {"name": "kim", "query": "Kim OR"}]}
    with pytest.raises(ConfigError) as raised:
        parse_config(data, env={})
    assert raised.value.problems == [
        "topics[1].query: column 7: expected a word, phrase or '(' after 'OR', found the end "
        "of the query"
    ]


# --- matching a Document


def test_match_is_match_document_on_title_and_text() -> None:
    matcher = TopicMatcher([("a", Query.parse("Kim Putin")), ("b", Query.parse("title:Kim"))])
    title, text = "Kim in Moskau", "Putin empfing Kim."
    assert matcher.match(title, text) == matcher.match_document(Document(title, text))
    assert [name for name, _ in matcher.match(title, text)] == ["a", "b"]
    assert matcher.matching(Document(title, text)) == ["a", "b"]


def test_a_thousand_topics_compiled_together_match_as_each_alone() -> None:
    vocabulary = ["Kim", "Putin", "Waffen*", "*krieg", '"Kim Jong-un"', "Xi", "*lieferung*"]
    queries = [
        f"{vocabulary[i % 7]} {op} {vocabulary[(i * 3 + 1) % 7]}"
        for i, op in zip(range(1000), ["AND", "OR", "NEAR/3", "NOT"] * 250, strict=True)
        if i % 7 != (i * 3 + 1) % 7
    ]
    topics = [(f"t{i}", Query.parse(q)) for i, q in enumerate(queries)]
    together = TopicMatcher(topics)
    document = Document(
        "Krieg in Europa", "Kim Jong-un traf Putin. Waffenlieferungen, Ukrainekrieg."
    )
    alone = [name for name, query in topics if TopicMatcher([(name, query)]).matching(document)]
    assert together.matching(document) == alone
    assert 0 < len(alone) < len(topics)


# --- the compiled matcher against a reference evaluator
#
# The reference reads the query from the test's own tree (not the parser's) and the article by
# brute force: every word position, every field, every pair of occurrences. Word equality and
# its normalisation (`spellings`) are the one thing it shares with the matcher.

_WORD = re.compile(r"[^\W_]+")
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True)
class RTerm:
    words: tuple[str, ...]  # as written, stars included
    phrase: bool  # written in quotes, else with hyphens
    field: str | None = None


@dataclass(frozen=True)
class RNear:
    left: tuple[RTerm, ...]
    right: tuple[RTerm, ...]
    distance: int
    field: str | None = None


@dataclass(frozen=True)
class RValue:
    field: str
    pattern: str


@dataclass(frozen=True)
class RBool:
    op: str  # AND, OR, NOT
    children: tuple[RNode, ...]


RNode = RTerm | RNear | RValue | RBool


def article_words(text: str) -> list[str]:
    return _WORD.findall(
        unicodedata.normalize("NFC", "".join(c for c in text if c not in _INVISIBLE))
    )


def same(written: str, word: str) -> bool:
    stem = written.strip("*")
    start, end = written.startswith("*"), written.endswith("*")
    for a in spellings(unicodedata.normalize("NFC", stem)):
        for b in spellings(word):
            if (
                (start and end and a in b)
                or (end and not start and b.startswith(a))
                or (start and not end and b.endswith(a))
                or (not start and not end and a == b)
            ):
                return True
    return False


def segments(document: Document) -> list[tuple[str, list[str]]]:
    return [
        ("title", article_words(document.title)),
        ("text", article_words(document.text)),
        *(("author", article_words(name)) for name in document.authors),
    ]


def places(term: RTerm, fields: set[str], document: Document) -> list[tuple[int, int, int]]:
    """(segment, first word, last word) of each occurrence of `term` in `fields`."""
    found = []
    n = len(term.words)
    for s, (field, found_words) in enumerate(segments(document)):
        if field not in fields:
            continue
        for i in range(len(found_words) - n + 1):
            if all(same(term.words[k], found_words[i + k]) for k in range(n)):
                found.append((s, i, i + n - 1))
    return found


def fields_of(field: str | None) -> set[str]:
    return {field} if field else {"title", "text"}


def holds(node: RNode, document: Document, nothing: bool = False) -> bool:
    """The reference: does `node` hold for `document`? (nothing=True: if no term occurred)."""
    if isinstance(node, RBool):
        values = [holds(child, document, nothing) for child in node.children]
        return {"AND": all(values), "OR": any(values), "NOT": not values[0]}[node.op]
    if nothing:
        return False
    if isinstance(node, RTerm):
        return bool(places(node, fields_of(node.field), document))
    if isinstance(node, RNear):
        fields = fields_of(node.field)
        left = [p for term in node.left for p in places(term, fields, document)]
        right = [p for term in node.right for p in places(term, fields, document)]
        for a in left:
            for b in right:
                between = b[1] - a[2] - 1 if b[1] > a[2] else a[1] - b[2] - 1
                apart = b[1] > a[2] or a[1] > b[2]
                if a[0] == b[0] and apart and between <= node.distance:
                    return True
        return False
    if node.field == "lang":
        language = (document.language or "").casefold().partition("-")[0]
        return language == node.pattern.casefold()
    if node.field == "source":
        glob = ".*".join(map(re.escape, node.pattern.casefold().split("*")))
        return re.fullmatch(glob, document.source.casefold()) is not None

    def bare(url: str) -> str:
        url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", unquote(url).casefold())
        return url.removeprefix("www.")

    glob = ".*".join(map(re.escape, bare(node.pattern).split("*")))
    return re.match(glob, bare(document.url)) is not None


def positive_terms(node: RNode, negated: bool = False) -> list[RTerm]:
    """The terms not on a NOT side (under an even number of NOTs)."""
    if isinstance(node, RBool):
        flip = negated != (node.op == "NOT")
        return [term for child in node.children for term in positive_terms(child, flip)]
    if negated:
        return []
    if isinstance(node, RTerm):
        return [node]
    if isinstance(node, RNear):
        return [*node.left, *node.right]
    return []


def render(node: RNode) -> str:
    if isinstance(node, RTerm):
        body = f'"{" ".join(node.words)}"' if node.phrase else "-".join(node.words)
        return f"{node.field}:{body}" if node.field else body
    if isinstance(node, RNear):

        def side(terms: tuple[RTerm, ...]) -> str:
            shown = [render(term) for term in terms]
            return shown[0] if len(shown) == 1 else f"({' OR '.join(shown)})"

        near = f"{side(node.left)} NEAR/{node.distance} {side(node.right)}"
        return f"{node.field}:({near})" if node.field else near
    if isinstance(node, RValue):
        return f"{node.field}:{node.pattern}"
    if node.op == "NOT":
        (child,) = node.children
        return f"NOT ({render(child)})" if len(render(child)) % 2 else f"-({render(child)})"
    joiner = " " if node.op == "AND" and len(node.children) % 2 else f" {node.op} "
    return "(" + joiner.join(render(child) for child in node.children) + ")"


VOCABULARY = [
    "Kim", "Putin", "Köln", "Koeln", "koln", "Straße", "Strasse", "Waffen", "Waffenlieferung",
    "Atomwaffen", "Jong", "un", "Müller", "Öl", "oel", "Gas", "und", "Ukrainekrieg", "Krieg",
]  # fmt: skip


@st.composite
def written_words(draw: st.DrawFn, word: str, first: bool = True, last: bool = True) -> str:
    """`word` as a query may write it: in another case, or cut short with a wildcard."""
    word = draw(st.sampled_from([word, word.upper(), word.lower()]))
    kind = draw(st.sampled_from(["exact", "exact", "prefix", "suffix", "infix"]))
    if kind == "exact":
        return word
    cut = draw(st.integers(1, len(word)))
    if kind == "prefix" and last:
        return word[:cut] + "*"
    if kind == "suffix" and first:
        return "*" + word[-cut:]
    if kind == "infix" and first and last:
        start = draw(st.integers(0, len(word) - cut))
        return "*" + word[start : start + cut] + "*"
    return word


@st.composite
def terms(draw: st.DrawFn, runs: list[list[str]], field: bool = True) -> RTerm:
    """A term: often words in a row from the article (`runs`), else from the vocabulary."""
    phrase = draw(st.booleans())
    n = draw(st.integers(1, 3 if phrase else 2))
    from_article = bool(runs) and draw(st.booleans())
    run: list[str] = draw(st.sampled_from(runs)) if from_article else []
    if len(run) >= n:
        start = draw(st.integers(0, len(run) - n))
        chosen = run[start : start + n]
    else:
        chosen = [draw(st.sampled_from(VOCABULARY)) for _ in range(n)]
    written = tuple(
        draw(written_words(word, first=phrase or k == 0, last=phrase or k == n - 1))
        for k, word in enumerate(chosen)
    )
    where = draw(st.sampled_from([None, None, None, "title", "text", "author"])) if field else None
    return RTerm(written, phrase, where)


@st.composite
def nears(draw: st.DrawFn, runs: list[list[str]]) -> RNear:
    left = tuple(draw(st.lists(terms(runs, field=False), min_size=1, max_size=2)))
    right = tuple(draw(st.lists(terms(runs, field=False), min_size=1, max_size=2)))
    field = draw(st.sampled_from([None, None, None, "title", "author"]))
    return RNear(left, right, draw(st.integers(0, 5)), field)


values = st.one_of(
    st.builds(RValue, st.just("lang"), st.sampled_from(["de", "en", "DE"])),
    st.builds(RValue, st.just("source"), st.sampled_from(["tagesschau", "spiegel*", "*schau"])),
    st.builds(
        RValue, st.just("url"), st.sampled_from(["*/politik/*", "tagesschau.de", "*/münchen/*"])
    ),
)


def queries(runs: list[list[str]]) -> st.SearchStrategy[RNode]:
    def combined(inner: st.SearchStrategy[RNode]) -> st.SearchStrategy[RNode]:
        some = st.lists(inner, min_size=2, max_size=3).map(tuple)
        return st.one_of(
            st.builds(RBool, st.sampled_from(["AND", "OR"]), some),
            st.builds(lambda a, b: RBool("AND", (a, RBool("NOT", (b,)))), inner, inner),
            st.builds(RBool, st.just("NOT"), st.tuples(inner)),
        )

    leaves = st.one_of(terms(runs), terms(runs), nears(runs), values)
    return st.recursive(leaves, combined, max_leaves=5)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    def text(most: int) -> str:
        found = draw(st.lists(st.sampled_from(VOCABULARY), max_size=most))
        separators = [" ", " ", ", ", ". ", "\n", "\n\n", "-", " \u2013 ", "\u00ad"]
        out = ""
        for word in found:
            out += draw(st.sampled_from([word, word.upper()])) + draw(st.sampled_from(separators))
        return out

    urls = ["", "https://www.tagesschau.de/politik/kim.html", "http://br.de/m%C3%BCnchen/x"]
    return Document(
        title=text(5),
        text=text(24),
        url=draw(st.sampled_from(urls)),
        source=draw(st.sampled_from(["", "tagesschau", "Spiegel-Online"])),
        authors=tuple(text(2) for _ in range(draw(st.integers(0, 2)))),
        language=draw(st.sampled_from([None, "de", "en", "de-AT", "DE"])),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_compiled_matcher_agrees_with_the_reference(data: st.DataObject) -> None:
    document = data.draw(documents(), label="document")
    # A second article, matched after the first, meets words whose patterns are remembered;
    # remembering only a few words makes the matcher start afresh between the two.
    other = data.draw(documents(), label="other")
    remember = data.draw(st.sampled_from([200_000, 4]), label="remember")
    runs = [found for _, found in segments(document) if found]
    trees = data.draw(st.lists(queries(runs), min_size=1, max_size=6), label="queries")
    topics = []
    for i, tree in enumerate(trees):
        text = render(tree)
        if holds(tree, document, nothing=True):
            # It would match an article holding none of its terms: the parser must refuse it.
            with pytest.raises(QueryError, match="NOT on its own or beside OR"):
                Query.parse(text)
            continue
        topics.append((f"t{i}", Query.parse(text), tree))
    matcher = TopicMatcher([(name, query) for name, query, _ in topics], remember)
    expected = [name for name, _, tree in topics if holds(tree, document)]
    assert matcher.matching(document) == expected
    assert matcher.matching(other) == [name for name, _, tree in topics if holds(tree, other)]

    hits = matcher.match_document(document)
    assert [name for name, _ in hits] == expected
    trees_by_name = {name: tree for name, _, tree in topics}
    for name, hit in hits:
        allowed = positive_terms(trees_by_name[name])
        for term in hit.terms:
            # Every term named is the article's words for a query term outside NOT.
            found = article_words(term)
            assert any(
                len(t.words) == len(found) and all(map(same, t.words, found)) for t in allowed
            ), (term, allowed)
        assert all(0 < len(snippet) <= SNIPPET_MAX_CHARS for snippet in hit.snippets)


# --- newshound test-query


def run_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], database: str = ""
) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="newshound")
    query_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["test-query", *argv])
    from crawler.config import Config

    status = query_cli.run(args, Config(database=database or "sqlite:///:memory:"))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "note.txt"
    text.write_text("Kim Jong-un traf Putin.\nEs ging um Waffenlieferungen.", encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("Nichts über Nordkorea.", encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_bytes((PAGES / "de-jsonld-kim-putin.html").read_bytes())
    zipped = tmp_path / "page.html.gz"
    zipped.write_bytes(gzip.compress((PAGES / "de-jsonld-kim-putin.html").read_bytes()))
    empty = tmp_path / "empty.html"
    empty.write_bytes((PAGES / "no-article.html").read_bytes())
    return {"text": text, "other": other, "page": page, "zipped": zipped, "empty": empty}


def test_test_query_on_files(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(
        ["Kim Putin Waffen*", str(files["text"]), str(files["other"])], capsys
    )
    assert (status, err) == (0, "")
    assert out == (
        f"{files['text']}: match\n"
        "  terms: Kim, Putin, Waffenlieferungen\n"
        "  > *Kim* Jong-un traf *Putin*.\n"
        "  > Es ging um *Waffenlieferungen*.\n"
        f"{files['other']}: no match\n"
    )


def test_test_query_extracts_html_pages_gzipped_or_not(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ['title:Kim "Kim Jong Un" lang:de', str(files["page"]), str(files["zipped"]), "--json"]
    status, out, err = run_cli(argv, capsys)
    assert (status, err) == (0, "")
    found = json.loads(out)
    assert [item["file"] for item in found] == [str(files["page"]), str(files["zipped"])]
    assert all(item["match"] for item in found)
    assert found[0]["terms"] == ["Kim", "Kim Jong Un"]
    assert found[0]["snippets"][0] == "Kim und Putin vereinbaren engere Rüstungskooperation"
    assert found[0] == {**found[1], "file": found[0]["file"]}


def test_test_query_reports_unreadable_files_and_goes_on(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.txt"
    argv = ["Kim", str(missing), str(files["empty"]), str(files["text"]), "--json"]
    status, out, err = run_cli(argv, capsys)
    assert status == 1
    assert [item["file"] for item in json.loads(out)] == [str(files["text"])]
    lines = err.splitlines()
    assert lines[0] == f"{missing}: cannot read: No such file or directory"
    assert lines[1].startswith(f"{files['empty']}: not an article: ")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "Kim OR",
            "query: column 7: expected a word, phrase or '(' after 'OR', found the end of the "
            "query",
        ),
        (
            "NOT Kim",
            "query: column 1: NOT on its own or beside OR matches nearly every article; join it "
            "by AND to a term it excludes from, e.g. 'Kim NOT Putin'",
        ),
    ],
)
def test_test_query_rejects_a_malformed_query(
    query: str, message: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli([query, str(files["text"])], capsys) == (2, "", message + "\n")


def _store_articles(database: str) -> None:
    from crawler.store import NewArticle, Store

    now = datetime.now(UTC)
    for days, url, title, text in [
        (1, "https://a.example/1", "Kim in Moskau", "Kim traf Putin. Es ging um Waffen."),
        (2, "https://a.example/2", "Wetter", "Sonne über Köln."),
        (3, "https://a.example/3", "Gipfel", "Putin empfing Kim Jong-un."),
        (30, "https://a.example/old", "Alt", "Kim und Putin, vor einem Monat."),
    ]:
        store = Store(database, clock=lambda days=days: now - timedelta(days=days))  # type: ignore[misc]
        article = NewArticle(
            url=url,
            aliases=(),
            source="tagesschau",
            title=title,
            authors=("Anna Müller",),
            published=None,
            language="de",
            text=text,
            discovered_at=now,
        )
        assert store.save_article(article, lambda saved: []) is not None
        store.close()


def test_test_query_over_the_stored_articles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'newshound.db'}"
    _store_articles(database)
    status, out, err = run_cli(["Kim Putin author:Müller source:tagesschau"], capsys, database)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "3 articles stored in the last 7 days; 2 would have matched."
    assert "https://a.example/1" in out and "https://a.example/3" in out
    assert out.index("https://a.example/1") < out.index("https://a.example/3")  # newest first
    assert "  > *Kim* traf *Putin*." in lines

    status, out, err = run_cli(["Kim Putin", "--days", "60", "--json"], capsys, database)
    assert (status, err) == (0, "")
    found = json.loads(out)
    assert [(item["file"], item["match"]) for item in found] == [
        ("https://a.example/1", True),
        ("https://a.example/2", False),
        ("https://a.example/3", True),
        ("https://a.example/old", True),
    ]
    assert found[1] == {"file": "https://a.example/2", "match": False, "terms": [], "snippets": []}


def test_test_query_days_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_cli(["Kim", "--days", "0"], capsys)
    assert raised.value.code == 2
    assert "--days: must be more than 0 days: '0'" in capsys.readouterr().err


# --- spellings: the fast paths against the char-by-char rule

_LATIN_AND_ACCENTS = st.one_of(
    st.sampled_from(list("aouAOUeEsßklnöäüÖÄÜéèçøł\u0131ǖ ﬁ½\u034f")),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.characters(),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_LATIN_AND_ACCENTS, max_size=8).map("".join))
def test_spellings_fast_paths_agree_with_the_char_by_char_rule(word: str) -> None:
    decomposed = unicodedata.normalize("NFKD", word).casefold()
    assert spellings.__wrapped__(word) == _spellings(decomposed)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(_LATIN_AND_ACCENTS, max_size=6).map("".join), max_size=6))
def test_spelling_words_together_is_spelling_each(words: list[str]) -> None:
    assert spell_all(words) == [spellings(word) for word in words]
