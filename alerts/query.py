"""The topic query language: what a word is, when two words are the same, and parsing queries.

Grammar, loosest binding first (a NOT side must be joined by AND to something it excludes from):

    query    := or
    or       := and ("OR" and)*
    and      := unary (["AND"] unary)*          # terms side by side mean AND
    unary    := ("NOT" | "-") unary | near
    near     := primary ["NEAR/n" primary]      # sides: words, phrases, OR-groups of them
    primary  := "(" or ")" | '"phrase"' | word | field ":" primary

Operators are upper case; "and", "or", "not" and "near" are ordinary words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress, count
from operator import and_, not_
from urllib.parse import unquote

# A word is a run of letters and digits; everything else (hyphens, apostrophes, dashes) separates.
WORD = re.compile(r"[^\W_]+")
# Soft hyphens and zero-width characters sit inside words on real pages ("Waffen\xadlieferung").
INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
# Letters that NFKD does not decompose but readers treat as their base letter ("Łukaschenko").
_LETTER_FOLD = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
_DIAERESIS = "\u0308"

# Fields whose content is words (searched like the text) and fields that hold one value.
WORD_FIELDS = ("title", "text", "author")
VALUE_FIELDS = ("url", "source", "lang")
DEFAULT_FIELDS = frozenset({"title", "text"})
_FIELD_NAMES = ", ".join(sorted(WORD_FIELDS + VALUE_FIELDS))
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_NEAR = re.compile(r"NEAR(?:/(.*))?")
_PHRASE_CHUNK = re.compile(r"(?:[^\W_]|\*)+")
_TYPOGRAPHIC_QUOTES = "\u201e\u201c\u201d\u201a\u2018\u2019\u00ab\u00bb"  # German and French quotes
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_STAR_HINT = "(Waffen*, *waffen, *waffen*)"
_EXPECTED_TERM = "a word, phrase or '('"


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
    if word.isascii() and word.isalnum():  # most words: nothing to decompose or fold
        return (word.lower(),)
    decomposed = unicodedata.normalize("NFKD", word).casefold()
    first = decomposed.translate(_ACCENTS)
    if not (first.isascii() and first.isalnum()):  # beyond Latin letters with accents
        return _spellings(decomposed)
    return _umlauts(decomposed, first) if _DIAERESIS in decomposed else (first,)


def _umlauts(decomposed: str, first: str) -> tuple[str, ...]:
    """A word's spellings, given decomposed and its first spelling (Latin letters only)."""
    second = _transliterate(decomposed)
    if _DIAERESIS in second:  # after other accents, or twice
        second = _UMLAUT.sub(r"\1e", decomposed)
    second = second.translate(_ACCENTS)
    return (first,) if first == second else (first, second)


def spell_all(words: list[str]) -> list[tuple[str, ...]]:
    """spellings() of each word (none holding a space), worked out together: in C for most."""
    # A word of ASCII letters and digits is only lower-cased: all of them in one go.
    found: list[tuple[str, ...]] = list(zip(" ".join(words).lower().split(" ")))
    if len(found) != len(words):  # none, or one holding a space after all
        return list(map(spellings, words))
    simple = map(and_, map(str.isascii, words), map(str.isalnum, words))
    hard = list(compress(count(), map(not_, simple)))
    if not hard:
        return found
    decomposed = unicodedata.normalize("NFKD", " ".join(words[i] for i in hard)).casefold()
    pieces = decomposed.split(" ")
    firsts = decomposed.translate(_ACCENTS).split(" ")
    if not len(pieces) == len(firsts) == len(hard):  # a letter decomposed into words
        for i in hard:
            found[i] = spellings(words[i])
        return found
    # German umlauts alone ("Ko\u0308ln" -> "koeln"), all in one go too.
    seconds = _transliterate(decomposed).split(" ")
    for i, piece, first, second in zip(hard, pieces, firsts, seconds, strict=True):
        if not (first.isascii() and first.isalnum()):
            found[i] = _spellings(piece)
        elif second == first:
            found[i] = (first,)
        elif second.isascii():
            found[i] = (first, second)
        else:  # other accents as well
            found[i] = _umlauts(piece, first)
    return found


def _transliterate(decomposed: str) -> str:
    for vowel in "aou":
        decomposed = decomposed.replace(vowel + _DIAERESIS, vowel + "e")
    return decomposed


# The combining accents of Latin letters (all but the grapheme joiner, which is no accent).
_ACCENTS = {c: None for c in range(0x300, 0x370) if unicodedata.combining(chr(c))}
# An umlaut: a, o or u, then (after any other accents) a diaeresis.
_UMLAUT = re.compile("([aou])[\u0300-\u036f]*?\u0308")


def _spellings(decomposed: str) -> tuple[str, ...]:
    """spellings() of a word, given decomposed (NFKD) and case-folded, char by char."""
    plain: list[str] = []
    transliterated: list[str] = []
    for char in decomposed:
        if char.isspace():  # a few ligatures decompose into several words
            continue
        if not unicodedata.combining(char):
            plain.append(char)
            transliterated.append(char)
        elif char == _DIAERESIS and transliterated and transliterated[-1] in "aou":
            transliterated.append("e")
    first = "".join(plain).translate(_LETTER_FOLD)
    second = "".join(transliterated).translate(_LETTER_FOLD)
    return (first,) if first == second else (first, second)


def same_word(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two words, given by their spellings, are the same word."""
    return any(key in b for key in a)


@dataclass(frozen=True)
class Word:
    """One word of a term, possibly with wildcards: `Waffen*`, `*waffen`, `*lieferung*`."""

    text: str  # as written, stars included
    spellings: tuple[str, ...]  # normalised, without the stars
    open_start: bool  # written with a leading '*': the article's word may begin earlier
    open_end: bool  # written with a trailing '*': the article's word may go on


@dataclass(frozen=True)
class Term:
    """Words that must occur in a row in one field: a word, a hyphenated word or a phrase."""

    text: str  # as written: 'Köln', 'Waffen*', 'Jong-un', '"Kim Jong-un"'
    words: tuple[Word, ...]
    fields: frozenset[str]  # where it may occur: some of title, text, author
    column: int


@dataclass(frozen=True)
class Near:
    """Two terms (or alternatives of terms) at most `distance` words apart, either order."""

    left: tuple[Term, ...]
    right: tuple[Term, ...]
    distance: int
    column: int


@dataclass(frozen=True)
class Value:
    """A condition on the article's URL, source name or language."""

    field: str  # url, source or lang
    pattern: str  # as written
    column: int

    @property
    def regex(self) -> re.Pattern[str]:
        """What the normalised field value must match (see `normalised_url`)."""
        if self.field == "lang":
            return re.compile(re.escape(self.pattern.casefold()) + r"\Z")
        pattern = self.pattern.casefold()
        if self.field == "url":
            pattern = normalised_url(pattern)
        body = ".*".join(map(re.escape, pattern.split("*")))
        # A URL pattern is anchored at the address's start only: `url:tagesschau.de` is the site.
        return re.compile(body if self.field == "url" else body + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node
    column: int


Node = Term | Near | Value | And | Or | Not


def normalised_url(url: str) -> str:
    """A URL as `url:` patterns see it: lower case, percent-decoded, without scheme and "www."."""
    url = _SCHEME.sub("", unquote(url).casefold())
    return url.removeprefix("www.")


def document_language(language: str | None) -> str:
    """The primary language subtag `lang:` compares with ("de-AT" -> "de")."""
    return (language or "").casefold().replace("_", "-").partition("-")[0]


@dataclass(frozen=True)
class Query:
    """A parsed topic query."""

    text: str
    root: Node

    @classmethod
    def parse(cls, text: str) -> Query:
        # NFC so that a decomposed "o" + combining diaeresis stays one letter, as in articles.
        composed = unicodedata.normalize("NFC", text)
        root = _Parser(composed).parse()
        negation = _unanchored_not(root)
        if negation is not None:
            raise QueryError(
                "NOT on its own or beside OR matches nearly every article; join it by AND to "
                "a term it excludes from, e.g. 'Kim NOT Putin'",
                negation.column,
            )
        return cls(text, root)

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term of the query in the order written, those under NOT included."""
        return tuple(_terms(self.root))


def _terms(node: Node) -> Iterator[Term]:
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Near):
        yield from node.left
        yield from node.right
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _terms(child)
    elif isinstance(node, Not):
        yield from _terms(node.child)


def _true_when_nothing_occurs(node: Node) -> bool:
    if isinstance(node, And):
        return all(_true_when_nothing_occurs(child) for child in node.children)
    if isinstance(node, Or):
        return any(_true_when_nothing_occurs(child) for child in node.children)
    if isinstance(node, Not):
        return not _true_when_nothing_occurs(node.child)
    return False


def _unanchored_not(node: Node) -> Not | None:
    """The NOT that lets `node` match an article holding none of its terms, if any.

    Such a topic would fire on nearly every article; the matcher also relies on every topic
    needing at least one term (or url/source/lang condition) to be present.
    """
    if not _true_when_nothing_occurs(node):
        return None
    if isinstance(node, Not):
        return node
    assert isinstance(node, And | Or)
    return next(found for child in node.children if (found := _unanchored_not(child)) is not None)


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "phrase", "word", "end"
    text: str  # a phrase without its quotes
    column: int  # 1-based
    end: int  # column just after the token

    def __str__(self) -> str:
        if self.kind == "end":
            return "the end of the query"
        if self.kind == "phrase":
            return f"'\"{self.text}\"'"
        return f"'{self.text}'"


def _tokens(text: str) -> list[_Token]:
    tokens = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i + 1, i + 2))
            i += 1
        elif char == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError("this '\"' is never closed", i + 1)
            tokens.append(_Token("phrase", text[i + 1 : close], i + 1, close + 2))
            i = close + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '()"':
                j += 1
            tokens.append(_Token("word", text[i:j], i + 1, j + 1))
            i = j
    tokens.append(_Token("end", "", len(text) + 1, len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over the tokens; `scope` is the field a `field:` prefix set, if any."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    @property
    def next(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Node:
        if self.next.kind == "end":
            raise QueryError("empty query", 1)
        node = self.parse_or(None)
        if self.next.kind == ")":
            raise QueryError("this ')' has no '(' to close", self.next.column)
        assert self.next.kind == "end"
        return node

    def parse_or(self, scope: str | None, after: _Token | None = None) -> Node:
        children = [self.parse_and(scope, after)]
        while self.next.kind == "word" and self.next.text == "OR":
            after = self.take()
            children.append(self.parse_and(scope, after))
        return _joined(Or, children)

    def parse_and(self, scope: str | None, after: _Token | None = None) -> Node:
        children = [self.parse_unary(scope, after)]
        while True:
            token = self.next
            if token.kind in (")", "end") or (token.kind == "word" and token.text == "OR"):
                return _joined(And, children)
            if token.kind == "word" and token.text == "AND":
                children.append(self.parse_unary(scope, self.take()))
            elif token.kind == "word" and _NEAR.fullmatch(token.text):
                raise QueryError(
                    f"{token} cannot follow another NEAR; join NEARs with AND, "
                    "e.g. (a NEAR/5 b) AND (b NEAR/5 c)",
                    token.column,
                )
            else:
                children.append(self.parse_unary(scope))

    def parse_unary(self, scope: str | None, after: _Token | None = None) -> Node:
        token = self.next
        if token.kind == "word" and token.text == "NOT":
            self.take()
            return _negated(self.parse_unary(scope, token), token.column)
        if token.kind == "word" and token.text == "-":
            following = self.tokens[self.at + 1]
            if following.column != token.end or following.kind not in ("(", "phrase"):
                raise QueryError(
                    "'-' must be followed directly by what it excludes, e.g. -Putin", token.column
                )
            self.take()
            return _negated(self.parse_unary(scope, token), token.column)
        if (
            token.kind == "word"
            and token.text.startswith("-")
            and any(char.isalnum() or char == "*" for char in token.text)
        ):
            # "-Putin": split off the '-' and read the rest as its own token.
            rest = _Token("word", token.text[1:], token.column + 1, token.end)
            self.tokens[self.at] = rest
            return _negated(self.parse_unary(scope, token), token.column)
        return self.parse_near(scope, after)

    def parse_near(self, scope: str | None, after: _Token | None) -> Node:
        left_token = self.next
        left, left_scoped = self.parse_primary(scope, after)
        token = self.next
        near = _NEAR.fullmatch(token.text) if token.kind == "word" else None
        if near is None:
            return left
        self.take()
        if near.group(1) is None or not near.group(1).isdigit():
            raise QueryError(
                "NEAR needs a distance in words, e.g. NEAR/5 (at most 5 words between)",
                token.column,
            )
        if scope in VALUE_FIELDS:
            raise QueryError(f"NEAR works on words, not inside '{scope}:'", token.column)
        right_token = self.next
        right, right_scoped = self.parse_primary(scope, token)
        sides = []
        for side, first, scoped in (
            (left, left_token, left_scoped),
            (right, right_token, right_scoped),
        ):
            column = first.column
            if scoped:
                raise QueryError(
                    "a field cannot apply to one side of NEAR; put it around the whole NEAR, "
                    "e.g. title:(Kim NEAR/5 Putin)",
                    column,
                )
            alternatives = side.children if isinstance(side, Or) else (side,)
            if not all(isinstance(term, Term) for term in alternatives):
                raise QueryError(
                    "a NEAR side must be a word, a phrase or an OR-group of them", column
                )
            sides.append(tuple(term for term in alternatives if isinstance(term, Term)))
        return Near(sides[0], sides[1], int(near.group(1)), token.column)

    def parse_primary(self, scope: str | None, after: _Token | None) -> tuple[Node, bool]:
        """A word, phrase, group or field-scoped primary; and whether a field prefix scoped it."""
        token = self.next
        where = f" after {after}" if after else ""
        if token.kind == "end":
            raise QueryError(f"expected {_EXPECTED_TERM}{where}, found {token}", token.column)
        if token.kind == ")":
            raise QueryError(f"expected {_EXPECTED_TERM}{where}, found {token}", token.column)
        if token.kind == "(":
            self.take()
            if self.next.kind == ")":
                raise QueryError("empty brackets '()'", token.column)
            node = self.parse_or(scope, token)
            if self.next.kind != ")":
                raise QueryError(
                    f"expected ')' to close the '(' at column {token.column}, found {self.next}",
                    self.next.column,
                )
            self.take()
            return node, False
        if token.kind == "phrase":
            self.take()
            return self._phrase(token, scope), False
        text = token.text
        if text in _OPERATORS or _NEAR.fullmatch(text):
            raise QueryError(f"expected {_EXPECTED_TERM}{where}, found {token}", token.column)
        self.take()
        if scope in VALUE_FIELDS:  # a URL may hold ':' ("url:https://...")
            return self._value(scope, text, token.column), False
        field, colon, rest = text.partition(":")
        if colon and field.isalpha():
            return self._scoped(token, field, rest, scope), True
        return self._word(text, token.column, scope), False

    def _scoped(self, token: _Token, field: str, rest: str, scope: str | None) -> Node:
        name = field.casefold()
        if name not in WORD_FIELDS + VALUE_FIELDS:
            raise QueryError(f"unknown field '{field}' (known: {_FIELD_NAMES})", token.column)
        if scope is not None:
            raise QueryError(
                f"'{field}:' inside '{scope}:' (fields cannot be nested)", token.column
            )
        prefix = _Token("word", f"{field}:", token.column, token.column + len(field) + 1)
        if rest:
            # "title:Putin": the rest of the token is the primary, read in the field's scope.
            self.at -= 1
            self.tokens[self.at] = _Token("word", rest, prefix.end, token.end)
        elif self.next.column != token.end or self.next.kind not in ("(", "phrase", "word"):
            raise QueryError(
                f"'{field}:' must be followed directly by a word, phrase or '(', "
                f"e.g. {field}:{_FIELD_EXAMPLES[name]}",
                token.column,
            )
        node, _ = self.parse_primary(name, prefix)
        return node

    def _phrase(self, token: _Token, scope: str | None) -> Node:
        if scope in VALUE_FIELDS:
            return self._value(scope, token.text, token.column + 1)
        if not token.text.strip():
            raise QueryError("empty phrase '\"\"'", token.column)
        words: list[Word] = []
        for chunk in _PHRASE_CHUNK.finditer(token.text):
            words += _words(chunk.group(), token.column + 1 + chunk.start(), hyphens=False)
        if not words:
            raise QueryError(f"{token} has no letters or digits", token.column)
        fields = frozenset({scope}) if scope else DEFAULT_FIELDS
        return Term(f'"{token.text}"', tuple(words), fields, token.column)

    def _word(self, text: str, column: int, scope: str | None) -> Term:
        fields = frozenset({scope}) if scope else DEFAULT_FIELDS
        return Term(text, tuple(_words(text, column, hyphens=True)), fields, column)

    def _value(self, field: str, text: str, column: int) -> Value:
        if field == "lang":
            if not _LANGUAGE.fullmatch(text.casefold()):
                raise QueryError(
                    f"expected a language code such as de or en after 'lang:', found '{text}'",
                    column,
                )
        elif not text.strip("*"):
            raise QueryError(
                f"'{field}:' needs more than '*', e.g. {field}:{_FIELD_EXAMPLES[field]}", column
            )
        return Value(field, text, column)


_FIELD_EXAMPLES = {
    "title": "Putin",
    "text": "Putin",
    "author": "Müller",
    "url": "*/politik/*",
    "source": "tagesschau",
    "lang": "de",
}


def _words(raw: str, column: int, *, hyphens: bool) -> list[Word]:
    """The words of one piece of a query written without spaces ("Kim-Bes*", "*waffen")."""
    if not any(char.isalnum() for char in raw):
        if raw.strip("*") == "":
            raise QueryError(f"'*' must be attached to a word {_STAR_HINT}", column)
        raise QueryError(f"'{raw}' has no letters or digits", column)
    open_start = raw.startswith("*")
    open_end = raw.endswith("*")
    body = raw[1 if open_start else 0 : len(raw) - 1 if open_end else len(raw)]
    offset = column + (1 if open_start else 0)
    for i, char in enumerate(body):
        if char.isalnum():
            continue
        if char == "*":
            raise QueryError("'*' is only allowed at the start or end of a word", offset + i)
        if char == "-" and hyphens:
            if 0 < i < len(body) - 1 and body[i - 1].isalnum() and body[i + 1].isalnum():
                continue
            raise QueryError("'-' is only allowed between letters or digits", offset + i)
        if char in _TYPOGRAPHIC_QUOTES:
            raise QueryError(
                f"unexpected character '{char}' (a phrase takes straight quotes: \"…\")",
                offset + i,
            )
        hint = (
            " (operators are upper case: NEAR/5)"
            if char == "/" and body[:i].casefold() == "near"
            else ""
        )
        raise QueryError(f"unexpected character {char!r}{hint}", offset + i)
    parts = body.split("-")
    opened = [part for part, star in ((parts[0], open_start), (parts[-1], open_end)) if star]
    if any("" in spellings(part) for part in opened):
        # Letters that fold away entirely (a halfwidth sound mark): the stem would be empty.
        raise QueryError(f"'{raw}' leaves no letters for '*' to extend {_STAR_HINT}", column)
    return [
        Word(
            ("*" if open_start and k == 0 else "")
            + part
            + ("*" if open_end and k == len(parts) - 1 else ""),
            spellings(part),
            open_start and k == 0,
            open_end and k == len(parts) - 1,
        )
        for k, part in enumerate(parts)
    ]


def _joined(kind: type[And] | type[Or], children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


def _negated(node: Node, column: int) -> Node:
    # NOT NOT x is x: keeps the matcher's "every topic needs a term" anchors simple.
    return node.child if isinstance(node, Not) else Not(node, column)
