"""Showing why a topic matched: the sentences that hold its words, cut to length, words marked."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from itertools import islice

from alerts.query import WORD, same_word, spellings

SNIPPET_MAX_CHARS = 240
MAX_SNIPPETS = 3
# Snippets are chosen among each term's first occurrences only: a word found fifty times would
# otherwise have every sentence of a long article split, for a choice the first few decide.
MAX_PLACES = 12

# Closing quotes may follow the period ("…bereit.“ Er"); opening ones may start the next.
_SENTENCE_END = re.compile(r"(\w*)([.!?…]+)[\"'”“»«\u2019)\]]*(?=\s+(\S))")
_SENTENCE_START = "„\"'\u201a«»“\u2018(["
# Abbreviations whose period is not a sentence end; single letters (initials) and digits
# (German ordinals: "am 12. September") are handled by rule.
_ABBREVIATIONS = frozenset(
    {"bzw", "ca", "dr", "etc", "ggf", "inkl", "jr", "mio", "mr", "mrd", "mrs", "ms", "nr", "prof"}
    | {"sog", "st", "usw", "vgl", "vs"}
)

# A sentence: (line, index in its line); line 0 is the title, which is one sentence.
_SentenceId = tuple[int, int]
# Consecutive sentences shown as one snippet: a phrase can run over a line break.
_Group = tuple[_SentenceId, _SentenceId]
_LINE = re.compile(r"[^\r\n]+")


def collapse(text: str) -> str:
    return " ".join(text.split())


class Passages:
    """An article's title and text, where each word stands, and the sentences they form.

    Words are numbered through the title, then the text, as `WORD.findall` finds them. Lines,
    word offsets and sentences are worked out only where a snippet needs them: most articles
    match no topic, and splitting a long one into sentences costs more than matching it.
    """

    def __init__(self, title: str, text: str) -> None:
        self.fields = (title, text)
        self._words: dict[int, list[tuple[int, int]]] = {}
        self._sentences: dict[int, tuple[list[tuple[int, int, int, int]], list[int]]] = {}

    @cached_property
    def _lines(self) -> tuple[list[tuple[int, int, int]], list[int]]:
        """Lines as (field, start, end), the title being one; and each line's first word."""
        title, text = self.fields
        lines = [(0, 0, len(title))]
        firsts = [0]
        count = len(WORD.findall(title))
        for m in _LINE.finditer(text):
            lines.append((1, m.start(), m.end()))
            firsts.append(count)
            count += len(WORD.findall(text, m.start(), m.end()))
        firsts.append(count)
        return lines, firsts

    def _line_of(self, pos: int) -> int:
        return bisect_right(self._lines[1], pos) - 1

    def _line_words(self, line: int) -> list[tuple[int, int]]:
        found = self._words.get(line)
        if found is None:
            field, start, end = self._lines[0][line]
            content = self.fields[field]
            found = [m.span() for m in WORD.finditer(content, start, end)]
            self._words[line] = found
        return found

    def offset(self, pos: int) -> tuple[int, int, int]:
        """(field, start, end) of word `pos`."""
        line = self._line_of(pos)
        field, start, end = self._lines[0][line]
        k = pos - self._lines[1][line]
        found = self._words.get(line)
        if found is not None:
            return (field, *found[k])
        # One word of a line (the one a term names): no need to locate all of them.
        match = next(islice(WORD.finditer(self.fields[field], start, end), k, None))
        return (field, *match.span())

    def _line_sentences(self, line: int) -> tuple[list[tuple[int, int, int, int]], list[int]]:
        """The line's sentences holding a word, as (start, end, first word, last word); and
        each one's first word."""
        found = self._sentences.get(line)
        if found is None:
            field, start, end = self._lines[0][line]
            content = self.fields[field]
            spans = _title_span(content) if line == 0 else _sentence_spans(content, start, end)
            sentences = []
            pos = self._lines[1][line]
            for a, b in spans:
                # Counting the words (findall, in C) is cheaper than locating each one.
                n = len(WORD.findall(content, a, b))
                if n:  # sentences without a word ("…", "—") are never shown
                    sentences.append((a, b, pos, pos + n - 1))
                pos += n
            found = self._sentences[line] = (sentences, [s[2] for s in sentences])
        return found

    def sentence_of(self, pos: int) -> _SentenceId:
        line = self._line_of(pos)
        return line, bisect_right(self._line_sentences(line)[1], pos) - 1

    def _sentence(self, sentence: _SentenceId) -> tuple[int, int, int, int]:
        return self._line_sentences(sentence[0])[0][sentence[1]]

    def snippets(self, occurrences: Sequence[Sequence[tuple[int, int]]]) -> tuple[str, ...]:
        """Up to MAX_SNIPPETS sentences, in article order, that together show each term once.

        `occurrences` holds, per term, the (first word, last word) of each place it occurs.
        """
        occurrences = [places[:MAX_PLACES] for places in occurrences]
        covers = [
            {(self.sentence_of(first), self.sentence_of(last)) for first, last in places}
            for places in occurrences
            if places
        ]
        if not covers:
            return ()

        def rank(group: _Group) -> tuple[bool, _SentenceId]:
            # Every alert already leads with the title: a text sentence says more.
            return group[0][0] == 0, group[0]

        common = set.intersection(*covers)
        chosen = [min(common, key=rank)] if common else []
        uncovered = set() if common else set(range(len(covers)))
        # Greedy set cover: exact minimum is NP-hard, and a few terms rarely need more than two.
        while uncovered and len(chosen) < MAX_SNIPPETS:
            candidates = set().union(*(covers[i] for i in uncovered))
            best = min(candidates, key=lambda g: (-sum(g in covers[i] for i in uncovered), rank(g)))
            chosen.append(best)
            uncovered = {i for i in uncovered if best not in covers[i]}
        # A group inside another chosen one would repeat its sentences.
        shown = [
            g for g in chosen if not any(o != g and o[0] <= g[0] and g[1] <= o[1] for o in chosen)
        ]
        marked = [
            pos
            for places in occurrences
            for first, last in places
            for pos in range(first, last + 1)
        ]
        excerpts = []
        for group in sorted(shown):
            lo, hi = self._sentence(group[0])[2], self._sentence(group[1])[3]
            excerpts.append(self._excerpt(group, [p for p in marked if lo <= p <= hi]))
        return tuple(excerpts)

    def _excerpt(self, group: _Group, hits: list[int]) -> str:
        """The sentences, or a window of them around the hits, within SNIPPET_MAX_CHARS."""
        start, _, lo, _ = self._sentence(group[0])
        _, end, _, hi = self._sentence(group[1])
        content = self.fields[self._lines[0][group[0][0]][0]]
        whole = collapse(content[start:end])
        if len(whole) <= SNIPPET_MAX_CHARS:
            return whole
        for line in range(group[0][0], group[1][0] + 1):
            self._line_words(line)  # every word's place, as the window grows word by word
        offset = self.offset

        def cost(a: int, b: int) -> int:
            # Characters of the window plus an ellipsis at each end that cuts the sentence.
            left = start if a == lo else offset(a)[1]
            right = end if b == hi else offset(b)[2]
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
        window = content[start if a == lo else offset(a)[1] : end if b == hi else offset(b)[2]]
        excerpt = ("…" if a > lo else "") + collapse(window) + ("…" if b < hi else "")
        if len(excerpt) > SNIPPET_MAX_CHARS:  # a single word longer than the limit
            excerpt = excerpt[: SNIPPET_MAX_CHARS - 1] + "…"
        return excerpt


def _title_span(title: str) -> Iterator[tuple[int, int]]:
    stripped = title.strip()
    if stripped:
        start = title.index(stripped[0])
        yield start, start + len(stripped)


def _sentence_spans(text: str, line_start: int, line_end: int) -> Iterator[tuple[int, int]]:
    """Sentence spans of one line; a line break always ends one (headings have no period)."""
    start = line_start
    for m in _SENTENCE_END.finditer(text, line_start, line_end):
        before, punctuation, following = m.groups()
        if not (following.isupper() or following.isdigit() or following in _SENTENCE_START):
            continue
        if punctuation == "." and (
            before.isdigit() or len(before) == 1 or before.casefold() in _ABBREVIATIONS
        ):
            continue
        yield from _stripped(text, start, m.end())
        start = m.end()
    yield from _stripped(text, start, line_end)


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
    A term of several words ("Jong-un", "Kim Jong Un") is marked where its words occur in a row.
    """
    words = [(m.start(), m.end(), spellings(m.group())) for m in WORD.finditer(snippet)]
    wanted = sorted(
        (parts for parts in ([spellings(w) for w in WORD.findall(t)] for t in terms) if parts),
        key=len,
        reverse=True,  # longest first, so "Kim-Besuch" is one mark, not "Kim" plus a stray word
    )
    spans = []
    i = 0
    while i < len(words):
        for parts in wanted:
            n = len(parts)
            if i + n <= len(words) and all(same_word(words[i + k][2], parts[k]) for k in range(n)):
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
