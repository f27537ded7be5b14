"""Matching many topic queries against one article at once, and saying why each matched.

Every word of every topic is compiled once: whole words into a set, wildcard words into one
Aho-Corasick automaton (`waffen*` is " waffen", `*waffen` "waffen ", `*waffen*` "waffen", as
the article's distinct normalised words are scanned joined by spaces). Per article that gives,
in C, the set of word patterns present. Most topics are words that must all occur: counting
their present words picks them out without looking at them. The others (an OR at the top, only
phrases or NEARs) are tried when their rarest trigger word is present. Word positions are
computed only for the phrases, NEARs, field scopes and hits that need them.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress, count, repeat
from operator import is_, itemgetter
from typing import Any, cast

import ahocorasick

from alerts.query import (
    INVISIBLE,
    WORD,
    And,
    Near,
    Node,
    Not,
    Query,
    Term,
    Value,
    Word,
    document_language,
    normalised_url,
    same_word,
    spellings,
)
from alerts.snippets import Passages, collapse

TITLE, TEXT, AUTHOR = 1, 2, 4
_FIELD_BITS = {"title": TITLE, "text": TEXT, "author": AUTHOR}


@dataclass(frozen=True)
class Document:
    """What a query can look at: the article's words and its url, source and language."""

    title: str
    text: str
    url: str = ""
    source: str = ""  # the configured source's name
    authors: tuple[str, ...] = ()
    language: str | None = None  # ISO 639-1


@dataclass(frozen=True)
class Hit:
    """Why a topic matched an article."""

    terms: tuple[str, ...]  # per matched query term, the article's word(s) for it, query order
    snippets: tuple[str, ...]  # up to MAX_SNIPPETS sentences holding those words, in article order


@dataclass(frozen=True)
class _TermAtom:
    patterns: tuple[int, ...]  # one word pattern per word, in a row
    mask: int  # the fields it may occur in


@dataclass(frozen=True)
class _NearAtom:
    left: tuple[int, ...]  # term atoms, alternatives
    right: tuple[int, ...]
    distance: int


@dataclass(frozen=True)
class _ValueAtom:
    field: str
    pattern: str  # normalised, '*' for any characters

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return Value(self.field, self.pattern, 0).regex


_Atom = _TermAtom | _NearAtom | _ValueAtom
# An atom's id, or (operator, children): operators below.
_Formula = int | tuple[int, tuple["_Formula", ...]]
_AND, _OR, _NOT = 0, 1, 2


@dataclass(frozen=True)
class _Words:
    """A unit a topic may require: one of these word patterns in these fields."""

    pids: frozenset[int]
    mask: int


@dataclass(frozen=True)
class _Holds:
    """A unit a topic may require: a url:, source: or lang: condition."""

    atom: int


_Unit = _Words | _Holds
_Trigger = int  # a word pattern
_Span = tuple[int, int]  # first and last word position of one occurrence
# A word pattern: its spellings, and whether it is open at the start and at the end.
_Pattern = tuple[tuple[str, ...], bool, bool]


class TopicMatcher:
    """Matches many topics against an article, tokenising and scanning the article once."""

    def __init__(self, topics: Sequence[tuple[str, Query]]) -> None:
        self._names = [name for name, _ in topics]
        self._patterns: dict[_Pattern, int] = {}
        self._atoms: list[_Atom] = []
        self._atom_ids: dict[_Atom, int] = {}
        self._formulas = [self._compile(query.root) for _, query in topics]
        self._pattern_list = list(self._patterns)

        exact: dict[str, list[int]] = {}
        wildcards: dict[str, list[int]] = {}
        for pid, (stems, open_start, open_end) in enumerate(self._pattern_list):
            for stem in stems:
                if not (open_start or open_end):
                    exact.setdefault(stem, []).append(pid)
                else:
                    key = ("" if open_start else " ") + stem + ("" if open_end else " ")
                    wildcards.setdefault(key, []).append(pid)
        self._exact = {stem: tuple(pids) for stem, pids in exact.items()}
        self._automaton: Any = None
        if wildcards:
            self._automaton = ahocorasick.Automaton()
            for key, pids in wildcards.items():
                self._automaton.add_word(key, tuple(pids))
            self._automaton.make_automaton()

        # A topic can only match if each "unit" its query requires is present: a word (or one
        # of a few words, for an OR of words) in a field, or a url:, source: or lang: value.
        # Counting the present units per topic picks out the candidates; a topic that is
        # nothing but units (most are) then matches without evaluation. A topic requiring no
        # unit (an OR of phrases, say) is a candidate when its rarest trigger word is present.
        units: dict[_Unit, int] = {}
        self._required: list[int] = []
        self._complete: list[bool] = []
        counted: dict[int, list[int]] = {}
        by_word: dict[int, list[int]] = {}
        always: list[int] = []
        for topic, formula in enumerate(self._formulas):
            required = self._units(formula)
            self._required.append(len(required))
            parts = formula[1] if isinstance(formula, tuple) and formula[0] == _AND else (formula,)
            self._complete.append(all(self._unit(part) is not None for part in parts))
            for unit in required:
                counted.setdefault(units.setdefault(unit, len(units)), []).append(topic)
            if required:
                continue
            found = self._triggers(formula)
            if found is None:  # e.g. NOT (NOT a OR NOT b): rare enough to evaluate always
                always.append(topic)
                continue
            for pid in found[0]:
                by_word.setdefault(pid, []).append(topic)
        # The commonest unit, one word in title or text, leads from the word to its topics
        # directly; the other units through their id.
        by_single: dict[int, tuple[int, ...]] = {}
        for unit, ident in list(units.items()):
            if isinstance(unit, _Words) and unit.mask == TITLE | TEXT and len(unit.pids) == 1:
                (pid,) = unit.pids
                by_single[pid] = tuple(counted.pop(ident))
                del units[unit]
        self._by_single = by_single
        self._counted = {unit: tuple(topics) for unit, topics in counted.items()}
        self._by_word = {pid: tuple(topics) for pid, topics in by_word.items()}
        self._always = tuple(always)
        # Per field mask, word pattern -> the units it makes present; and the value units:
        # source and language names by value, patterns with '*' and URLs to try one by one.
        word_units: dict[int, dict[int, list[int]]] = {}
        self._value_units: list[tuple[int, int]] = []
        self._named_units: dict[tuple[str, str], list[int]] = {}
        for unit, ident in units.items():
            if isinstance(unit, _Words):
                for pid in unit.pids:
                    word_units.setdefault(unit.mask, {}).setdefault(pid, []).append(ident)
                continue
            atom = self._atoms[unit.atom]
            assert isinstance(atom, _ValueAtom)
            if atom.field == "url" or "*" in atom.pattern:
                self._value_units.append((unit.atom, ident))
            else:
                self._named_units.setdefault((atom.field, atom.pattern), []).append(ident)
        self._word_units = {
            mask: {pid: tuple(idents) for pid, idents in by_pid.items()}
            for mask, by_pid in word_units.items()
        }

    def _unit(self, formula: _Formula) -> _Unit | None:
        """The unit that `formula` is exactly, if it is one: its truth is the unit's presence."""
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, _ValueAtom):
                return _Holds(formula)
            # Presence in the text alone is only approximated (see _Scan.in_fields).
            exact = not atom.mask & TEXT or atom.mask & TITLE if isinstance(atom, _TermAtom) else 0
            if isinstance(atom, _TermAtom) and len(atom.patterns) == 1 and exact:
                return _Words(frozenset(atom.patterns), atom.mask)
            return None
        operator, children = formula
        if operator != _OR:
            return None
        found = [self._unit(child) for child in children]
        words = [unit for unit in found if isinstance(unit, _Words)]
        if len(words) != len(found) or len({unit.mask for unit in words}) != 1:
            return None
        return _Words(frozenset().union(*(unit.pids for unit in words)), words[0].mask)

    def _units(self, formula: _Formula) -> frozenset[_Unit]:
        """Units that must be present for `formula` to hold."""
        unit = self._unit(formula)
        if unit is not None:
            return frozenset({unit})
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, _TermAtom):  # a phrase: each of its words
                return frozenset(_Words(frozenset({pid}), atom.mask) for pid in atom.patterns)
            if isinstance(atom, _NearAtom):
                return self._units((_OR, atom.left)) | self._units((_OR, atom.right))
            return frozenset()
        operator, children = formula
        if operator == _NOT:
            return frozenset()
        found = [self._units(child) for child in children]
        if operator == _AND:
            return frozenset().union(*found)
        return frozenset.intersection(*found)

    def match(self, title: str, text: str) -> list[tuple[str, Hit]]:
        """The topics whose queries match title and text, in the order given, each with why."""
        return self.match_document(Document(title, text))

    def match_document(self, document: Document) -> list[tuple[str, Hit]]:
        """The topics whose queries match the document, in the order given, each with why."""
        scan = _Scan(self, document)
        return [
            (self._names[topic], scan.hit(self._formulas[topic])) for topic in self._matched(scan)
        ]

    def matching(self, document: Document) -> list[str]:
        """The names of the topics whose queries match, in the order given, without the why."""
        return [self._names[topic] for topic in self._matched(_Scan(self, document))]

    def _matched(self, scan: _Scan) -> list[int]:
        present: set[int] = set()
        for mask, by_pid in self._word_units.items():
            pids = scan.in_fields(mask, exact=False) & by_pid.keys()
            present.update(chain.from_iterable(map(by_pid.__getitem__, pids)))
        present.update(unit for atom, unit in self._value_units if scan.atom(atom))
        document = scan.document
        for named in (("source", document.source.casefold()), ("lang", scan.language)):
            present.update(self._named_units.get(named, ()))
        by_single = self._by_single
        counts = Counter(
            chain.from_iterable(map(by_single.__getitem__, scan.patterns & by_single.keys()))
        )
        counts.update(chain.from_iterable(map(self._counted.__getitem__, present)))
        required = self._required
        candidates = [topic for topic, n in counts.items() if n == required[topic]]
        candidates += self._always
        candidates += chain.from_iterable(
            map(self._by_word.__getitem__, scan.patterns & self._by_word.keys())
        )
        complete = self._complete
        formulas = self._formulas
        return [
            topic
            for topic in sorted(set(candidates))
            if complete[topic] or scan.holds(formulas[topic])
        ]

    # --- compiling

    def _compile(self, node: Node) -> _Formula:
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Near):
            left = tuple(dict.fromkeys(self._term(term) for term in node.left))
            right = tuple(dict.fromkeys(self._term(term) for term in node.right))
            return self._atom(_NearAtom(left, right, node.distance))
        if isinstance(node, Value):
            pattern = node.pattern.casefold()
            if node.field == "url":
                pattern = normalised_url(pattern)
            return self._atom(_ValueAtom(node.field, pattern))
        if isinstance(node, Not):
            return (_NOT, (self._compile(node.child),))
        return (_AND if isinstance(node, And) else _OR, tuple(map(self._compile, node.children)))

    def _term(self, term: Term) -> int:
        patterns = tuple(self._pattern(word) for word in term.words)
        mask = sum(_FIELD_BITS[field] for field in term.fields)
        return self._atom(_TermAtom(patterns, mask))

    def _pattern(self, word: Word) -> int:
        key = (word.spellings, word.open_start, word.open_end)
        return self._patterns.setdefault(key, len(self._patterns))

    def _atom(self, atom: _Atom) -> int:
        found = self._atom_ids.get(atom)
        if found is None:
            found = self._atom_ids[atom] = len(self._atoms)
            self._atoms.append(atom)
        return found

    def _triggers(self, formula: _Formula) -> tuple[frozenset[_Trigger], float] | None:
        """Word patterns at least one of which must occur in title or text for `formula` to
        hold, with a guess of how often that happens; the rarest choice is kept. None: there is
        no such set (a url:, source:, lang: or author: side of an OR, say)."""
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, _ValueAtom):  # a value alone is a unit: never asked here
                return None
            if isinstance(atom, _TermAtom):
                if atom.mask & AUTHOR:
                    return None
                pid = min(atom.patterns, key=self._frequency)
                return frozenset({pid}), self._frequency(pid)
            sides = [self._triggers((_OR, atom.left)), self._triggers((_OR, atom.right))]
            usable = [side for side in sides if side is not None]
            return min(usable, key=lambda side: side[1]) if usable else None
        operator, children = formula
        if operator == _NOT:
            return None
        found = [self._triggers(child) for child in children]
        if operator == _AND:
            usable = [f for f in found if f is not None]
            return min(usable, key=lambda f: f[1]) if usable else None
        if any(f is None for f in found):
            return None
        return self._union(f for f in found if f is not None)

    @staticmethod
    def _union(
        parts: Iterable[tuple[frozenset[_Trigger], float]],
    ) -> tuple[frozenset[_Trigger], float]:
        triggers: frozenset[_Trigger] = frozenset()
        frequency = 0.0
        for found, guess in parts:
            triggers |= found
            frequency += guess
        return triggers, frequency

    def _frequency(self, pid: int) -> float:
        # Longer words are rarer; a wildcard end makes a word commoner. A guess, for ordering.
        stems, open_start, open_end = self._pattern_list[pid]
        return 0.7 ** min(map(len, stems)) * (4 if open_start else 1) * (4 if open_end else 1)


# Word -> spellings, shared by all articles: most words of an article were seen before.
_SPELLED: dict[str, tuple[str, ...]] = {}
_SPELLED_MAX = 100_000  # about 20 MB at most
_INVISIBLE_CHARS = re.compile("[" + "".join(map(chr, INVISIBLE)) + "]")


def _clean(content: str) -> str:
    # A regex finds the rare invisible character much faster than str.translate removes it.
    if _INVISIBLE_CHARS.search(content):
        content = _INVISIBLE_CHARS.sub("", content)
    return unicodedata.normalize("NFC", content)


class _Article:
    """An article's words in order (title, text, then each author), and where each occurs."""

    def __init__(self, document: Document) -> None:
        self.segments = [
            _clean(content)
            for content in (document.title or "", document.text or "", *document.authors)
        ]
        self.bits = [TITLE, TEXT] + [AUTHOR] * len(document.authors)
        self.words: list[str] = []
        self.firsts: list[int] = []  # each segment's first word position, then the end
        self.in_field: dict[int, set[str]] = {TITLE: set(), TEXT: set(), AUTHOR: set()}
        for content, bit in zip(self.segments, self.bits, strict=True):
            found = WORD.findall(content)
            self.firsts.append(len(self.words))
            self.words += found
            self.in_field[bit].update(found)
        self.firsts.append(len(self.words))
        self._in_mask: dict[int, set[str]] = {}
        self._positions: dict[str, list[int]] = {}
        self._keys: dict[int, set[str]] = {}

    def in_mask(self, mask: int) -> set[str]:
        """The words occurring in the fields of `mask`."""
        found = self._in_mask.get(mask)
        if found is None:
            found = set().union(*(words for bit, words in self.in_field.items() if bit & mask))
            self._in_mask[mask] = found
        return found

    @cached_property
    def spelled(self) -> dict[str, tuple[str, ...]]:
        """Each distinct word's spellings: a small dict, whose lookups stay in the CPU cache.

        Title and text words come first; their spellings also give keys(TITLE | TEXT).
        """
        if len(_SPELLED) > _SPELLED_MAX:  # a long-running daemon meets ever new words
            _SPELLED.clear()
        shown = self.in_mask(TITLE | TEXT)
        words = [*shown, *(self.in_mask(AUTHOR) - shown)]
        looked_up = list(map(_SPELLED.get, words))  # one look-up per word, in C
        if None in looked_up:
            for i in compress(count(), map(is_, looked_up, repeat(None))):
                looked_up[i] = _SPELLED[words[i]] = spellings(words[i])
        found = cast(list[tuple[str, ...]], looked_up)
        self._keys[TITLE | TEXT] = set(chain.from_iterable(found[: len(shown)]))
        return dict(zip(words, found, strict=True))

    def keys(self, mask: int) -> set[str]:
        """The spellings of the words in the fields of `mask`."""
        if mask == TITLE | TEXT and mask not in self._keys:
            _ = self.spelled  # computes them on the way
        found = self._keys.get(mask)
        if found is None:
            words = self.in_mask(mask)
            found = set(chain.from_iterable(map(self.spelled.__getitem__, words)))
            self._keys[mask] = found
        return found

    @cached_property
    def all_keys(self) -> set[str]:
        return self.keys(TITLE | TEXT) | self.keys(AUTHOR)

    @cached_property
    def _stream(self) -> str:
        """Every word's first spelling, in order, between spaces.

        `str.find` in it locates a spelling's occurrences in C, and counting the spaces before
        one gives its position: cheaper than indexing every word in Python, as only a few
        spellings' positions are ever asked for.
        """
        spelled = self.spelled
        first = dict(zip(spelled.keys(), map(itemgetter(0), spelled.values()), strict=True))
        return f" {' '.join(map(first.__getitem__, self.words))} "

    @cached_property
    def _second(self) -> dict[str, set[str]]:
        """The words with a second spelling ("Köln": "koeln"), by it."""
        values = self.spelled.values()
        twice = compress(self.spelled.items(), map((1).__lt__, map(len, values)))
        found: dict[str, set[str]] = {}
        for word, keys in twice:
            found.setdefault(keys[1], set()).add(word)
        return found

    def _key_positions(self, key: str) -> list[int]:
        found = self._positions.get(key)
        if found is None:
            stream = self._stream
            needle = f" {key} "
            found = []
            pos = 0
            last = 0
            at = stream.find(needle)
            while at >= 0:
                pos += stream.count(" ", last, at)
                found.append(pos)
                last = at
                at = stream.find(needle, at + len(key) + 1)
            words = self._second.get(key)
            if words:  # words spelled so in their second spelling only
                found = sorted({*found, *compress(count(), map(words.__contains__, self.words))})
            self._positions[key] = found
        return found

    @cached_property
    def sorted_keys(self) -> list[str]:
        return sorted(self.all_keys)

    @cached_property
    def reversed_keys(self) -> list[str]:
        return sorted(key[::-1] for key in self.all_keys)

    def keys_matching(self, pattern: _Pattern) -> list[str]:
        """The article's spellings that a word pattern matches."""
        stems, open_start, open_end = pattern
        keys: list[str] = []
        for stem in stems:
            if not (open_start or open_end):
                if stem in self.all_keys:
                    keys.append(stem)
            elif not open_start:
                keys += _starting(self.sorted_keys, stem)
            elif not open_end:
                keys += (key[::-1] for key in _starting(self.reversed_keys, stem[::-1]))
            else:
                keys += (key for key in self.all_keys if stem in key)
        return keys

    def positions(self, keys: list[str], mask: int) -> list[int]:
        """Ascending positions, within the fields of `mask`, of the words spelled `keys`."""
        lists = [self._key_positions(key) for key in keys]
        found = lists[0] if len(lists) == 1 else sorted(set(chain.from_iterable(lists)))
        if mask == TITLE | TEXT | AUTHOR or not found:
            return found
        # The fields are consecutive ranges of positions: title, text, authors.
        title, text, authors = self.firsts[0], self.firsts[1], self.firsts[2]
        if mask == TITLE | AUTHOR:  # the one combination that is not consecutive
            return found[: bisect_left(found, text)] + found[bisect_left(found, authors) :]
        start = bisect_left(found, title if mask & TITLE else text if mask & TEXT else authors)
        end = len(found) if mask & AUTHOR else bisect_left(found, authors if mask & TEXT else text)
        return found[start:end]

    def segment(self, pos: int) -> int:
        return bisect_right(self.firsts, pos) - 1

    @cached_property
    def passages(self) -> Passages:
        return Passages(self.segments[0], self.segments[1])

    def text(self, span: _Span) -> str:
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


def _starting(ordered: list[str], prefix: str) -> list[str]:
    found = []
    i = bisect_left(ordered, prefix)
    while i < len(ordered) and ordered[i].startswith(prefix):
        found.append(ordered[i])
        i += 1
    return found


class _Scan:
    """One article against the compiled topics: which words occur, and atom values, memoised."""

    def __init__(self, matcher: TopicMatcher, document: Document) -> None:
        self.matcher = matcher
        self.document = document
        self.article = article = _Article(document)
        self._matching: dict[int, list[str]] = {}  # pattern -> the article's spellings
        self._values: dict[int, bool] = {}
        self._spans: dict[int, list[_Span]] = {}
        # The word patterns present in title or text, found in C: set operations and the scan.
        self.patterns = self._present(article.keys(TITLE | TEXT))
        self._in_fields = {TITLE | TEXT: self.patterns}
        if not document.authors:
            self._in_fields[AUTHOR] = set()

    def in_fields(self, mask: int, exact: bool = True) -> set[int]:
        """The word patterns present in the fields of `mask`; with exact=False, possibly more
        (the text alone costs a second scan: title and text together are scanned already)."""
        if not exact and mask & TEXT:
            mask |= TITLE
        found = self._in_fields.get(mask)
        if found is None:
            if mask in (TITLE, TEXT, AUTHOR):
                found = self._present(self.article.keys(mask))
            elif mask & TITLE and mask & TEXT:
                found = self.patterns | self.in_fields(AUTHOR)
            else:
                found = self.in_fields(mask & ~AUTHOR) | self.in_fields(AUTHOR)
            self._in_fields[mask] = found
        return found

    def _present(self, keys: set[str]) -> set[int]:
        # One look-up per key, in C: map() of dict.get, and None filtered out.
        found = set(chain.from_iterable(filter(None, map(self.matcher._exact.get, keys))))
        automaton = self.matcher._automaton
        if automaton is not None and keys:
            found.update(
                chain.from_iterable(map(itemgetter(1), automaton.iter(f" {' '.join(keys)} ")))
            )
        return found

    def _keys_of(self, pid: int) -> list[str]:
        found = self._matching.get(pid)
        if found is None:
            pattern = self.matcher._pattern_list[pid]
            found = self._matching[pid] = self.article.keys_matching(pattern)
        return found

    # --- truth

    def holds(self, formula: _Formula) -> bool:
        if isinstance(formula, int):
            return self.atom(formula)
        operator, children = formula
        if operator == _AND:
            return all(self.holds(child) for child in children)
        if operator == _OR:
            return any(self.holds(child) for child in children)
        return not self.holds(children[0])

    def atom(self, ident: int) -> bool:
        value = self._values.get(ident)
        if value is None:
            value = self._values[ident] = self._evaluate(ident)
        return value

    def _evaluate(self, ident: int) -> bool:
        atom = self.matcher._atoms[ident]
        if isinstance(atom, _TermAtom):
            if len(atom.patterns) == 1:
                return atom.patterns[0] in self.in_fields(atom.mask)
            return self._may_occur(atom) and bool(self.spans(ident))
        if isinstance(atom, _NearAtom):
            return bool(self.pairs(atom, first_only=True))
        document = self.document
        if atom.field == "url":
            value = normalised_url(document.url)
        elif atom.field == "source":
            value = document.source.casefold()
        else:
            value = self.language
        return atom.regex.match(value) is not None

    @cached_property
    def language(self) -> str:
        return document_language(self.document.language)

    def _may_occur(self, atom: _TermAtom) -> bool:
        """False if a word of the term occurs nowhere: spares finding where the rest are."""
        present = self.in_fields(atom.mask)
        return all(pid in present for pid in atom.patterns)

    # --- where

    def spans(self, ident: int) -> list[_Span]:
        """Ascending occurrences of a term atom within its fields."""
        found = self._spans.get(ident)
        if found is not None:
            return found
        atom = self.matcher._atoms[ident]
        assert isinstance(atom, _TermAtom)
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

    def _positions(self, pid: int, mask: int) -> list[int]:
        keys = self._keys_of(pid)
        return self.article.positions(keys, mask) if keys else []

    def pairs(self, atom: _NearAtom, first_only: bool = False) -> list[tuple[_Span, _Span]]:
        """Occurrences of the two sides in one field with at most `distance` words between."""
        left = self._either(atom.left)
        right = self._either(atom.right) if left else []
        segment = self.article.segment
        found = []
        for a in left:
            for b in right:
                if b[0] > a[1]:
                    between = b[0] - a[1] - 1
                elif a[0] > b[1]:
                    between = a[0] - b[1] - 1
                else:  # the same words: two sides need two occurrences
                    continue
                if between <= atom.distance and segment(a[0]) == segment(b[0]):
                    found.append((a, b))
                    if first_only:
                        return found
        return found

    def _either(self, terms: tuple[int, ...]) -> list[_Span]:
        atoms = self.matcher._atoms
        found = [
            self.spans(term)
            for term in terms
            if self._may_occur(atoms[term])  # type: ignore[arg-type]
        ]
        return found[0] if len(found) == 1 else sorted(set(chain.from_iterable(found)))

    # --- why

    def hit(self, formula: _Formula) -> Hit:
        named: list[tuple[_Span, list[_Span]]] = []
        self._explain(formula, named)
        terms = tuple(self.article.text(span) for span, _ in named)
        in_text = self.article.firsts[2]  # author names are not in any sentence
        shown = [[span for span in places if span[0] < in_text] for _, places in named]
        return Hit(terms, self.article.passages.snippets(shown))

    def _explain(self, formula: _Formula, named: list[tuple[_Span, list[_Span]]]) -> None:
        """Per present term of a formula that holds (NOT sides excluded), in query order: the
        occurrence named in Hit.terms (the first) and those spelled the same, for snippets."""
        if isinstance(formula, int):
            atom = self.matcher._atoms[formula]
            if isinstance(atom, _TermAtom):
                named.append(self._named(self.spans(formula)))
            elif isinstance(atom, _NearAtom):
                pairs = self.pairs(atom)
                first = min(pairs, key=lambda pair: min(pair[0][0], pair[1][0]))
                named.append(self._named([first[0], *sorted({a for a, _ in pairs})]))
                named.append(self._named([first[1], *sorted({b for _, b in pairs})]))
            return
        operator, children = formula
        if operator == _NOT:
            return
        for child in children:
            if operator == _AND or self.holds(child):
                self._explain(child, named)

    def _named(self, spans: list[_Span]) -> tuple[_Span, list[_Span]]:
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
