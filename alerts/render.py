"""Alert rendering: what matched, as a subject and a text, Markdown and HTML body from
per-format templates (defaults here, overridable in config)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from string import Template

from alerts.fit import shorten
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


FORMATS = ("text", "markdown", "html")


@dataclass(frozen=True)
class Message:
    """One alert, ready for a channel: each format's body; a channel sends the one it takes.

    `thread` names the conversation it belongs to (the topic), so an email channel can keep
    one thread per topic.
    """

    subject: str
    text: str
    html: str
    markdown: str = ""
    thread: str = ""

    def body(self, fmt: str) -> str:
        if fmt == "html":
            return self.html
        if fmt == "markdown":
            return self.markdown or self.text
        return self.text


# Placeholders a template may use; every value is already escaped for the template's format.
TEMPLATE_FIELDS = (
    "topic",
    "title",
    "url",
    "link",  # the title linked to the article (markdown, html); the title in text
    "outlet",
    "published",
    "source",  # "outlet · published", or what of it is known
    "terms",
    "matched",  # "Matched: terms", or empty
    "snippets",
    "also_in",  # "Also in: other outlets", or empty
)


class TemplateError(ValueError):
    """A message template that names a placeholder newshound does not fill."""


@dataclass(frozen=True)
class Templates:
    """`string.Template` texts per format ($title, $url ...; see TEMPLATE_FIELDS).

    Blank lines left by empty placeholders are squeezed (text, markdown) or dropped (html).
    """

    subject: str = "[newshound] $topic: $title"
    text: str = "$title\n$source\n\n$matched\n\n$snippets\n\n$also_in\n\n$url"
    markdown: str = "**$link**\n$source\n\n$matched\n\n$snippets\n\n$also_in\n\n$url"
    html: str = "<p><strong>$link</strong>\n$source\n</p>\n$matched\n$snippets\n$also_in\n$url"

    def __post_init__(self) -> None:
        for name in ("subject", *FORMATS):
            check_template(name, getattr(self, name))


def check_template(name: str, text: str) -> None:
    template = Template(text)
    if not template.is_valid():
        raise TemplateError(f"template {name}: a '$' that is not a placeholder (write $$ for $)")
    unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_FIELDS))
    if unknown:
        raise TemplateError(
            f"template {name}: unknown placeholder ${unknown[0]} "
            f"(known: {', '.join('$' + f for f in TEMPLATE_FIELDS)})"
        )


DEFAULT_TEMPLATES = Templates()


def render(
    content: AlertContent, templates: Templates = DEFAULT_TEMPLATES, max_chars: int | None = None
) -> Message:
    """Render an alert; never produces an empty subject or body, whatever the article lacked.

    With `max_chars`, every body fits it: snippets are dropped from the last, then the
    body is shortened without breaking its markup.
    """
    title = " ".join(content.title.split()) or " ".join(content.url.split()) or UNTITLED
    if content.follow_up:
        message = _follow_up(content, title, list(dict.fromkeys(o for o, _ in content.also_in)))
        return _fitted(message, max_chars) if max_chars else message
    subject = _subject(_fill(templates.subject, _fields(content, title, "text")))
    bodies: dict[str, str] = {}
    for fmt in FORMATS:
        for keep in range(len(content.snippets), -1, -1):
            trimmed = replace(content, snippets=content.snippets[:keep])
            body = _body(fmt, getattr(templates, fmt), _fields(trimmed, title, fmt))
            if max_chars is None or len(body) <= max_chars:
                break
        bodies[fmt] = shorten(body, max_chars, fmt) if max_chars else body
    return Message(
        subject=subject,
        text=bodies["text"],
        html=bodies["html"],
        markdown=bodies["markdown"],
        thread=content.topic,
    )


def _fitted(message: Message, max_chars: int) -> Message:
    return replace(
        message,
        text=shorten(message.text, max_chars, "text"),
        markdown=shorten(message.markdown, max_chars, "markdown"),
        html=shorten(message.html, max_chars, "html"),
    )


def _fill(template: str, fields: Mapping[str, str]) -> str:
    return Template(template).safe_substitute(fields)


def _body(fmt: str, template: str, fields: Mapping[str, str]) -> str:
    filled = _fill(template, fields)
    if fmt == "html":
        return "\n".join(line for line in filled.splitlines() if line.strip()) + "\n"
    return "\n".join(_squeeze(filled.splitlines())).strip() + "\n"


def md_escape(text: str) -> str:
    """Text shown literally in Markdown (CommonMark backslash escapes)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~])", r"\\\1", text)


def md_url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace(">", "%3E")


def _fields(content: AlertContent, title: str, fmt: str) -> dict[str, str]:
    """The template fields for one format, every value escaped for it."""
    terms = list(dict.fromkeys(content.terms))  # "Kim Kim" need not say Kim twice
    outlets = list(dict.fromkeys(outlet for outlet, _ in content.also_in))
    published = _when(content.published)
    source = " · ".join(part for part in (content.outlet.strip(), published) if part)
    matched = f"Matched: {', '.join(terms)}" if terms else ""
    also = f"Also in: {', '.join(outlets)}" if outlets else ""
    plain = {
        "topic": content.topic,
        "title": title,
        "url": content.url,
        "outlet": content.outlet,
        "published": published,
        "source": source,
        "terms": ", ".join(terms),
        "matched": matched,
        "also_in": also,
    }
    if fmt == "text":
        snippets = [highlight(s, terms, lambda w: f"*{w}*") for s in content.snippets]
        return {**plain, "link": title, "snippets": "\n\n".join(f"> {s}" for s in snippets)}
    if fmt == "markdown":
        link = _href(content.url)
        fields = {key: md_escape(value) for key, value in plain.items()}
        snippets = [
            highlight(s, terms, lambda w: f"**{md_escape(w)}**", md_escape)
            for s in content.snippets
        ]
        return {
            **fields,
            "url": f"<{md_url(content.url)}>" if link else md_escape(content.url),
            "link": f"[{md_escape(title)}]({md_url(content.url)})" if link else md_escape(title),
            "snippets": "\n\n".join(f"> {s}" for s in snippets),
        }
    link = _href(content.url)
    escaped = {key: html.escape(value) for key, value in plain.items()}
    marked = [
        highlight(s, terms, lambda w: f"<mark>{html.escape(w)}</mark>", html.escape)
        for s in content.snippets
    ]
    url = html.escape(content.url)
    return {
        **escaped,
        "link": f'<a href="{link}">{html.escape(title)}</a>' if link else html.escape(title),
        "source": f"<br>{escaped['source']}" if source else "",
        "matched": f"<p>{escaped['matched']}</p>" if matched else "",
        "snippets": "\n".join(f"<blockquote>{m}</blockquote>" for m in marked),
        "also_in": f"<p>{escaped['also_in']}</p>" if also else "",
        "url": (f'<p><a href="{link}">{url}</a></p>' if link else f"<p>{url}</p>")
        if content.url
        else "",
    }


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
    md_lines = [f"**{md_escape(title)}**", md_escape(f"Also in: {', '.join(outlets)}"), ""]
    md_lines += [f"- {md_escape(outlet)}: <{md_url(url)}>" for outlet, url in content.also_in]
    md_lines += ["", f"First alerted: <{md_url(content.url)}>"]
    return Message(
        subject=_subject(f"{SUBJECT_PREFIX} {content.topic}: {headline}"),
        text="\n".join(_squeeze(text_lines)).strip() + "\n",
        html=f"<p>Also in {count} more outlets: <strong>{first}</strong></p><ul>{items}</ul>\n",
        markdown="\n".join(_squeeze(md_lines)).strip() + "\n",
        thread=content.topic,
    )


def _subject(text: str) -> str:
    """One line of at most SUBJECT_MAX_CHARS, cut at a word boundary."""
    subject = " ".join(text.split())
    if subject.endswith(":"):  # a topic-less alert: "[newshound] : title" reads badly
        subject = subject[:-1]
    subject = subject.replace(f"{SUBJECT_PREFIX} : ", f"{SUBJECT_PREFIX} ")
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
