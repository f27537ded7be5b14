"""One article against compiled topics: its words, the word patterns they match, where they
stand, whether a formula holds, and why.

Which patterns a word matches depends on the word alone, so `WordIndex` remembers it across
articles: per article that is one dictionary look-up per distinct word, in C, and only words
never met before cost their spellings and an automaton scan. Positions are worked out only for
the patterns a phrase, a NEAR or a hit asks about, by finding the words in one string.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Mapping
from functools import cached_property
from itertools import chain, compress, count, product, repeat
from math import prod
from operator import itemgetter, not_
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alerts.atoms import (
    AND,
    AUTHOR,
    NOT,
    OR,
    TEXT,
    TITLE,
    Atom,
    Document,
    Formula,
    Hit,
    NearAtom,
    Span,
    TermAtom,
)
from alerts.query import (
    INVISIBLE,
    WORD,
    document_language,
    normalised_url,
    same_word,
    spell_all,
    spellings,
)
from alerts.snippets import Passages, collapse

Ids = NDArray[np.int32]
_NONE = np.empty(0, np.int32)
_FEW = 16  # words (or a phrase's spellings) worth looking for one by one, with str.find
_INVISIBLE_CHARS = re.compile("[" + "".join(map(chr, INVISIBLE)) + "]")


class WordIndex:
    """Which word patterns each word matches, across articles; and for the patterns whose
    positions matching asks for (in phrases and NEARs), their words.

    Bounded: past `limit` words (a long-running daemon meets ever new ones) `tables` starts
    afresh, with new tables, so a scan that took the old ones keeps a consistent view of them.
    """

    def __init__(
        self,
        exact: dict[str, tuple[int, ...]],
        automaton: Any,
        positional: frozenset[int],
        limit: int,
    ) -> None:
        self._exact = exact  # spelling -> the patterns of whole words spelled so
        self._automaton = automaton  # wildcard stems: " waffen", "waffen ", "waffen"
        self.positional = positional  # the patterns whose positions are asked for
        self._limit = limit
        self.patterns: dict[str, tuple[int, ...]] = {}  # word -> its patterns
        self.words: defaultdict[int, set[str]] = defaultdict(set)  # positional pattern -> words

    def tables(self) -> tuple[dict[str, tuple[int, ...]], Mapping[int, set[str]]]:
        """The tables, which `learn` adds to until the next call: one per article."""
        if len(self.patterns) > self._limit:
            self.patterns, self.words = {}, defaultdict(set)
        return self.patterns, self.words

    def learn(self, words: set[str]) -> list[tuple[int, ...]]:
        """Each word's patterns, in the set's order."""
        try:
            return list(map(self.patterns.__getitem__, words))  # in C: most words were met
        except KeyError:
            self._learn(list(words.difference(self.patterns)))
            return list(map(self.patterns.__getitem__, words))

    def _learn(self, words: list[str]) -> None:
        """The patterns of words never met, found together, as much as can be in C."""
        spelled = spell_all(words)
        keys = list(map(itemgetter(0), spelled))
        seconds: list[str] = []
        owners: list[int] = []  # of the second spellings ("Köln": "koeln")
        for i in compress(count(), map((1).__lt__, map(len, spelled))):
            seconds += spelled[i][1:]
            owners += repeat(i, len(spelled[i]) - 1)
        found = list(map(self._exact.get, keys, repeat(())))
        hits: defaultdict[int, list[int]] = defaultdict(list)
        for i, also in zip(owners, map(self._exact.get, seconds, repeat(())), strict=True):
            hits[i] += also  # "Köln" as "koeln"
        keys += seconds
        matches = list(self._automaton.iter(f" {' '.join(keys)} ")) if self._automaton else []
        if matches:
            # Each key between spaces: a match ends in its key or on the space after it.
            lengths = np.fromiter(map(len, keys), np.intp, len(keys))
            starts = np.cumsum(lengths + 1) - lengths
            ends = np.fromiter(map(itemgetter(0), matches), np.intp, len(matches))
            in_key = (np.searchsorted(starts, ends, "right") - 1).tolist()
            of_key = [*range(len(words)), *owners]
            for k, (_, matched) in zip(in_key, matches, strict=True):
                hits[of_key[k]] += matched
        for i, more in hits.items():
            if more:
                found[i] = tuple({*found[i], *more})
        positional, by_pattern = self.positional, self.words
        for i in compress(count(), map(not_, map(positional.isdisjoint, found))):
            for pid in positional.intersection(found[i]):
                by_pattern[pid].add(words[i])
        self.patterns.update(zip(words, found, strict=True))


def _clean(content: str) -> str:
    # A regex finds the rare invisible character much faster than str.translate removes it.
    if _INVISIBLE_CHARS.search(content):
        content = _INVISIBLE_CHARS.sub("", content)
    return unicodedata.normalize("NFC", content)


class Article:
    """An article's words in order (title, text, then each author), and where each occurs."""

    def __init__(self, document: Document) -> None:
        self.segments = [
            _clean(content)
            for content in (document.title or "", document.text or "", *document.authors)
        ]
        self.tokens = [WORD.findall(content) for content in self.segments]
        self.bits = [TITLE, TEXT] + [AUTHOR] * len(document.authors)
        self.firsts = [0]  # each segment's first word position, then the end
        for tokens in self.tokens:
            self.firsts.append(self.firsts[-1] + len(tokens))
        self.title_words = set(self.tokens[0])
        self.author_words: set[str] = set().union(*self.tokens[2:])
        self.shown = set(self.tokens[1])  # title and text
        self.shown |= self.title_words
        self.every = self.shown | self.author_words if self.author_words else self.shown
        self._streams: list[str | None] = [None] * len(self.tokens)
        self._found: dict[tuple[str, int], list[int]] = {}
        self._joined: dict[int, str] = {}

    @cached_property
    def text_words(self) -> set[str]:
        return set(self.tokens[1])

    def in_mask(self, mask: int) -> set[str]:
        """The words occurring in the fields of `mask`."""
        if mask & TITLE and mask & TEXT:
            return self.every if mask & AUTHOR else self.shown
        found: set[str] = set()
        for bit, words in ((TITLE, self.title_words), (TEXT, self.text_words)):
            if mask & bit:
                found |= words
        return found | self.author_words if mask & AUTHOR else found

    def _stream(self, segment: int) -> str:
        """A field's words, in order, between spaces: `str.find` locates a word's occurrences
        in C, and counting the spaces before one gives its position."""
        found = self._streams[segment]
        if found is None:
            found = self._streams[segment] = f" {' '.join(self.tokens[segment])} "
        return found

    def joined(self, mask: int) -> str:
        """The words of the fields of `mask`, each field's between spaces, fields on lines."""
        found = self._joined.get(mask)
        if found is None:
            found = self._joined[mask] = "\n".join(
                self._stream(segment) for segment, bit in enumerate(self.bits) if bit & mask
            )
        return found

    @cached_property
    def words(self) -> list[str]:
        return list(chain.from_iterable(self.tokens))

    def _occurrences(self, word: str, segment: int) -> list[int]:
        found = self._found.get((word, segment))
        if found is None:
            stream = self._stream(segment)
            needle = f" {word} "
            found = []
            pos = self.firsts[segment]
            last = 0
            at = stream.find(needle)
            while at >= 0:
                pos += stream.count(" ", last, at)
                found.append(pos)
                last = at
                at = stream.find(needle, at + len(word) + 1)
            self._found[word, segment] = found
        return found

    def positions(self, words: Collection[str], mask: int) -> list[int]:
        """Ascending positions, within the fields of `mask`, of these words."""
        if len(words) > _FEW:  # a wildcard's many words: one pass over the fields
            return [
                first + i
                for tokens, first, bit in zip(self.tokens, self.firsts, self.bits, strict=False)
                if bit & mask
                for i in compress(count(), map(words.__contains__, tokens))
            ]
        lists = [
            found
            for segment, bit in enumerate(self.bits)
            if bit & mask
            for word in words
            if (found := self._occurrences(word, segment))
        ]
        # Fields come one after the other, and different words stand at different positions.
        return lists[0] if len(lists) == 1 else sorted(chain.from_iterable(lists))

    def segment(self, pos: int) -> int:
        return bisect_right(self.firsts, pos) - 1

    @cached_property
    def passages(self) -> Passages:
        return Passages(self.segments[0], self.segments[1])

    def text(self, span: Span) -> str:
        """The article's words from span's first to its last, as written."""
        segment = self.segment(span[0])
        if segment < 2:
            _, start, _ = self.passages.offset(span[0])
            _, _, end = self.passages.offset(span[1])
        else:  # an author's name
            content = self.segments[segment]
            offsets = [m.span() for m in WORD.finditer(content)]
            start = offsets[span[0] - self.firsts[segment]][0]
            end = offsets[span[1] - self.firsts[segment]][1]
        return collapse(self.segments[segment][start:end])


class Scan:
    """One article against the compiled atoms: which patterns occur, and atom values, memoised."""

    def __init__(self, atoms: list[Atom], index: WordIndex, document: Document) -> None:
        self.atoms = atoms
        self.document = document
        self.article = article = Article(document)
        self._patterns, self._words = index.tables()
        self._positional = index.positional
        found = index.learn(article.shown)
        if article.author_words:  # now: the tables may start afresh with the next article
            index.learn(article.author_words)
        self._owners: dict[int, set[str]] = {}  # pattern -> the article's words
        self._all_owners = False
        shown = set().union(*found)  # the word patterns present in title or text
        self._in_fields = {TITLE | TEXT: shown}
        self._values: dict[int, bool] = {}
        self._spans: dict[int, list[Span]] = {}
        self.shown: Ids = np.fromiter(shown, np.int32, len(shown))  # the same, for numpy

    def _ids(self, words: set[str]) -> Ids:
        found = chain.from_iterable(map(self._patterns.__getitem__, words))
        return np.fromiter(found, np.int32)

    def loose(self, mask: int) -> Ids:
        """The word patterns present in the fields of `mask`, possibly repeated, possibly more:
        the text alone counts as title and text (which `shown` holds already)."""
        parts = []
        if mask & (TITLE | TEXT):
            parts.append(self.shown if mask & TEXT else self._ids(self.article.title_words))
        if mask & AUTHOR and self.article.author_words:
            parts.append(self._ids(self.article.author_words))
        return parts[0] if len(parts) == 1 else np.concatenate(parts or [_NONE])

    @property
    def patterns(self) -> set[int]:
        """The word patterns present in title or text."""
        return self.in_fields(TITLE | TEXT)

    def in_fields(self, mask: int) -> set[int]:
        """The word patterns present in the fields of `mask`."""
        found = self._in_fields.get(mask)
        if found is None:
            words = self.article.in_mask(mask)
            found = set(chain.from_iterable(map(self._patterns.__getitem__, words)))
            self._in_fields[mask] = found
        return found

    # --- truth

    def holds(self, formula: Formula) -> bool:
        if isinstance(formula, int):
            return self.atom(formula)
        operator, children = formula
        if operator == AND:
            return all(self.holds(child) for child in children)
        if operator == OR:
            return any(self.holds(child) for child in children)
        return not self.holds(children[0])

    def atom(self, ident: int) -> bool:
        value = self._values.get(ident)
        if value is None:
            value = self._values[ident] = self._evaluate(ident)
        return value

    def _evaluate(self, ident: int) -> bool:
        atom = self.atoms[ident]
        if isinstance(atom, TermAtom):
            if len(atom.patterns) == 1:
                return atom.patterns[0] in self.in_fields(atom.mask)
            return self._may_occur(atom) and self._in_a_row(ident, atom)
        if isinstance(atom, NearAtom):
            return self._near(atom)
        document = self.document
        if atom.field == "url":
            value = self.url
        elif atom.field == "source":
            value = document.source.casefold()
        else:
            value = self.language
        return atom.regex.match(value) is not None

    def _in_a_row(self, ident: int, atom: TermAtom) -> bool:
        """Whether the words of a phrase occur in a row: when its words are few, by looking
        for them in one string (in C), else by where each occurs."""
        owners = list(map(self.owners, atom.patterns))
        if prod(map(len, owners)) > _FEW:
            return bool(self.spans(ident))
        joined = self.article.joined(atom.mask)
        return any(f" {' '.join(words)} " in joined for words in product(*owners))

    @cached_property
    def url(self) -> str:
        return normalised_url(self.document.url)

    @cached_property
    def language(self) -> str:
        return document_language(self.document.language)

    def _may_occur(self, atom: TermAtom) -> bool:
        """False if a word of the term occurs nowhere: spares finding where the rest are."""
        present = self.in_fields(atom.mask)
        return all(pid in present for pid in atom.patterns)

    # --- where

    def spans(self, ident: int) -> list[Span]:
        """Ascending occurrences of a term atom within its fields."""
        found = self._spans.get(ident)
        if found is not None:
            return found
        atom = self.atoms[ident]
        assert isinstance(atom, TermAtom)
        places = [self._positions(pid, atom.mask) for pid in atom.patterns]
        n = len(places)
        if n == 1:
            found = [(pos, pos) for pos in places[0]]
        else:
            later = [set(positions) for positions in places[1:]]
            segment = self.article.segment
            found = [
                (pos, pos + n - 1)
                for pos in places[0]
                if all(pos + k + 1 in later[k] for k in range(n - 1))
                and segment(pos) == segment(pos + n - 1)
            ]
        self._spans[ident] = found
        return found

    def owners(self, pid: int) -> set[str]:
        """The article's words matching a word pattern."""
        found = self._owners.get(pid)
        if found is not None:
            return found
        if pid in self._positional:
            # Set intersection goes through the smaller side: a wildcard's words may be many.
            found = self._owners[pid] = self._words.get(pid, set()) & self.article.every
            return found
        if not self._all_owners:  # for a hit: all the article's words, by pattern, once
            self._all_owners = True
            every = list(self.article.every)
            for word, pids in zip(every, map(self._patterns.__getitem__, every), strict=True):
                for other in pids:
                    if other not in self._positional:
                        self._owners.setdefault(other, set()).add(word)
        return self._owners.setdefault(pid, set())

    def _positions(self, pid: int, mask: int) -> list[int]:
        mine = self.owners(pid)
        return self.article.positions(mine, mask) if mine else []

    def _near(self, atom: NearAtom) -> bool:
        """Whether some occurrences of the two sides in one field have at most `distance` words
        between them: for each left one, the nearest right one after it and before it."""
        left = self._either(atom.left)
        right = self._either(atom.right) if left else []
        if not right:
            return False
        starts = [b[0] for b in right]  # ascending
        ends = sorted(b[1] for b in right)
        segment = self.article.segment
        distance = atom.distance
        for first, last in left:
            after = bisect_right(starts, last)
            if after < len(starts) and starts[after] - last - 1 <= distance:
                after_ok = segment(starts[after]) == segment(first)
            else:
                after_ok = False
            before = bisect_left(ends, first) - 1
            if after_ok or (
                before >= 0
                and first - ends[before] - 1 <= distance
                and segment(ends[before]) == segment(first)
            ):
                return True
        return False

    def pairs(self, atom: NearAtom) -> list[tuple[Span, Span]]:
        """Occurrences of the two sides in one field with at most `distance` words between,
        by left occurrence, then right ones after it (ascending), then before it."""
        left = self._either(atom.left)
        right = self._either(atom.right) if left else []
        starts = [b[0] for b in right]  # ascending
        by_end = sorted(right, key=itemgetter(1))
        ends = [b[1] for b in by_end]
        segment = self.article.segment
        distance = atom.distance
        found = []
        for a in left:
            # Overlapping occurrences are the same words: two sides need two occurrences.
            after = right[bisect_right(starts, a[1]) : bisect_right(starts, a[1] + 1 + distance)]
            before = by_end[bisect_left(ends, a[0] - 1 - distance) : bisect_left(ends, a[0])]
            here = segment(a[0])
            found += [(a, b) for b in chain(after, before) if segment(b[0]) == here]
        return found

    def _either(self, terms: tuple[int, ...]) -> list[Span]:
        atoms = self.atoms
        found = [
            self.spans(term)
            for term in terms
            if self._may_occur(atoms[term])  # type: ignore[arg-type]
        ]
        return found[0] if len(found) == 1 else sorted(set(chain.from_iterable(found)))

    # --- why

    def hit(self, formula: Formula) -> Hit:
        named: list[tuple[Span, list[Span]]] = []
        self._explain(formula, named)
        terms = tuple(self.article.text(span) for span, _ in named)
        in_text = self.article.firsts[2]  # author names are not in any sentence
        shown = [[span for span in places if span[0] < in_text] for _, places in named]
        return Hit(terms, self.article.passages.snippets(shown))

    def _explain(self, formula: Formula, named: list[tuple[Span, list[Span]]]) -> None:
        """Per present term of a formula that holds (NOT sides excluded), in query order: the
        occurrence named in Hit.terms (the first) and those spelled the same, for snippets."""
        if isinstance(formula, int):
            atom = self.atoms[formula]
            if isinstance(atom, TermAtom):
                named.append(self._named(self.spans(formula)))
            elif isinstance(atom, NearAtom):
                pairs = self.pairs(atom)
                first = min(pairs, key=lambda pair: min(pair[0][0], pair[1][0]))
                named.append(self._named([first[0], *sorted({a for a, _ in pairs})]))
                named.append(self._named([first[1], *sorted({b for _, b in pairs})]))
            return
        operator, children = formula
        if operator == NOT:
            return
        for child in children:
            if operator == AND or self.holds(child):
                self._explain(child, named)

    def _named(self, spans: list[Span]) -> tuple[Span, list[Span]]:
        first = spans[0]
        words = self.article.words
        spelled = [spellings(words[pos]) for pos in range(first[0], first[1] + 1)]
        # Snippets show the words named in `terms`, so only their occurrences count.
        same = sorted(
            {
                span
                for span in spans
                if span[1] - span[0] == first[1] - first[0]
                and all(
                    same_word(spellings(words[span[0] + k]), spelled[k])
                    for k in range(len(spelled))
                )
            }
        )
        return first, same
