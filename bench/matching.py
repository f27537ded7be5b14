"""Topic matching speed: the compiled matcher against a naive per-topic regex baseline.

    .venv/bin/python bench/matching.py [--runs 5] [--baseline-runs 3] [--seed 4]

The German pages of ../shared/data/news (fundus-de/-at/-ch) are extracted once as the pipeline
does (extraction is not timed) and become `Document`s with title, text, url, source
(publisher), authors and language. Topic sets of 100, 1,000 and 10,000 queries are generated
from a seeded random generator out of the pages' own vocabulary: all-words queries, `Waffen*`,
`*waffen` and `*waffen*` wildcards, phrases, NEAR/n, NOT, OR groups and field scopes (title:,
author:, url:, source:, lang:). Words used by more than one page in ten ("nicht", "Jahren")
are left out; the rest are drawn across all pages weighted by how many pages use them, and
one topic in twenty takes its words from a single page, as a topic about that story.

For each size, per article (mean over pages; median of --runs runs):
- seen: `TopicMatcher.matching` (tokenising, the look-ups, the count, evaluation: which topics
  match) on pages matched before, so that every word's patterns are remembered: the floor;
  (median) is the median page, the mean being pulled up by the few long pages;
- new: each page on first sight, the matcher having met the other pages only (five folds: a
  fresh matcher learns four fifths of the pages, untimed, then matches the fifth). Its new
  words cost their spellings and patterns; a daemon that has run a while has met far more
  pages than these 80, so for it most pages are nearer "seen";
- cold: a fresh matcher's first pass over all pages, nothing remembered (after a start);
- + why: `TopicMatcher.match_document` on seen pages, which also builds each Hit (terms and
  snippets), a cost per alert rather than per topic;
- naive: every topic on its own, each term a regular expression searched in the article's
  case- and accent-folded fields (the obvious implementation), on a sample of pages so that
  the run stays short; the ratio compares it with `matching` (seen) on that same sample, and
  the topics each finds there are compared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerts.query import (  # noqa: E402
    INVISIBLE,
    WORD,
    And,
    Near,
    Node,
    Not,
    Or,
    Term,
    Value,
    document_language,
    normalised_url,
    spellings,
)
from alerts.topics import Document, Query, TopicMatcher  # noqa: E402
from crawler.extract import NotAnArticle, decode_html, extract_article  # noqa: E402

NEWS = REPO.parent / "shared" / "data" / "news"
SIZES = (100, 1_000, 10_000)
# The naive baseline evaluates at most this many topic-article pairs per run.
BASELINE_PAIRS = 200_000
SECTIONS = ("politik", "wirtschaft", "sport", "kultur", "ausland", "inland", "panorama")


def load_documents() -> list[Document]:
    manifest = json.loads((NEWS / "manifest.json").read_text(encoding="utf-8"))
    documents = []
    for entry in manifest["articles"]:
        if not entry["id"].startswith(("fundus-de-", "fundus-at-", "fundus-ch-")):
            continue
        html = gzip.decompress((NEWS / entry["html_file"]).read_bytes())
        try:
            article = extract_article(decode_html(html), entry["url"])
        except NotAnArticle:
            continue
        documents.append(
            Document(
                title=article.title or "",
                text=article.text,
                url=article.url,
                source=entry["publisher"].lower(),
                authors=article.authors,
                language=article.language,
            )
        )
    return documents


class Vocabulary:
    """Words, word pairs and word pieces from the pages, to build topics from."""

    def __init__(self, documents: list[Document]) -> None:
        tokens = [WORD.findall(f"{d.title}\n{d.text}") for d in documents]
        used_by = Counter(word for words in tokens for word in {w.casefold() for w in words})
        # Words on more than one page in ten ("nicht", "Jahren", "bereits") make no topic.
        common = {word for word, pages in used_by.items() if pages > len(documents) / 10}
        self.pages = [
            sorted({w for w in words if w.casefold() not in common and _content_word(w)})
            for words in tokens
        ]
        self.pairs = [
            [
                f"{a} {b}"
                for a, b in pairwise(words)
                if all(w.isalpha() and len(w) > 3 and w.casefold() not in common for w in (a, b))
                and (a[0].isupper() or b[0].isupper())
            ]
            for words in tokens
        ]
        # Weighted by the number of pages using a word: topics name what the news mentions.
        self.common = [word for page in self.pages for word in page]
        self.sources = sorted({d.source for d in documents})
        names = {name.split()[-1] for d in documents for name in d.authors if name.split()}
        self.authors = sorted(name for name in names if name.isalpha())


def _content_word(word: str) -> bool:
    return word.isalpha() and (len(word) >= 8 or (len(word) >= 5 and word[0].isupper()))


def generate_topics(vocabulary: Vocabulary, count: int, seed: int) -> list[tuple[str, Query]]:
    rng = random.Random(seed)
    topics: list[tuple[str, Query]] = []
    while len(topics) < count:
        if rng.random() < 0.05:  # a story's topic: words from one page
            page = rng.randrange(len(vocabulary.pages))
            words = vocabulary.pages[page]
            pairs = vocabulary.pairs[page] or [f"{words[0]} {words[1]}"]
        else:
            words = vocabulary.common
            pairs = vocabulary.pairs[rng.randrange(len(vocabulary.pairs))] or ["Kim Putin"]
        query = _topic(rng, vocabulary, words, pairs)
        topics.append((f"topic-{len(topics)}", Query.parse(query)))
    return topics


def _topic(rng: random.Random, vocabulary: Vocabulary, words: list[str], pairs: list[str]) -> str:
    def word() -> str:
        return rng.choice(words)

    def piece(length: int) -> str:
        chosen = rng.choice(
            [w for w in (word() for _ in range(5)) if len(w) > length] or ["Waffen"]
        )
        start = rng.randrange(0, len(chosen) - length + 1)
        return chosen[start : start + length].lower()

    shape = rng.random()
    if shape < 0.25:
        return " ".join(word() for _ in range(rng.choice((2, 2, 3))))
    if shape < 0.32:  # one word alone names something: a long noun or name
        return next((w for w in (word() for _ in range(20)) if len(w) >= 9), word())
    if shape < 0.42:
        return f"{word()[: rng.randint(5, 8)]}* {word()}"
    if shape < 0.47:
        return f"*{word()[-rng.randint(5, 7) :].lower()} {word()}"
    if shape < 0.52:
        return f"*{piece(rng.randint(5, 7))}* {word()}"
    if shape < 0.62:
        phrase = f'"{rng.choice(pairs)}"'
        return phrase if rng.random() < 0.5 else f"{phrase} {word()}"
    if shape < 0.72:
        return f"{word()} NEAR/{rng.randint(2, 10)} {word()}"
    if shape < 0.80:
        return f"{word()} {word()} {rng.choice(('NOT ', '-'))}{word()}"
    if shape < 0.88:
        return f"({word()} OR {word()}) {word()}"
    scope = rng.random()
    if scope < 0.3:
        return f"title:{word()}"
    if scope < 0.45:
        return f"title:({word()} OR {word()}) {word()}"
    if scope < 0.6:
        return f"{word()} lang:de"
    if scope < 0.75:
        return f"{word()} source:{rng.choice(vocabulary.sources)}"
    if scope < 0.9:
        return f"{word()} url:*/{rng.choice(SECTIONS)}/*"
    return f"author:{rng.choice(vocabulary.authors)}"


class NaiveMatcher:
    """Each topic on its own: each term a regex over the folded field, as one would first write."""

    def __init__(self, topics: list[tuple[str, Query]]) -> None:
        self.topics = [(name, query.root) for name, query in topics]
        self.regexes: dict[Term, re.Pattern[str]] = {}

    def match(self, document: Document) -> list[str]:
        fields = {
            "title": _folds(document.title),
            "text": _folds(document.text),
            "author": [fold for name in document.authors for fold in _folds(name)],
        }
        return [name for name, root in self.topics if self._holds(root, document, fields)]

    def _holds(self, node: Node, document: Document, fields: dict[str, list[str]]) -> bool:
        if isinstance(node, Term):
            regex = self._regex(node)
            return any(regex.search(f) for field in node.fields for f in fields[field])
        if isinstance(node, Near):
            return self._near(node, fields)
        if isinstance(node, Value):
            value = {
                "url": normalised_url(document.url),
                "source": document.source.casefold(),
                "lang": document_language(document.language),
            }[node.field]
            return node.regex.match(value) is not None
        if isinstance(node, Not):
            return not self._holds(node.child, document, fields)
        if isinstance(node, And):
            return all(self._holds(child, document, fields) for child in node.children)
        assert isinstance(node, Or)
        return any(self._holds(child, document, fields) for child in node.children)

    def _near(self, node: Near, fields: dict[str, list[str]]) -> bool:
        for field in sorted(node.left[0].fields):
            for folded in fields[field]:
                left = self._places(node.left, folded)
                right = self._places(node.right, folded)
                for a, b in ((a, b) for a in left for b in right):
                    between = b[0] - a[1] - 1 if b[0] > a[1] else a[0] - b[1] - 1
                    if 0 <= between <= node.distance and (b[0] > a[1] or a[0] > b[1]):
                        return True
        return False

    def _places(self, terms: tuple[Term, ...], folded: str) -> list[tuple[int, int]]:
        places = []
        for term in terms:
            for m in self._regex(term).finditer(folded):
                first = len(WORD.findall(folded, 0, m.start()))
                places.append((first, first + len(term.words) - 1))
        return places

    def _regex(self, term: Term) -> re.Pattern[str]:
        regex = self.regexes.get(term)
        if regex is None:
            parts = []
            for word in term.words:
                stems = "|".join(map(re.escape, word.spellings))
                parts.append(
                    ("[^\\W_]*" if word.open_start else "(?<![^\\W_])")
                    + f"(?:{stems})"
                    + ("[^\\W_]*" if word.open_end else "(?![^\\W_])")
                )
            regex = self.regexes[term] = re.compile(r"[\W_]+".join(parts))
        return regex


def _folds(text: str) -> list[str]:
    """The text case- and accent-folded, plain and with umlauts transliterated (ö -> oe)."""
    decomposed = unicodedata.normalize(
        "NFKD", unicodedata.normalize("NFC", text.translate(INVISIBLE))
    ).casefold()
    transliterated = re.sub(r"(?<=[aou])\u0308", "e", decomposed)
    return [
        "".join(c for c in folded if not unicodedata.combining(c))
        for folded in (decomposed, transliterated)
    ]


def per_article(
    run: Callable[[Document], object], documents: list[Document], runs: int
) -> tuple[float, float]:
    """Milliseconds per article, median of `runs` runs: the mean over the documents, and the
    median document (the mean is pulled up by the few long pages)."""
    means = []
    each: list[list[float]] = [[] for _ in documents]
    for _ in range(runs):
        total = 0.0
        for i, document in enumerate(documents):
            start = time.perf_counter()
            run(document)
            took = time.perf_counter() - start
            each[i].append(took)
            total += took
        means.append(total / len(documents) * 1000)
    return statistics.median(means), statistics.median(map(statistics.median, each)) * 1000


def first_sight(
    topics: list[tuple[str, Query]], documents: list[Document], runs: int, folds: int = 5
) -> float:
    """Milliseconds per article on pages the matcher never met, having met the others."""
    means = []
    for run in range(runs):
        order = list(range(len(documents)))
        random.Random(run).shuffle(order)
        total = 0.0
        for fold in range(folds):
            spellings.cache_clear()  # what a word is spelled is remembered too
            matcher = TopicMatcher(topics)
            first, end = fold * len(order) // folds, (fold + 1) * len(order) // folds
            for i in order[:first] + order[end:]:  # met before
                matcher.matching(documents[i])
            for i in order[first:end]:
                start = time.perf_counter()
                matcher.matching(documents[i])
                total += time.perf_counter() - start
        means.append(total / len(documents) * 1000)
    return statistics.median(means)


def cold(topics: list[tuple[str, Query]], documents: list[Document], runs: int) -> float:
    """Milliseconds per article of a fresh matcher's first pass over the documents."""
    means = []
    for _ in range(runs):
        spellings.cache_clear()
        matcher = TopicMatcher(topics)
        start = time.perf_counter()
        for document in documents:
            matcher.matching(document)
        means.append((time.perf_counter() - start) / len(documents) * 1000)
    return statistics.median(means)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    if not NEWS.exists():
        print(f"{NEWS}: not found; this benchmark reads the shared news pages", file=sys.stderr)
        return 1

    documents = load_documents()
    vocabulary = Vocabulary(documents)
    words = [len(WORD.findall(d.title + "\n" + d.text)) for d in documents]
    print(
        f"{len(documents)} German pages, {statistics.median(words):.0f} words per article "
        f"(median; {max(words)} most); extraction not timed; seed {args.seed}"
    )
    print(
        f"compiled: mean over all pages, median of {args.runs} runs; naive: on a sample of "
        f"pages, median of {args.baseline_runs} runs\n"
    )
    header = (
        f"{'topics':>7} {'compile':>8} {'seen':>9} {'(median)':>9} {'new':>9} {'cold':>9}"
        f" {'+ why':>9} {'naive':>10} {'ratio':>6} {'sample':>6} {'same':>7} {'matches':>8}"
    )
    print(header)
    print("-" * len(header))
    for size in SIZES:
        topics = generate_topics(vocabulary, size, args.seed)
        start = time.perf_counter()
        matcher = TopicMatcher(topics)
        compile_ms = (time.perf_counter() - start) * 1000
        naive = NaiveMatcher(topics)
        step = max(1, -(-size * len(documents) // BASELINE_PAIRS))
        sample = documents[::step]

        new_ms = first_sight(topics, documents, args.runs)
        cold_ms = cold(topics, documents, args.runs)
        for document in documents:  # seen: every page met once before
            matcher.matching(document)
        match_ms, match_median_ms = per_article(matcher.matching, documents, args.runs)
        why_ms, _ = per_article(matcher.match_document, documents, args.runs)
        sample_ms, _ = per_article(matcher.matching, sample, args.runs)
        naive_ms, _ = per_article(naive.match, sample, args.baseline_runs)
        matches = sum(len(matcher.matching(d)) for d in documents) / len(documents)
        same = sum(matcher.matching(d) == naive.match(d) for d in sample)
        print(
            f"{size:>7,} {compile_ms:>6.0f}ms {match_ms:>6.3f} ms {match_median_ms:>6.3f} ms"
            f" {new_ms:>6.3f} ms {cold_ms:>6.3f} ms {why_ms:>6.3f} ms {naive_ms:>7.1f} ms"
            f" {naive_ms / sample_ms:>5.0f}x {len(sample):>6} {same:>3}/{len(sample):<3}"
            f" {matches:>8.1f}"
        )
    print(
        "\nseen: which topics match (TopicMatcher.matching) on pages met before, mean per article"
        " and (median)\nthe median article; new: pages on first sight, the other pages met;"
        " cold: a fresh matcher's\nfirst pass; + why: with each Hit's terms and snippets"
        " (match_document); naive and ratio: on\nthe sample pages, against seen there; same:"
        " pages where both found the same topics; matches:\nper article."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
