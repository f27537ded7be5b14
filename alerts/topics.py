"""Topic queries: parsing them, matching many at once against an article, showing why they matched.

A query is, for now, words that must all occur in the article's title or text. The planned Boolean
language (AND/OR/NOT, phrases, NEAR/n, field scopes) keeps that meaning: everything it will give a
meaning to (operator words, quotes, brackets, ':', '/', a leading '-') is rejected today rather than
searched for, so no query that parses now changes meaning later.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

SNIPPET_MAX_CHARS = 240
MAX_SNIPPETS = 3

_RESERVED = frozenset({"AND", "OR", "NOT", "NEAR"})
# A word is a run of letters and digits; everything else (hyphens, apostrophes, dashes) separates.
_WORD = re.compile(r"[^\W_]+")
# Soft hyphens and zero-width characters sit inside words on real pages ("Waffen\xadlieferung").
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
# Letters that NFKD does not decompose but readers treat as their base letter ("Łukaschenko").
_LETTER_FOLD = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
_DIAERESIS = "\u0308"
# Closing quotes may follow the period ("…bereit.“ Er"); opening ones may start the next.
_SENTENCE_END = re.compile(r"(\w*)([.!?…]+)[\"'”“»«\u2019)\]]*(?=\s+(\S))")
_SENTENCE_START = "„\"'\u201a«»“\u2018(["
# Abbreviations whose period is not a sentence end; single letters (initials) and digits
# (German ordinals: "am 12. September") are handled by rule.
_ABBREVIATIONS = frozenset(
    {"bzw", "ca", "dr", "etc", "ggf", "inkl", "jr", "mio", "mr", "mrd", "mrs", "ms", "nr", "prof"}
    | {"sog", "st", "usw", "vgl", "vs"}
)


class QueryError(ValueError):
    """A query that cannot be parsed; `column` (1-based) points at the offending character."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column

    def __reduce__(self) -> tuple[type[QueryError], tuple[str, int]]:
        # Keeps the error intact across process pools (the default would replay only the str).
        return type(self), (self.message, self.column)


@lru_cache(maxsize=1 << 16)
def spellings(word: str) -> tuple[str, ...]:
    """The normalised forms under which `word` is indexed; two words match if any form agrees.

    Case, accents and ß are folded away: "KÖLN", "Köln" and "koln" all give "koln". A word written
    with an umlaut also gets its German transliteration ("Köln" -> "koeln"): "Koeln" meets "Köln".
    The reverse rewrite (oe -> o) is never applied to plain words: it would make "Poet" equal "Pot"
    and "neue" equal "neu". Hence Köln ~ koln and Köln ~ Koeln, but not koln ~ Koeln.
    """
    plain: list[str] = []
    transliterated: list[str] = []
    for char in unicodedata.normalize("NFKD", word).casefold():
        if not unicodedata.combining(char):
            plain.append(char)
            transliterated.append(char)
        elif char == _DIAERESIS and transliterated and transliterated[-1] in "aou":
            transliterated.append("e")
    first = "".join(plain).translate(_LETTER_FOLD)
    second = "".join(transliterated).translate(_LETTER_FOLD)
    return (first,) if first == second else (first, second)


def _same_word(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(key in b for key in a)


def _collapse(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Term:
    """One word (or hyphenated word group) a query requires."""

    text: str  # as written in the query: "Köln", "Waffen*", "Jong-un"
    word: str  # normalised, without the '*': "koln", "waffen", "jong-un"
    prefix: bool  # written with a trailing '*': its last word also matches longer words

    @property
    def words(self) -> tuple[tuple[str, ...], ...]:
        """The spellings of each hyphen-separated word, as the matcher looks them up."""
        return tuple(spellings(part) for part in self.text.rstrip("*").split("-"))

    @classmethod
    def parse(cls, raw: str, column: int) -> Term:
        """Parse one whitespace-free piece of a query that starts at `column`."""
        if raw in _RESERVED:
            raise QueryError(
                f"'{raw}' is reserved for the query language; write '{raw.lower()}' to search for "
                "the word",
                column,
            )
        if not any(char.isalnum() for char in raw):
            if raw.strip("*") == "":
                raise QueryError("'*' must follow a word", column)
            raise QueryError(f"{raw!r} has no letters or digits", column)
        prefix = raw.endswith("*")
        body = raw[:-1] if prefix else raw
        for i, char in enumerate(body):
            if char.isalnum():
                continue
            if char == "*":
                raise QueryError("'*' is only allowed at the end of a word", column + i)
            if char == "-":
                if 0 < i < len(body) - 1 and body[i - 1].isalnum() and body[i + 1].isalnum():
                    continue
                raise QueryError("'-' is only allowed between letters or digits", column + i)
            raise QueryError(f"unexpected character {char!r}", column + i)
        word = "-".join(spellings(part)[0] for part in body.split("-"))
        return cls(raw, word, prefix)


@dataclass(frozen=True)
class Query:
    """A parsed topic query: every term must occur in the article."""

    text: str
    terms: tuple[Term, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        # NFC so that a decomposed "o" + combining diaeresis stays one letter, as in articles.
        composed = unicodedata.normalize("NFC", text)
        terms = tuple(Term.parse(m.group(), m.start() + 1) for m in re.finditer(r"\S+", composed))
        if not terms:
            raise QueryError("empty query", 1)
        return cls(text, terms)


@dataclass(frozen=True)
class Hit:
    """Why a topic matched an article."""

    terms: tuple[str, ...]  # per query term, the article's word for it (first, title preferred)
    snippets: tuple[str, ...]  # up to MAX_SNIPPETS sentences holding those words, in article order


# How the matcher looks a term up: spellings per hyphen-separated word, and the prefix flag.
_Lookup = tuple[tuple[tuple[str, ...], ...], bool]


class TopicMatcher:
    """Matches many topics against an article, tokenising and indexing the article once."""

    def __init__(self, topics: Sequence[tuple[str, Query]]) -> None:
        ids: dict[_Lookup, int] = {}
        # Topics share terms ("Putin"): each distinct term is looked up once per article.
        self._topics = [
            (name, tuple(ids.setdefault((term.words, term.prefix), len(ids)) for term in q.terms))
            for name, q in topics
        ]
        self._lookups = list(ids)

    def match(self, title: str, text: str) -> list[tuple[str, Hit]]:
        """The topics whose queries match, in the order given, each with why."""
        article = _Article(title, text)
        found: list[list[int] | None] = [None] * len(self._lookups)
        hits = []
        for name, term_ids in self._topics:
            for i in term_ids:
                if found[i] is None:
                    found[i] = article.find(self._lookups[i])
                if not found[i]:
                    break
            else:
                occurrences = [(found[i] or [], len(self._lookups[i][0])) for i in term_ids]
                hits.append((name, article.hit(occurrences)))
        return hits


class _Article:
    """An article's words with positions (title first), indexed by spelling."""

    def __init__(self, title: str, text: str) -> None:
        self.fields = tuple(
            unicodedata.normalize("NFC", field.translate(_INVISIBLE)) for field in (title, text)
        )
        self.field_of: list[int] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.index: dict[str, list[int]] = {}
        for field, content in enumerate(self.fields):
            for m in _WORD.finditer(content):
                for key in spellings(m.group()):
                    self.index.setdefault(key, []).append(len(self.starts))
                self.field_of.append(field)
                self.starts.append(m.start())
                self.ends.append(m.end())

    def word(self, pos: int) -> str:
        return self.fields[self.field_of[pos]][self.starts[pos] : self.ends[pos]]

    @cached_property
    def sorted_keys(self) -> list[str]:
        return sorted(self.index)

    def find(self, lookup: _Lookup) -> list[int]:
        """Ascending positions where the term's (first) word occurs."""
        words, prefix = lookup
        last = len(words) - 1
        first = self._positions(words[0], prefix and last == 0)
        if last == 0:
            return first
        later = {
            k: set(self._positions(words[k], prefix and k == last)) for k in range(1, last + 1)
        }
        # A group must not run from the title into the text.
        return [
            pos
            for pos in first
            if all(pos + k in later[k] for k in later)
            and self.field_of[pos] == self.field_of[pos + last]
        ]

    def _positions(self, keys: tuple[str, ...], prefix: bool) -> list[int]:
        if not prefix:
            if len(keys) == 1:
                return self.index.get(keys[0], [])
            return sorted({pos for key in keys for pos in self.index.get(key, ())})
        found: set[int] = set()
        for key in keys:
            i = bisect_left(self.sorted_keys, key)
            while i < len(self.sorted_keys) and self.sorted_keys[i].startswith(key):
                found.update(self.index[self.sorted_keys[i]])
                i += 1
        return sorted(found)

    def hit(self, occurrences: Sequence[tuple[list[int], int]]) -> Hit:
        """Build the Hit from each term's positions and word count."""
        terms = []
        shown = []
        for positions, n in occurrences:
            first = positions[0]
            field = self.fields[self.field_of[first]]
            terms.append(_collapse(field[self.starts[first] : self.ends[first + n - 1]]))
            spelled = [spellings(self.word(first + k)) for k in range(n)]
            # Snippets show the words named in `terms`, so only their occurrences count.
            shown.append(
                [
                    pos
                    for pos in positions
                    if all(_same_word(spellings(self.word(pos + k)), spelled[k]) for k in range(n))
                ]
            )
        return Hit(tuple(terms), self._snippets(shown, [n for _, n in occurrences]))

    @cached_property
    def sentences(self) -> tuple[list[tuple[int, int, int, int, int]], list[int]]:
        """Sentences as (field, start, end, first word, last word), and each word's sentence."""
        spans = [
            (field, start, end)
            for field, content in enumerate(self.fields)
            for start, end in (_title_span(content) if field == 0 else _sentence_spans(content))
        ]
        sentence_of: list[int] = []
        bounds: dict[int, list[int]] = {}
        s = 0
        for pos, (field, start) in enumerate(zip(self.field_of, self.starts, strict=True)):
            while not (spans[s][0] == field and spans[s][1] <= start < spans[s][2]):
                s += 1
            sentence_of.append(s)
            bounds.setdefault(s, [pos, pos])[1] = pos
        # Sentences without a word ("…", "—") are dropped, so the rest are numbered anew.
        sentences = [(*spans[s], bounds[s][0], bounds[s][1]) for s in sorted(bounds)]
        renumber = {old: new for new, old in enumerate(sorted(bounds))}
        return sentences, [renumber[s] for s in sentence_of]

    def _snippets(self, shown: list[list[int]], lengths: list[int]) -> tuple[str, ...]:
        sentences, sentence_of = self.sentences
        covers = [{sentence_of[pos] for pos in positions} for positions in shown]
        if not covers:  # a Query built without terms
            return ()

        def rank(s: int) -> tuple[bool, int]:
            # Every alert already leads with the title: a text sentence says more.
            return sentences[s][0] == 0, s

        common = set.intersection(*covers)
        chosen = [min(common, key=rank)] if common else []
        uncovered = set() if common else set(range(len(covers)))
        # Greedy set cover: exact minimum is NP-hard, and a few terms rarely need more than two.
        while uncovered and len(chosen) < MAX_SNIPPETS:
            candidates = set().union(*(covers[i] for i in uncovered))
            best = min(candidates, key=lambda s: (-sum(s in covers[i] for i in uncovered), rank(s)))
            chosen.append(best)
            uncovered = {i for i in uncovered if best not in covers[i]}
        marked = [
            pos + k
            for positions, n in zip(shown, lengths, strict=True)
            for pos in positions
            for k in range(n)
        ]
        return tuple(
            self._excerpt(sentences[s], [p for p in marked if sentence_of[p] == s])
            for s in sorted(chosen)
        )

    def _excerpt(self, sentence: tuple[int, int, int, int, int], hits: list[int]) -> str:
        """The sentence, or a window of it around the hits, within SNIPPET_MAX_CHARS."""
        field, start, end, lo, hi = sentence
        content = self.fields[field]
        whole = _collapse(content[start:end])
        if len(whole) <= SNIPPET_MAX_CHARS:
            return whole

        def cost(a: int, b: int) -> int:
            # Characters of the window plus an ellipsis at each end that cuts the sentence.
            left = start if a == lo else self.starts[a]
            right = end if b == hi else self.ends[b]
            return right - left + (a > lo) + (b < hi)

        a, b = min(hits), max(hits)
        while b > a and cost(a, b) > SNIPPET_MAX_CHARS:
            b -= 1
        grown = True
        while grown:  # widen one word at a time on each side, keeping the hits centred
            grown = False
            if a > lo and cost(a - 1, b) <= SNIPPET_MAX_CHARS:
                a, grown = a - 1, True
            if b < hi and cost(a, b + 1) <= SNIPPET_MAX_CHARS:
                b, grown = b + 1, True
        window = content[start if a == lo else self.starts[a] : end if b == hi else self.ends[b]]
        excerpt = ("…" if a > lo else "") + _collapse(window) + ("…" if b < hi else "")
        if len(excerpt) > SNIPPET_MAX_CHARS:  # a single word longer than the limit
            excerpt = excerpt[: SNIPPET_MAX_CHARS - 1] + "…"
        return excerpt


def _title_span(title: str) -> Iterator[tuple[int, int]]:
    stripped = title.strip()
    if stripped:
        start = title.index(stripped[0])
        yield start, start + len(stripped)


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """Sentence spans of each line; a line break always ends one (headings have no period)."""
    for line in re.finditer(r"[^\r\n]+", text):
        start = line.start()
        for m in _SENTENCE_END.finditer(line.group()):
            before, punctuation, following = m.groups()
            if not (following.isupper() or following.isdigit() or following in _SENTENCE_START):
                continue
            if punctuation == "." and (
                before.isdigit() or len(before) == 1 or before.casefold() in _ABBREVIATIONS
            ):
                continue
            yield from _stripped(text, start, line.start() + m.end())
            start = line.start() + m.end()
        yield from _stripped(text, start, line.end())


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    piece = text[start:end]
    if piece.strip():
        yield start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


def _as_is(text: str) -> str:
    return text


def highlight(
    snippet: str,
    terms: Sequence[str],
    mark: Callable[[str], str],
    escape: Callable[[str], str] = _as_is,
) -> str:
    """Wrap each whole-word occurrence of `terms` (normalised like matching) in `mark(word)`.

    `escape` is applied to the text between marks: pass `html.escape` with a `mark` that escapes.
    A hyphenated term ("Jong-un") is marked where its words occur in a row.
    """
    words = [(m.start(), m.end(), spellings(m.group())) for m in _WORD.finditer(snippet)]
    wanted = sorted(
        (parts for parts in ([spellings(w) for w in _WORD.findall(t)] for t in terms) if parts),
        key=len,
        reverse=True,  # longest first, so "Kim-Besuch" is one mark, not "Kim" plus a stray word
    )
    spans = []
    i = 0
    while i < len(words):
        for parts in wanted:
            n = len(parts)
            if i + n <= len(words) and all(_same_word(words[i + k][2], parts[k]) for k in range(n)):
                spans.append((words[i][0], words[i + n - 1][1]))
                i += n
                break
        else:
            i += 1
    pieces = []
    last = 0
    for start, end in spans:
        pieces += [escape(snippet[last:start]), mark(snippet[start:end])]
        last = end
    pieces.append(escape(snippet[last:]))
    return "".join(pieces)
