"""What a topic query looks at and says, and the compiled form the matcher evaluates it in.

A query compiles to a formula over atoms: a term (words in a row, each a word pattern, within
some fields), a NEAR of terms, or a condition on the url, source or language. Formulas are an
atom's id or (operator, children). alerts.matcher builds them; alerts.scan evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from alerts.query import Value

TITLE, TEXT, AUTHOR = 1, 2, 4
FIELD_BITS = {"title": TITLE, "text": TEXT, "author": AUTHOR}
AND, OR, NOT = 0, 1, 2


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
class TermAtom:
    patterns: tuple[int, ...]  # one word pattern per word, in a row
    mask: int  # the fields it may occur in


@dataclass(frozen=True)
class NearAtom:
    left: tuple[int, ...]  # term atoms, alternatives
    right: tuple[int, ...]
    distance: int


@dataclass(frozen=True)
class ValueAtom:
    field: str
    pattern: str  # normalised, '*' for any characters

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return Value(self.field, self.pattern, 0).regex


Atom = TermAtom | NearAtom | ValueAtom
# An atom's id, or (operator, children).
Formula = int | tuple[int, tuple["Formula", ...]]
# A word pattern: its spellings, and whether it is open at the start and at the end.
Pattern = tuple[tuple[str, ...], bool, bool]
Span = tuple[int, int]  # first and last word position of one occurrence
