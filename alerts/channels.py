"""Delivery channels: named apprise URLs held in one Apprise object, one tag per channel."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from apprise import Apprise, NotifyFormat
from apprise.plugins.email import NotifyEmail

from alerts.render import Message

log = logging.getLogger("newshound.channels")

# A channel called "log" prints its alerts to the log: what a first run without any
# chat or email configured shows.
LOG_CHANNEL = "log"

# Parts of a URL shorter than this are ports, flags and the like, not secrets.
_MIN_SECRET_LEN = 4


class ChannelError(ValueError):
    def __init__(self, channel: str, problem: str) -> None:
        super().__init__(f"channel '{channel}': {problem}")
        self.channel = channel
        self.problem = problem


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None


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


class Channels:
    """The configured channels; sending, printable labels and redaction by channel name."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.apprise = Apprise()
        self._html: dict[str, bool] = {}
        self._labels: dict[str, str] = {}
        self._secrets: dict[str, tuple[str, ...]] = {}
        for name, url in urls.items():
            if name == LOG_CHANNEL:
                raise ChannelError(name, "the name 'log' is reserved for the built-in log channel")
            plugin = Apprise.instantiate(url, tag=name)
            if plugin is None:
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                raise ChannelError(name, f"not a valid apprise URL (scheme '{scheme}')")
            self.apprise.add(plugin)
            self._html[name] = isinstance(plugin, NotifyEmail)
            self._labels[name] = plugin.url(privacy=True)
            self._secrets[name] = secret_fragments(url)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self._labels, LOG_CHANNEL)

    def label(self, name: str) -> str:
        """The channel as it may be printed: apprise's privacy form of its URL."""
        return self._labels.get(name, name)

    def redact(self, name: str, text: str) -> str:
        for secret in self._secrets.get(name, ()):
            text = text.replace(secret, "***")
        return text

    async def send(self, name: str, message: Message, timeout: float) -> SendResult:
        """Send one message to one channel; the outcome is data, never an exception."""
        if name == LOG_CHANNEL:
            log.info("alert: %s\n%s", message.subject, message.text)
            return SendResult(ok=True)
        if name not in self._labels:
            return SendResult(ok=False, error=f"unknown channel '{name}'")
        html = self._html[name]
        result = await self.apprise.async_notify(
            body=message.html if html else message.text,
            title=message.subject,
            body_format=NotifyFormat.HTML if html else NotifyFormat.TEXT,
            tag=name,
            timeout=timeout,
        )
        if result:
            return SendResult(ok=True)
        problems = [
            entry.message.strip()
            for entry in result.logs()
            if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message.strip()
        ]
        status = getattr(result, "status", None)
        status_name = getattr(status, "name", "FAILURE").lower()
        detail = "; ".join(dict.fromkeys(problems[-3:])) or "no reason given"
        error = re.sub(r"\s+", " ", f"{status_name}: {detail}")
        return SendResult(ok=False, error=self.redact(name, error))
