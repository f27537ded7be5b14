"""Making a message body fit a service's length limit without breaking its markup: whole
blocks are packed into parts, and a block too long on its own is cut where the format
allows (a line, a word, outside a tag or an entity) with its open HTML tags closed."""

from __future__ import annotations

import re
from collections.abc import Sequence

ELLIPSIS = "…"
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?(/?)>")
_VOID = frozenset({"br", "hr", "img", "wbr", "meta", "link", "input"})
# Markdown markers that must come in pairs; a cut that leaves one open drops it.
_PAIRED = ("**", "__", "~~", "`", "*", "_")


def shorten(body: str, limit: int, fmt: str) -> str:
    """`body` cut to at most `limit` characters, ending in "…", its markup still whole."""
    if len(body) <= limit:
        return body
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    if fmt == "html":
        return _shorten_html(body, limit)
    room = limit - len(ELLIPSIS) - 1
    cut = body[:room]
    # Prefer a line boundary, then a word boundary, unless that throws most of it away.
    for sep in ("\n", " "):
        at = cut.rfind(sep)
        if at > room // 2:
            cut = cut[:at]
            break
    if fmt == "markdown":
        cut = _balance_markdown(cut)
    return cut.rstrip() + ELLIPSIS + ("\n" if body.endswith("\n") else "")


def _balance_markdown(text: str) -> str:
    # Escaped markers (\*) do not count; drop the last unmatched one of each kind, and a
    # link left open ("[title](htt") entirely.
    open_link = max(text.rfind("["), text.rfind("]("))
    if open_link > text.rfind(")"):
        text = text[:open_link]
    for marker in _PAIRED:
        plain = text.replace("\\" + marker, "")
        if plain.count(marker) % 2:
            at = text.rfind(marker)
            text = text[:at] + text[at + len(marker) :]
    return text


def _shorten_html(body: str, limit: int) -> str:
    cut_at = len(body)
    while True:
        candidate = _html_prefix(body, cut_at)
        if len(candidate) <= limit or cut_at == 0:
            return candidate
        cut_at = max(0, cut_at - max(len(candidate) - limit, 1))


def _html_prefix(body: str, size: int) -> str:
    """The first `size` characters, moved back out of any tag or entity, tags closed."""
    cut = body[:size]
    last_open, last_close = cut.rfind("<"), cut.rfind(">")
    if last_open > last_close:
        cut = cut[:last_open]
    amp = cut.rfind("&")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if len(cut) < len(body):
        space = cut.rfind(" ")
        if space > len(cut) // 2 and space > cut.rfind(">"):
            cut = cut[:space]
    stack: list[str] = []
    for closing, name, selfclosing in _TAG.findall(cut):
        name = name.lower()
        if name in _VOID or selfclosing:
            continue
        if closing:
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
        else:
            stack.append(name)
    suffix = ELLIPSIS if len(cut) < len(body) else ""
    return cut.rstrip() + suffix + "".join(f"</{name}>" for name in reversed(stack))


def group(sizes: Sequence[int], room: int, sep: int) -> list[list[int]]:
    """Indexes of items of these sizes, in order, in groups whose sizes plus a `sep` between
    neighbours stay within `room` (an item larger than `room` gets a group of its own)."""
    groups: list[list[int]] = []
    used = 0
    for index, size in enumerate(sizes):
        if groups and groups[-1] and used + sep + size <= room:
            groups[-1].append(index)
            used += sep + size
        else:
            groups.append([index])
            used = size
    return groups or [[]]
