"""Digest messages: many alerts (a topic's digest, a cooldown's backlog, a burst above a
channel's rate) as one message, split into parts at item boundaries when a service's length
limit requires it, so no item is cut in two and none is dropped."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alerts.fit import group, shorten
from alerts.render import (
    FORMATS,
    SUBJECT_PREFIX,
    UNTITLED,
    AlertContent,
    Message,
    _href,
    _subject,
    _when,
    md_escape,
    md_url,
)

OPS_KIND = "ops"


@dataclass(frozen=True)
class DigestPart:
    message: Message
    items: list[int]  # indexes into the digest's items that this part carries


def ops_content(subject: str, text: str) -> dict[str, object]:
    """Outbox content of an operator notice (a failing channel, a dead alert)."""
    return {"kind": OPS_KIND, "subject": subject, "text": text}


def is_ops(content: Mapping[str, object]) -> bool:
    return content.get("kind") == OPS_KIND


def render_ops(content: Mapping[str, object]) -> Message:
    subject = f"{SUBJECT_PREFIX} ops: {content.get('subject', '')}"
    text = str(content.get("text", "")).strip() + "\n"
    return Message(
        subject=_subject(subject),
        text=text,
        markdown=md_escape(text.strip()) + "\n",
        html=f"<p>{html.escape(text.strip())}</p>\n".replace("\n", "<br>\n", text.count("\n") - 1),
    )


def render_digest(
    items: Sequence[Mapping[str, object]], max_chars: int, *, why: str = ""
) -> list[DigestPart]:
    """One message for `items` (outbox contents), or several parts if it would be too long
    for `max_chars`. `why` says what gathered them ("digest", "rate limit")."""
    topics = list(dict.fromkeys(str(item.get("topic", "")) for item in items if not is_ops(item)))
    count = len(items)
    noun = "alert" if count == 1 else "alerts"
    if len(topics) == 1:
        label = f"{topics[0]}: {count} {noun}"
    else:
        label = f"{count} {noun}" + (f" ({', '.join(topics)})" if topics else "")
    head_text = label + (f" · {why}" if why else "")
    heads = {
        "text": head_text,
        "markdown": f"**{md_escape(head_text)}**",
        "html": f"<p><strong>{html.escape(head_text)}</strong></p>\n<ul>",
    }
    tails = {"text": "", "markdown": "", "html": "</ul>"}
    seps = {"text": "\n\n", "markdown": "\n\n", "html": "\n"}
    frame = max(len(heads[f]) + len(tails[f]) + 2 * len(seps[f]) for f in FORMATS)
    room = max(max_chars - frame, 1)
    tagged = len(topics) > 1
    lines = {
        fmt: [shorten(_item(item, fmt, tagged), room, fmt) for item in items] for fmt in FORMATS
    }
    sizes = [max(len(lines[fmt][i]) for fmt in FORMATS) for i in range(count)]
    groups = group(sizes, room, max(len(sep) for sep in seps.values()))
    subject = _subject(f"{SUBJECT_PREFIX} {label}")
    parts: list[DigestPart] = []
    for number, indexes in enumerate(groups, start=1):
        body = {
            fmt: seps[fmt].join(
                p
                for p in (heads[fmt], seps[fmt].join(lines[fmt][i] for i in indexes), tails[fmt])
                if p
            )
            for fmt in FORMATS
        }
        suffix = f" ({number}/{len(groups)})" if len(groups) > 1 else ""
        message = Message(
            subject=_subject(subject + suffix) if suffix else subject,
            text=body["text"].strip() + "\n",
            markdown=body["markdown"].strip() + "\n",
            html=body["html"] + "\n",
            thread=topics[0] if len(topics) == 1 else "",
        )
        parts.append(DigestPart(message, list(indexes)))
    return parts


def _item(item: Mapping[str, object], fmt: str, tagged: bool) -> str:
    if is_ops(item):
        text = f"{item.get('subject', '')}: {item.get('text', '')}"
        return {"text": f"• {text}", "markdown": f"• {md_escape(text)}"}.get(
            fmt, f"<li>{html.escape(text)}</li>"
        )
    try:
        content = AlertContent.from_json(item)
    except ValueError:  # a row written by a newer newshound: still say something
        content = AlertContent("", "", str(item.get("url", "")), "", None, (), ())
    title = " ".join(content.title.split()) or content.url or UNTITLED
    outlets = list(dict.fromkeys(o for o, _ in content.also_in))
    if content.follow_up:
        title = f"also in {', '.join(outlets)}: {title}"
    source = " · ".join(p for p in (content.outlet.strip(), _when(content.published)) if p)
    if content.follow_up:
        source = ""
    tag = f"[{content.topic}] " if tagged and content.topic else ""
    link = _href(content.url)
    if fmt == "text":
        lines = [f"• {tag}{title}", f"  {source}" if source else "", f"  {content.url}"]
        return "\n".join(line for line in lines if line.strip())
    if fmt == "markdown":
        shown = f"[{md_escape(title)}]({md_url(content.url)})" if link else md_escape(title)
        extra = f" — {md_escape(source)}" if source else ""
        return f"• {md_escape(tag)}**{shown}**{extra}"
    shown = f'<a href="{link}">{html.escape(title)}</a>' if link else html.escape(title)
    extra = f" — {html.escape(source)}" if source else ""
    return f"<li>{html.escape(tag)}{shown}{extra}</li>"
