"""Matching many topic queries against one article at once, and saying why each matched.

Every word of every topic is compiled once into a word pattern: whole words are looked up by
spelling, wildcard words through one Aho-Corasick automaton (`waffen*` is " waffen", `*waffen`
"waffen ", `*waffen*` "waffen", each word scanned between spaces). Which patterns a word matches
is remembered across articles (alerts.scan.WordIndex), so per article the present patterns cost
one look-up per distinct word, in C.

A topic can only match if each "unit" its query requires is present: a word (or one of a few
words, for an OR of words) in a field, or a url:, source: or lang: value. Tables from pattern to
unit and from unit to topic turn the present patterns into a count of present units per topic,
in numpy; a topic with all its units present is a candidate, and one that is nothing but units
(most are) matches without evaluation. The others (phrases, NEARs, NOTs, field scopes the count
only approximates) are evaluated; a topic requiring no unit at all (an OR of phrases, say) is a
candidate when its rarest trigger word is present. Word positions are worked out only for the
phrases, NEARs and hits that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import cast

import ahocorasick
import numpy as np
from numpy.typing import NDArray

from alerts.atoms import (
    AND,
    AUTHOR,
    FIELD_BITS,
    NOT,
    OR,
    TEXT,
    TITLE,
    Atom,
    Document,
    Formula,
    Hit,
    NearAtom,
    Pattern,
    TermAtom,
    ValueAtom,
)
from alerts.query import And, Near, Node, Not, Query, Term, Value, Word, normalised_url
from alerts.scan import Scan, WordIndex

__all__ = ["Document", "Hit", "TopicMatcher"]


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
# Rows of small integers, one row per key: row k is flat[ptr[k]:ptr[k + 1]].
_Table = tuple[NDArray[np.intp], NDArray[np.int32]]
_NONE = np.empty(0, np.int32)


class TopicMatcher:
    """Matches many topics against an article, tokenising and scanning the article once."""

    def __init__(self, topics: Sequence[tuple[str, Query]], remember: int = 100_000) -> None:
        """`remember`: how many words' patterns to keep across articles (some 200 bytes each)."""
        self._names = [name for name, _ in topics]
        self._patterns: dict[Pattern, int] = {}
        self._atoms: list[Atom] = []
        self._atom_ids: dict[Atom, int] = {}
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
        automaton = None
        if wildcards:
            automaton = ahocorasick.Automaton()
            for key, pids in wildcards.items():
                automaton.add_word(key, tuple(pids))
            automaton.make_automaton()
        # Positions are asked for the words of phrases (and hyphenated words) and NEARs.
        positional: set[int] = set()
        for atom in self._atoms:
            if isinstance(atom, TermAtom) and len(atom.patterns) > 1:
                positional.update(atom.patterns)
            elif isinstance(atom, NearAtom):
                for ident in atom.left + atom.right:
                    positional.update(cast(TermAtom, self._atoms[ident]).patterns)
        self._index = WordIndex(
            {stem: tuple(pids) for stem, pids in exact.items()},
            automaton,
            frozenset(positional),
            remember,
        )

        units: dict[_Unit, int] = {}
        required: list[int] = []
        self._complete: list[bool] = []
        counted: dict[int, list[int]] = {}
        by_word: dict[int, list[int]] = {}
        always: list[int] = []
        for topic, formula in enumerate(self._formulas):
            needs = self._units(formula)
            # -1 for none: no count equals it, such a topic is a candidate by its triggers.
            required.append(len(needs) or -1)
            parts = formula[1] if isinstance(formula, tuple) and formula[0] == AND else (formula,)
            self._complete.append(all(self._unit(part) is not None for part in parts))
            for unit in needs:
                counted.setdefault(units.setdefault(unit, len(units)), []).append(topic)
            if needs:
                continue
            found = self._triggers(formula)
            if found is None:  # e.g. NOT (NOT a OR NOT b): rare enough to evaluate always
                always.append(topic)
                continue
            for pid in found[0]:
                by_word.setdefault(pid, []).append(topic)
        self._required = np.array(required, np.int64)
        self._by_word = {pid: tuple(topics) for pid, topics in by_word.items()}
        self._always = tuple(always)
        # The commonest unit, one word in title or text, leads from the pattern to its topics
        # directly; the other units through their id.
        single: dict[int, list[int]] = {}
        word_units: dict[int, dict[int, list[int]]] = {}
        self._value_units: list[tuple[int, int]] = []
        self._named_units: dict[tuple[str, str], list[int]] = {}
        for unit, ident in units.items():
            if isinstance(unit, _Words) and unit.mask == TITLE | TEXT and len(unit.pids) == 1:
                (pid,) = unit.pids
                single[pid] = counted.pop(ident)
            elif isinstance(unit, _Words):
                for pid in unit.pids:
                    word_units.setdefault(unit.mask, {}).setdefault(pid, []).append(ident)
            else:
                atom = self._atoms[unit.atom]
                assert isinstance(atom, ValueAtom)
                if atom.field == "url" or "*" in atom.pattern:
                    self._value_units.append((unit.atom, ident))
                else:
                    self._named_units.setdefault((atom.field, atom.pattern), []).append(ident)
        size = len(self._pattern_list)
        self._single = _table(single, size)
        # One table for the other word units, keyed by (field mask's slot, pattern).
        self._unit_masks = list(word_units)
        self._word_units = _table(
            {
                slot * size + pid: idents
                for slot, rows in enumerate(word_units.values())
                for pid, idents in rows.items()
            },
            len(word_units) * size,
        )
        self._unit_topics = _table(counted, len(units))

    def _unit(self, formula: Formula) -> _Unit | None:
        """The unit that `formula` is exactly, if it is one: its truth is the unit's presence."""
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, ValueAtom):
                return _Holds(formula)
            # Presence in the text alone is only approximated (see Scan.loose).
            exact = not atom.mask & TEXT or atom.mask & TITLE if isinstance(atom, TermAtom) else 0
            if isinstance(atom, TermAtom) and len(atom.patterns) == 1 and exact:
                return _Words(frozenset(atom.patterns), atom.mask)
            return None
        operator, children = formula
        if operator != OR:
            return None
        found = [self._unit(child) for child in children]
        words = [unit for unit in found if isinstance(unit, _Words)]
        if len(words) != len(found) or len({unit.mask for unit in words}) != 1:
            return None
        return _Words(frozenset().union(*(unit.pids for unit in words)), words[0].mask)

    def _units(self, formula: Formula) -> frozenset[_Unit]:
        """Units that must be present for `formula` to hold."""
        unit = self._unit(formula)
        if unit is not None:
            return frozenset({unit})
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, TermAtom):  # a phrase: each of its words
                return frozenset(_Words(frozenset({pid}), atom.mask) for pid in atom.patterns)
            if isinstance(atom, NearAtom):
                return self._units((OR, atom.left)) | self._units((OR, atom.right))
            return frozenset()
        operator, children = formula
        if operator == NOT:
            return frozenset()
        found = [self._units(child) for child in children]
        if operator == AND:
            return frozenset().union(*found)
        return frozenset.intersection(*found)

    def match(self, title: str, text: str) -> list[tuple[str, Hit]]:
        """The topics whose queries match title and text, in the order given, each with why."""
        return self.match_document(Document(title, text))

    def match_document(self, document: Document) -> list[tuple[str, Hit]]:
        """The topics whose queries match the document, in the order given, each with why."""
        scan = Scan(self._atoms, self._index, document)
        return [
            (self._names[topic], scan.hit(self._formulas[topic])) for topic in self._matched(scan)
        ]

    def matching(self, document: Document) -> list[str]:
        """The names of the topics whose queries match, in the order given, without the why."""
        scan = Scan(self._atoms, self._index, document)
        return [self._names[topic] for topic in self._matched(scan)]

    def _matched(self, scan: Scan) -> list[int]:
        size = len(self._pattern_list)  # word-unit keys are (slot, pattern)
        units = []
        if self._unit_masks:
            keys = [scan.loose(mask) + slot * size for slot, mask in enumerate(self._unit_masks)]
            units.append(_gather(self._word_units, np.concatenate(keys)))
        values = [unit for atom, unit in self._value_units if scan.atom(atom)]
        if self._named_units:
            document = scan.document
            for named in (("source", document.source.casefold()), ("lang", scan.language)):
                values += self._named_units.get(named, ())
        if values:
            units.append(np.array(values, np.int32))
        topics = _gather(self._single, scan.shown)
        if units:
            present = np.unique(np.concatenate(units))
            topics = np.concatenate((topics, _gather(self._unit_topics, present)))
        counts = np.bincount(topics, minlength=len(self._names))
        candidates: list[int] = np.flatnonzero(counts == self._required).tolist()
        extra = [*self._always]
        if self._by_word:
            pids = scan.patterns & self._by_word.keys()
            extra += chain.from_iterable(map(self._by_word.__getitem__, pids))
        if extra:
            candidates = sorted({*candidates, *extra})
        complete = self._complete
        formulas = self._formulas
        return [topic for topic in candidates if complete[topic] or scan.holds(formulas[topic])]

    # --- compiling

    def _compile(self, node: Node) -> Formula:
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Near):
            left = tuple(dict.fromkeys(self._term(term) for term in node.left))
            right = tuple(dict.fromkeys(self._term(term) for term in node.right))
            return self._atom(NearAtom(left, right, node.distance))
        if isinstance(node, Value):
            pattern = node.pattern.casefold()
            if node.field == "url":
                pattern = normalised_url(pattern)
            return self._atom(ValueAtom(node.field, pattern))
        if isinstance(node, Not):
            return (NOT, (self._compile(node.child),))
        return (AND if isinstance(node, And) else OR, tuple(map(self._compile, node.children)))

    def _term(self, term: Term) -> int:
        patterns = tuple(self._pattern(word) for word in term.words)
        mask = sum(FIELD_BITS[field] for field in term.fields)
        return self._atom(TermAtom(patterns, mask))

    def _pattern(self, word: Word) -> int:
        key = (word.spellings, word.open_start, word.open_end)
        return self._patterns.setdefault(key, len(self._patterns))

    def _atom(self, atom: Atom) -> int:
        found = self._atom_ids.get(atom)
        if found is None:
            found = self._atom_ids[atom] = len(self._atoms)
            self._atoms.append(atom)
        return found

    def _triggers(self, formula: Formula) -> tuple[frozenset[_Trigger], float] | None:
        """Word patterns at least one of which must occur in title or text for `formula` to
        hold, with a guess of how often that happens; the rarest choice is kept. None: there is
        no such set (a url:, source:, lang: or author: side of an OR, say)."""
        if isinstance(formula, int):
            atom = self._atoms[formula]
            if isinstance(atom, ValueAtom):  # a value alone is a unit: never asked here
                return None
            if isinstance(atom, TermAtom):
                if atom.mask & AUTHOR:
                    return None
                pid = min(atom.patterns, key=self._frequency)
                return frozenset({pid}), self._frequency(pid)
            sides = [self._triggers((OR, atom.left)), self._triggers((OR, atom.right))]
            usable = [side for side in sides if side is not None]
            return min(usable, key=lambda side: side[1]) if usable else None
        operator, children = formula
        if operator == NOT:
            return None
        found = [self._triggers(child) for child in children]
        if operator == AND:
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


def _table(rows: Mapping[int, Sequence[int]], size: int) -> _Table:
    """Rows 0 to size - 1 of `rows` (absent ones empty) as one flat array and its offsets."""
    lengths = np.zeros(size + 1, np.intp)
    for key, row in rows.items():
        lengths[key + 1] = len(row)
    ptr = np.cumsum(lengths)
    flat = np.fromiter(chain.from_iterable(rows[key] for key in sorted(rows)), np.int32)
    return ptr, flat


def _gather(table: _Table, keys: NDArray[np.int32]) -> NDArray[np.int32]:
    """Rows `keys` of `table`, one after the other."""
    ptr, flat = table
    starts = ptr[keys]
    lengths = ptr[keys + 1] - starts
    total = int(lengths.sum())
    if not total:
        return _NONE
    ends = np.cumsum(lengths)
    # Output element i belongs to a row r and sits at starts[r] + (i - row r's output start).
    return flat[np.arange(total) + np.repeat(starts - ends + lengths, lengths)]
