"""Alert rendering: turning what matched into a subject, a chat text and an HTML email body."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.topics import highlight

SUBJECT_PREFIX = "[newshound]"
SUBJECT_MAX_CHARS = 150
UNTITLED = "(untitled article)"


@dataclass(frozen=True)
class AlertContent:
    """Everything an alert says, as plain data that survives a trip through the outbox as JSON."""

    topic: str
    title: str
    url: str
    outlet: str
    published: datetime | None
    terms: tuple[str, ...]
    snippets: tuple[str, ...]
    # Other outlets carrying the same story, (outlet, url); with follow_up the alert is a
    # note about them on a story alerted before, not a new story.
    also_in: tuple[tuple[str, str], ...] = ()
    follow_up: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "also_in": [list(pair) for pair in self.also_in],
            "follow_up": self.follow_up,
            "topic": self.topic,
            "title": self.title,
            "url": self.url,
            "outlet": self.outlet,
            "published": self.published.isoformat() if self.published else None,
            "terms": list(self.terms),
            "snippets": list(self.snippets),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> AlertContent:
        """Inverse of `to_json`; raises ValueError naming the field that is missing or wrong."""
        published = data.get("published")
        try:
            when = datetime.fromisoformat(published) if isinstance(published, str) else None
        except ValueError:
            when = None
        if published is not None and when is None:
            raise ValueError("alert content: 'published' must be an ISO 8601 string or null")
        return cls(
            topic=_string(data, "topic"),
            title=_string(data, "title"),
            url=_string(data, "url"),
            outlet=_string(data, "outlet"),
            published=when,
            terms=_strings(data, "terms"),
            snippets=_strings(data, "snippets"),
            also_in=_pairs(data.get("also_in", [])),
            follow_up=bool(data.get("follow_up", False)),
        )


def merge_also_in(old: Mapping[str, object], new: Mapping[str, object]) -> dict[str, object]:
    """A pending follow-up note with the outlets of another copy added (each once)."""
    merged = dict(old)
    pairs = dict.fromkeys(tuple(p) for p in _pairs(old.get("also_in", [])))
    pairs.update(dict.fromkeys(tuple(p) for p in _pairs(new.get("also_in", []))))
    merged["also_in"] = [list(p) for p in pairs]
    return merged


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
        for p in value
    ):
        raise ValueError("alert content: 'also_in' must be a list of [outlet, url] pairs")
    return tuple((str(p[0]), str(p[1])) for p in value)


def _string(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"alert content: {key!r} must be a string")
    return value


def _strings(data: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"alert content: {key!r} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Message:
    """One alert, ready for a channel: chat channels take `text`, email takes `html`."""

    subject: str
    text: str
    html: str


def render(content: AlertContent) -> Message:
    """Render an alert; never produces an empty subject or body, whatever the article lacked."""
    title = " ".join(content.title.split()) or " ".join(content.url.split()) or UNTITLED
    source = " · ".join(part for part in (content.outlet.strip(), _when(content.published)) if part)
    terms = list(dict.fromkeys(content.terms))  # "Kim Kim" need not say Kim twice
    matched = f"Matched: {', '.join(terms)}" if terms else ""

    outlets = list(dict.fromkeys(outlet for outlet, _ in content.also_in))
    also = f"Also in: {', '.join(outlets)}" if outlets else ""
    if content.follow_up:
        return _follow_up(content, title, outlets)

    text_lines = [title, source, "", matched, ""]
    for snippet in content.snippets:
        text_lines += [f"> {highlight(snippet, terms, lambda w: f'*{w}*')}", ""]
    if also:
        text_lines += [also, ""]
    text_lines.append(content.url)

    link = _href(content.url)
    heading = f'<a href="{link}">{html.escape(title)}</a>' if link else html.escape(title)
    parts = [f"<p><strong>{heading}</strong>"]
    if source:
        parts.append(f"<br>{html.escape(source)}")
    parts.append("</p>")
    if matched:
        parts.append(f"<p>{html.escape(matched)}</p>")
    for snippet in content.snippets:
        marked = highlight(snippet, terms, lambda w: f"<mark>{html.escape(w)}</mark>", html.escape)
        parts.append(f"<blockquote>{marked}</blockquote>")
    if also:
        parts.append(f"<p>{html.escape(also)}</p>")
    if content.url:
        url = html.escape(content.url)
        parts.append(f'<p><a href="{link}">{url}</a></p>' if link else f"<p>{url}</p>")

    return Message(
        subject=_subject(content.topic, title),
        text="\n".join(_squeeze(text_lines)).strip() + "\n",
        html="\n".join(parts) + "\n",
    )


def _follow_up(content: AlertContent, title: str, outlets: list[str]) -> Message:
    """A note on a story alerted before: which further outlets carry it, with their links."""
    count = len(outlets)
    headline = f"also in {count} more outlet{'s' if count != 1 else ''}: {title}"
    text_lines = [f"{title}", f"Also in: {', '.join(outlets)}", ""]
    text_lines += [f"{outlet}: {url}" for outlet, url in content.also_in]
    text_lines += ["", f"First alerted: {content.url}"]
    items = "".join(
        f'<li>{html.escape(outlet)}: <a href="{_href(url)}">{html.escape(url)}</a></li>'
        if _href(url)
        else f"<li>{html.escape(outlet)}: {html.escape(url)}</li>"
        for outlet, url in content.also_in
    )
    link = _href(content.url)
    first = f'<a href="{link}">{html.escape(title)}</a>' if link else html.escape(title)
    return Message(
        subject=_subject(content.topic, headline),
        text="\n".join(_squeeze(text_lines)).strip() + "\n",
        html=f"<p>Also in {count} more outlets: <strong>{first}</strong></p><ul>{items}</ul>\n",
    )


def _subject(topic: str, title: str) -> str:
    label = f"{topic}: " if topic.strip() else ""
    subject = " ".join(f"{SUBJECT_PREFIX} {label}{title}".split())
    if len(subject) <= SUBJECT_MAX_CHARS:
        return subject
    cut = subject[: SUBJECT_MAX_CHARS - 1]
    # Cut at a word boundary unless that would throw away most of the title.
    if " " in cut[SUBJECT_MAX_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" :,;-") + "…"


def _when(published: datetime | None) -> str:
    if published is None:
        return ""
    if published.tzinfo is None:  # a page's local time of unknown zone: say no zone
        return published.strftime("%Y-%m-%d %H:%M")
    return published.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _href(url: str) -> str:
    """The escaped URL for an href, or "" if it is not http(s): a page may declare javascript:."""
    if not url.lower().startswith(("http://", "https://")):
        return ""
    return html.escape(url, quote=True)


def _squeeze(lines: list[str]) -> list[str]:
    """Drop the runs of blank lines that missing parts (no outlet, no terms) leave behind."""
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return kept
