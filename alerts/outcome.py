"""What a send's outcome means for the outbox: delivered, worth retrying soon, not worth
retrying hot (authentication, a refused request), or unknown (the server may have it).

apprise reports a result status and log lines, never the HTTP response: the status code is
only in its log text (`error=429`, SMTP `(535, ...)`), and response headers such as
Retry-After are not exposed at all. A few plugins write a server's retry hint into their
log text (Telegram's "retry after 35", Trigv, Fluxer); that is read when present. This
module reads log text as a last resort and never raises on it: text it does not know
means a transient failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # not delivered; retry with backoff
    PERMANENT = "permanent"  # not delivered and retrying soon will not help
    AMBIGUOUS = "ambiguous"  # the server may have accepted it: a retry may duplicate


# apprise's plugins write "error=<status>." for an HTTP answer outside 2xx.
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
# smtplib's exceptions print as "(535, b'5.7.8 Authentication failed')".
_SMTP_STATUS = re.compile(r"\(([2-5]\d\d), b['\"]")
_RETRY_HINT = re.compile(
    r"retry[ _-]?after(_ms)?[^\d\n(]{0,24}?(\d+(?:\.\d+)?)\s*(ms\b)?", re.IGNORECASE
)
# A request that reached the server and got no answer in time may have been acted on.
_READ_TIMEOUT = re.compile(r"read timed out|readtimeout|timed out waiting for", re.IGNORECASE)
_NOT_RETRYABLE = re.compile(
    r"improperly configured|invalid .*(token|credential|api key)|authentication failed|"
    r"unauthori[sz]ed|forbidden",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    status: int | None = None  # HTTP or SMTP status, when the log text names one
    retry_after: float | None = None  # seconds the server asked for, when it says


def classify(status_name: str, lines: Iterable[str]) -> Classified:
    """Classify a failed apprise result from its status name and every captured log line."""
    text = "\n".join(lines)
    http, smtp = _last_int(_HTTP_STATUS, text), _last_int(_SMTP_STATUS, text)
    code = http or smtp
    hint = retry_hint(text)
    if status_name.upper() == "TIMEOUT" or _READ_TIMEOUT.search(text):
        return Classified(Outcome.AMBIGUOUS, code, hint)
    if http is not None:
        permanent = 400 <= http < 500 and http not in (408, 425, 429)
        return Classified(Outcome.PERMANENT if permanent else Outcome.TRANSIENT, http, hint)
    if smtp is not None:
        # SMTP 5xx is a permanent refusal (unknown mailbox, authentication); 4xx is "later".
        permanent = 500 <= smtp < 600
        return Classified(Outcome.PERMANENT if permanent else Outcome.TRANSIENT, smtp, hint)
    if _NOT_RETRYABLE.search(text):
        return Classified(Outcome.PERMANENT, None, hint)
    return Classified(Outcome.TRANSIENT, None, hint)


def retry_hint(text: str) -> float | None:
    """The wait a server asked for, if the log text carries one (the last one wins)."""
    found = _RETRY_HINT.findall(text)
    if not found:
        return None
    in_ms, number, ms = found[-1]
    seconds = float(number) / (1000 if in_ms or ms else 1)
    return seconds if 0 < seconds < 7 * 86400 else None


def _last_int(pattern: re.Pattern[str], text: str) -> int | None:
    found = pattern.findall(text)
    return int(found[-1]) if found else None
