"""Delivery channels: named apprise URLs, what each takes (format, length, rate, quiet hours),
sending one message and saying what its outcome means, and printable labels and redaction."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from apprise import Apprise, NotifyFormat
from apprise.plugins.email import NotifyEmail

from alerts.flood import SERVICE_RATES, Rate, parse_rates, service_of
from alerts.outcome import Outcome, classify
from alerts.render import SUBJECT_MAX_CHARS, Message
from alerts.timing import QuietHours

log = logging.getLogger("newshound.channels")

# A channel called "log" prints its alerts to the log: what a first run without any
# chat or email configured shows.
LOG_CHANNEL = "log"

# Parts of a URL shorter than this are ports, flags and the like, not secrets.
_MIN_SECRET_LEN = 4

# Chat services whose messages read best as Markdown (apprise converts it where needed).
_MARKDOWN_SCHEMES = frozenset(
    {"tgram", "discord", "slack", "matrix", "matrixs", "mmost", "mmosts", "rocket", "rockets"}
)


class ChannelError(ValueError):
    def __init__(self, channel: str, problem: str) -> None:
        super().__init__(f"channel '{channel}': {problem}")
        self.channel = channel
        self.problem = problem


class ChannelSpec(Protocol):
    """A channel as config gives it when it says more than its URL."""

    @property
    def url(self) -> str: ...
    @property
    def quiet(self) -> str | None: ...
    @property
    def rate(self) -> str | Sequence[str] | None: ...
    @property
    def format(self) -> str | None: ...
    @property
    def max_length(self) -> int | None: ...


@dataclass(frozen=True)
class ChannelOptions:
    url: str
    quiet: str | None = None
    rate: str | Sequence[str] | None = None
    format: str | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None
    outcome: Outcome = Outcome.SENT
    retry_after: float | None = None  # seconds the server asked for, if it said


@dataclass(frozen=True)
class Channel:
    """One configured channel, resolved: everything delivery needs to know about it."""

    name: str
    url: str
    label: str  # apprise's privacy form of the URL: printable
    secrets: tuple[str, ...]
    service: str  # a row of alerts.flood.SERVICE_RATES
    format: str  # text, markdown or html
    max_chars: int  # longest body the service takes (the subject included where it must)
    rates: tuple[Rate, ...]
    quiet: QuietHours | None
    is_email: bool


def secret_fragments(url: str) -> tuple[str, ...]:
    """Every piece of an apprise URL that may be a credential, longest first.

    apprise URLs put tokens anywhere: user, password, host (tgram://BOT_TOKEN/...),
    path segments and query values. Hiding all of them from error text is cheaper
    than knowing every plugin's layout.
    """
    parts = urlsplit(url)
    found = {parts.username or "", parts.password or "", parts.hostname or ""}
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    found.add(netloc_host.split(":", 1)[0])
    found.update(segment for segment in parts.path.split("/"))
    found.update(value for _, value in parse_qsl(parts.query))
    found |= {unquote(f) for f in found}
    return tuple(sorted((f for f in found if len(f) >= _MIN_SECRET_LEN), key=len, reverse=True))


def printable_url(private: str) -> str:
    """A channel's label from apprise's privacy form of its URL, with every path segment
    masked and the query dropped: apprise masks what it knows to be a password or token,
    but leaves a webhook's path (often the token itself) and query values as they are."""
    parts = urlsplit(private)
    path = "/".join("****" if segment else "" for segment in parts.path.split("/"))
    return f"{parts.scheme}://{parts.netloc}{path}"


def _options(value: str | ChannelSpec) -> ChannelOptions:
    if isinstance(value, str):
        return ChannelOptions(value)
    return ChannelOptions(value.url, value.quiet, value.rate, value.format, value.max_length)


def _resolve(name: str, options: ChannelOptions) -> tuple[Channel, object]:
    plugin = Apprise.instantiate(options.url, tag=name)
    if plugin is None:
        scheme = options.url.split("://", 1)[0] if "://" in options.url else "?"
        raise ChannelError(name, f"not a valid apprise URL (scheme '{scheme}')")
    is_email = isinstance(plugin, NotifyEmail)
    scheme = options.url.split("://", 1)[0].lower()
    service = service_of(scheme, is_email)
    fmt = options.format or (
        "html" if is_email else "markdown" if scheme in _MARKDOWN_SCHEMES else "text"
    )
    limit = options.max_length or int(getattr(plugin, "body_maxlen", 0) or 32768)
    if not options.max_length and getattr(plugin, "title_maxlen", 1) == 0:
        limit -= SUBJECT_MAX_CHARS + 2  # the service has no title: apprise puts it in the body
    try:
        rates = SERVICE_RATES[service] if options.rate is None else parse_rates(options.rate)
        quiet = QuietHours.parse(options.quiet) if options.quiet else None
    except ValueError as exc:
        raise ChannelError(name, str(exc)) from None
    channel = Channel(
        name=name,
        url=options.url,
        label=printable_url(plugin.url(privacy=True)),
        secrets=secret_fragments(options.url),
        service=service,
        format=fmt,
        max_chars=max(limit, 200),
        rates=rates,
        quiet=quiet,
        is_email=is_email,
    )
    return channel, plugin


class Channels:
    """The configured channels; sending, printable labels and redaction by channel name."""

    def __init__(self, channels: Mapping[str, str | ChannelSpec]) -> None:
        # apprise's log lines can carry a channel's URL: they never reach our log. Its
        # debug lines are captured per send (they tell a refused connection from a read
        # timeout), so its logger must pass them on to that capture.
        apprise_log = logging.getLogger("apprise")
        apprise_log.propagate = False
        apprise_log.setLevel(logging.DEBUG)
        # requests (under apprise) logs each request's path at debug: a webhook's token.
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        self._channels: dict[str, Channel] = {}
        self._senders: dict[str, Apprise] = {}
        for name, value in channels.items():
            if name == LOG_CHANNEL:
                raise ChannelError(name, "the name 'log' is reserved for the built-in log channel")
            channel, plugin = _resolve(name, _options(value))
            self._channels[name] = channel
            if not channel.is_email:
                # One long-lived object per chat channel: plugins keep sessions (Matrix
                # logins, Discord's rate state). Email gets a fresh one per message (below).
                sender = Apprise()
                sender.add(plugin)  # type: ignore[arg-type]
                self._senders[name] = sender

    def longest_period(self) -> float:
        """Seconds of the longest rate window of any channel: sends remembered that long."""
        return max((r.period for c in self._channels.values() for r in c.rates), default=0.0)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self._channels, LOG_CHANNEL)

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def label(self, name: str) -> str:
        """The channel as it may be printed: apprise's privacy form of its URL."""
        channel = self._channels.get(name)
        return channel.label if channel else name

    def redact(self, name: str, text: str) -> str:
        channel = self._channels.get(name)
        for secret in channel.secrets if channel else ():
            text = text.replace(secret, "***")
        return text

    def format(self, name: str) -> str:
        channel = self._channels.get(name)
        return channel.format if channel else "text"

    def max_chars(self, name: str) -> int:
        channel = self._channels.get(name)
        return channel.max_chars if channel else 1_000_000

    async def send(self, name: str, message: Message, timeout: float) -> SendResult:
        """Send one message to one channel; the outcome is data, never an exception."""
        if name == LOG_CHANNEL:
            log.info("alert: %s\n%s", message.subject, message.text)
            return SendResult(ok=True)
        channel = self._channels.get(name)
        if channel is None:
            return SendResult(False, f"unknown channel '{name}'", Outcome.PERMANENT)
        sender = self._senders.get(name) or _email_sender(channel, message.thread)
        if sender is None:
            return SendResult(False, "the channel's URL was refused", Outcome.PERMANENT)
        result = await sender.async_notify(
            body=message.body(channel.format),
            title=message.subject,
            body_format=NotifyFormat(channel.format),
            timeout=timeout,
            log_level=logging.DEBUG,
        )
        if result:
            return SendResult(ok=True)
        entries = list(result.logs())
        problems = [
            entry.message.strip()
            for entry in entries
            if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message.strip()
        ]
        status = getattr(result, "status", None)
        status_name = str(getattr(status, "name", "FAILURE")).lower()
        detail = "; ".join(dict.fromkeys(problems[-3:])) or "no reason given"
        error = re.sub(r"\s+", " ", f"{status_name}: {detail}")
        # Every captured line, debug included, tells what happened; only the warnings
        # above are kept, redacted, as the error.
        verdict = classify(status_name, (entry.message for entry in entries))
        return SendResult(False, self.redact(name, error), verdict.outcome, verdict.retry_after)


def thread_id(channel: str, topic: str) -> str:
    """The Message-ID every email of one topic refers to, so mail clients show one thread."""
    digest = hashlib.sha256(f"{channel}\0{topic}".encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", topic).strip("-")[:40] or "alerts"
    return f"<{slug}.{digest}@newshound>"


def _email_sender(channel: Channel, topic: str) -> Apprise | None:
    """A fresh email sender for one message: apprise throttles consecutive sends through
    one object by 5.5 s (delivery's own rate limit governs instead), and the thread headers
    differ per topic. apprise sets its own Message-ID and offers no way to replace it, so
    a topic's thread is made with In-Reply-To and References to one id per topic."""
    url = channel.url
    if topic:
        ref = thread_id(channel.name, topic)
        extra = urlencode({"+In-Reply-To": ref, "+References": ref})
        url += ("&" if "?" in url else "?") + extra
    sender = Apprise()
    return sender if sender.add(url) else None
