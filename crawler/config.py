"""Turns config.yaml into one frozen, typed `Config`, reporting every problem with its path."""

import logging
import math
import os
import re
import threading
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import apprise
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LOG_CHANNEL = "log"
CONFIG_ENV_VAR = "NEWSHOUND_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yaml")

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_EXAMPLES = "examples: 30s, 10m, 2h, 1d"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Only a plain scheme is safe to echo; anything after "://" may be a token.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_PROBLEM = "newshound"  # pydantic error type for messages this module writes itself


class ConfigError(Exception):
    """The config cannot be used; `problems` holds every reason as "yaml.path: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(text: str) -> float:
    """Seconds in "30s", "10m", "2h", "1d", "1h30m" or "500ms"; ValueError for anything else."""
    compact = text.strip()
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration ({_DURATION_EXAMPLES})")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(compact))


def _problem(message: str) -> PydanticCustomError:
    # The message goes in as context, not as the template, so braces in user text stay literal.
    return PydanticCustomError(_PROBLEM, "{problem}", {"problem": message})


def _duration_or_zero(value: object) -> float:
    if value in (0, "0"):
        return 0.0
    return _duration(value)


def _duration(value: object) -> float:
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _problem(str(exc)) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)  # YAML numbers are seconds
    else:
        raise _problem(f"must be a duration ({_DURATION_EXAMPLES})")
    if not math.isfinite(seconds) or seconds <= 0:
        raise _problem("must be longer than zero")
    return seconds


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_UNIT_BYTES = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_size(text: str) -> int:
    """Bytes in "512KB", "10MB", "1GiB" or "2048"; ValueError for anything else."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 512KB, 10MB, 1GiB)")
    return int(float(match.group(1)) * _UNIT_BYTES[(match.group(2) or "b").lower()])


def _size(value: object) -> int:
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise _problem(str(exc)) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise _problem("must be a size (examples: 512KB, 10MB, 1GiB)")
    if size <= 0:
        raise _problem("must be larger than zero")
    return size


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _problem(f"not a regular expression: {exc}") from None
    return pattern


def _language(code: str) -> str:
    if not re.fullmatch(r"[a-z]{2}", code.strip().lower()):
        raise _problem(f"{code!r} is not an ISO 639-1 language code (examples: de, en)")
    return code.strip().lower()


def _listen_address(value: object) -> str | None:
    if value is False or value is None:
        return None
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _problem(f"{value!r} is not host:port (example: 127.0.0.1:8787), or false")
    return f"{host.strip('[]')}:{int(port)}"


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _problem("must not be empty")
    return value


def _http_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _problem(f"{url!r} is not an http(s) URL")
    return url


def _query(query: str) -> str:
    if not query.strip():
        raise _problem("empty query")
    # Imported here so loading this module doesn't pull in the matcher; alerts.topics owns the
    # query language, and reporting its errors at load time beats failing on the first article.
    from alerts.topics import Query, QueryError

    try:
        Query.parse(query)
    except QueryError as exc:
        raise _problem(str(exc)) from None
    return query


def _channel_name(name: str) -> str:
    if not name.strip():
        raise _problem("channel name must not be empty")
    if name == LOG_CHANNEL:
        raise _problem(f"'{LOG_CHANNEL}' is reserved for the built-in log channel")
    return name


@contextmanager
def _apprise_silenced() -> Iterator[None]:
    """Drop apprise's log records from this thread: on a bad URL it logs the URL, token and all."""
    this_thread = threading.get_ident()

    def other_threads(record: logging.LogRecord) -> bool:
        return record.thread != this_thread

    logger = logging.getLogger("apprise")
    logger.addFilter(other_threads)
    try:
        yield
    finally:
        logger.removeFilter(other_threads)


def _channel_url(template: str, info: ValidationInfo) -> str:
    env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
    missing = list(dict.fromkeys(n for n in _ENV_REFERENCE.findall(template) if n not in env))
    if len(missing) == 1:
        raise _problem(f"environment variable {missing[0]} is not set")
    if missing:
        raise _problem(f"environment variables {', '.join(missing)} are not set")
    url = _ENV_REFERENCE.sub(lambda m: env[m.group(1)], template)
    with _apprise_silenced():
        notifier = apprise.Apprise()
        accepted = notifier.add(url)
    if not accepted:
        scheme = _SCHEME.match(url.strip())
        where = f"scheme '{scheme.group(1)}'" if scheme else "no scheme"
        raise _problem(f"not a valid apprise URL ({where})")
    if len(notifier) != 1:
        # apprise splits on spaces and commas; one name must mean one destination.
        raise _problem(f"holds {len(notifier)} apprise URLs; give each its own channel")
    return url


def _digest(text: str) -> str:
    # alerts.timing owns schedules and quiet hours; checked here so a typo fails at load.
    from alerts.timing import DigestSchedule, TimingError

    try:
        return DigestSchedule.parse(text).text
    except TimingError as exc:
        raise _problem(str(exc)) from None


def _quiet(text: str) -> str:
    from alerts.timing import QuietHours, TimingError

    try:
        return QuietHours.parse(text).text
    except TimingError as exc:
        raise _problem(str(exc)) from None


def _rates(value: object) -> tuple[str, ...]:
    from alerts.flood import RateError, parse_rates

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise _problem("must be a rate such as 20/min, a list of them, or off")
    try:
        parse_rates(items)
    except RateError as exc:
        raise _problem(str(exc)) from None
    return tuple(items)


def _templates(value: Mapping[str, str]) -> Mapping[str, str]:
    from alerts.render import FORMATS, TemplateError, check_template

    known = ("subject", *FORMATS)
    for name, text in value.items():
        if name not in known:
            raise _problem(f"unknown template {name!r} (known: {', '.join(known)})")
        try:
            check_template(name, text)
        except TemplateError as exc:
            raise _problem(str(exc)) from None
    return value


Duration = Annotated[float, BeforeValidator(_duration)]
DurationOrZero = Annotated[float, BeforeValidator(_duration_or_zero)]
Size = Annotated[int, BeforeValidator(_size)]
Pattern = Annotated[str, AfterValidator(_regex)]
Language = Annotated[str, AfterValidator(_language)]
HttpURL = Annotated[str, AfterValidator(_http_url)]
Name = Annotated[str, AfterValidator(_not_blank)]
ChannelName = Annotated[str, AfterValidator(_channel_name)]
ChannelURL = Annotated[str, AfterValidator(_channel_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SOURCE_KINDS = ("feed", "sitemap", "page", "site")


class Source(_Strict):
    name: Name
    # Exactly one of these says what kind of source it is.
    feed: HttpURL | None = None
    sitemap: HttpURL | None = None
    page: HttpURL | None = None
    site: HttpURL | None = None
    every: Duration | None = None
    links: str | None = None  # CSS selector for article links on a page or site
    max_age: Duration = 2 * 86400.0  # sitemap entries older than this are not fetched
    include: Annotated[tuple[Pattern, ...], BeforeValidator(_listed)] = ()
    exclude: Annotated[tuple[Pattern, ...], BeforeValidator(_listed)] = ()
    language: Annotated[tuple[Language, ...], BeforeValidator(_listed)] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> "Source":
        given = [kind for kind in SOURCE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            what = "none" if not given else ", ".join(given)
            raise _problem(f"give exactly one of feed, sitemap, page, site (got {what})")
        if self.links is not None and given[0] not in ("page", "site"):
            raise _problem("links: only for a page or site source")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)

    @property
    def url(self) -> str:
        return str(getattr(self, self.kind))


class Topic(_Strict):
    name: Name
    query: Annotated[str, AfterValidator(_query)]
    # A blank `notify:` (YAML null) means the same as leaving it out; an empty list becomes
    # ("log",) so dispatch never special-cases it.
    notify: Annotated[
        tuple[str, ...],
        BeforeValidator(lambda v: () if v is None else v),
        AfterValidator(lambda names: names or (LOG_CHANNEL,)),
    ] = (LOG_CHANNEL,)
    # Later copies of a story already alerted: recorded only, or one follow-up note per
    # `stories.digest_every` listing the new outlets.
    copies: Literal["silent", "digest"] = "silent"
    # An article edited after its alert (new headline, or text changed past a threshold):
    # stored as a revision either way; with "alert" the topic hears of it, saying what changed.
    on_update: Literal["ignore", "alert"] = "ignore"
    # Delivery mode: at once (left out), or gathered into one message on a schedule:
    # "every 30m" (on the clock: :00, :30) or "daily 08:00 Europe/Berlin".
    digest: Annotated[str, AfterValidator(_digest)] | None = None
    # After an alert, the topic's next ones wait this long per channel and go as one digest.
    cooldown: Duration | None = None


class Delivery(_Strict):
    every: Duration = 5.0
    backoff: Duration = 30.0
    max_backoff: Duration = 3600.0
    timeout: Duration = 20.0
    # Failed attempts after which an alert is dead: kept, listed, `newshound outbox retry`.
    # 30 is about a day with the default backoff.
    max_attempts: Annotated[int, Field(ge=1)] = 30
    # The channel that hears of a channel failing longer than `ops_after` (and of its
    # recovery) and of dead alerts; without it, the log only.
    ops_channel: str | None = None
    ops_after: Duration = 900.0
    # Message templates ($title, $url ... see alerts.render.TEMPLATE_FIELDS) for subject,
    # text, markdown and html; the ones left out keep their defaults.
    templates: Annotated[Mapping[str, str], AfterValidator(_templates)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _cap_not_below_first_retry(self) -> "Delivery":
        if self.max_backoff < self.backoff:
            raise _problem("max_backoff must not be shorter than backoff")
        return self


class Limits(_Strict):
    # A new source's first poll can list hundreds of old items; the rest follow next poll.
    articles_per_poll: Annotated[int, Field(gt=0)] = 100
    timeout: Duration = 30.0  # total time for one request, download included
    feed_size: Size = 10 * 1024**2  # feeds, sitemaps and listing pages
    page_size: Size = 5 * 1024**2  # article pages
    redirects: Annotated[int, Field(ge=0, le=20)] = 5


class Crawl(_Strict):
    """How politely sites are fetched."""

    contact: str | None = None  # an email or URL, sent in the User-Agent
    robots: bool = True
    delay: DurationOrZero = 1.0  # between requests to one site
    concurrency_per_site: Annotated[int, Field(gt=0, le=32)] = 2


class Stories(_Strict):
    """Grouping the same story across outlets."""

    window: Duration = 3 * 86400.0  # how far back a new article is compared
    digest_every: Duration = 3600.0  # follow-up notes on new copies, at most this often


class Poll(_Strict):
    """Bounds for adaptive polling: a busy source is polled more often, a quiet one less."""

    min: Duration = 120.0
    max: Duration = 7200.0
    # Reports to delivery.ops_channel: a source failing this long, once (and again when it
    # recovers); a source with nothing new this long, once.
    report_failing_after: Duration = 3600.0
    report_quiet_after: Duration = 3 * 86400.0

    @model_validator(mode="after")
    def _ordered(self) -> "Poll":
        if self.max < self.min:
            raise _problem("max must not be shorter than min")
        return self


class ChannelSettings(_Strict):
    """A channel given as a mapping: its apprise URL and how it wants its messages."""

    url: ChannelURL = Field(repr=False)
    quiet: Annotated[str, AfterValidator(_quiet)] | None = None  # "22:00-07:00 Europe/Berlin"
    rate: Annotated[tuple[str, ...], BeforeValidator(_rates)] | None = None  # service default
    format: Literal["text", "markdown", "html"] | None = None  # default by service
    max_length: Annotated[int, Field(ge=200)] | None = None  # default: the service's limit


def _channel_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "[url]"
    if isinstance(value, Mapping | ChannelSettings):
        return "[spec]"
    return None


# A channel is its apprise URL, or a mapping with `url:` and options.
ChannelEntry = Annotated[
    Annotated[ChannelURL, Tag("[url]")] | Annotated[ChannelSettings, Tag("[spec]")],
    Discriminator(
        _channel_kind,
        custom_error_type=_PROBLEM,
        custom_error_message="must be an apprise URL, or a mapping with url: and options",
    ),
]


class Config(_Strict):
    path: Path | None = None
    # repr=False: both may carry passwords or tokens and a Config ends up in logs.
    database: str = Field(default="sqlite:///newshound.db", repr=False, validate_default=True)
    every: Duration = 600.0
    sources: tuple[Source, ...] = ()
    channels: Mapping[ChannelName, ChannelEntry] = Field(default_factory=dict, repr=False)
    topics: tuple[Topic, ...] = ()
    delivery: Delivery = Delivery()
    limits: Limits = Limits()
    crawl: Crawl = Crawl()
    poll: Poll = Poll()
    stories: Stories = Stories()
    # host:port of /healthz and /metrics; loopback by default, `false` turns it off.
    http: Annotated[str | None, BeforeValidator(_listen_address)] = "127.0.0.1:8787"

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise _problem(
                "not a SQLAlchemy URL (examples: sqlite:///newshound.db, postgresql://host/db)"
            ) from None
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise _problem(f"unsupported database '{backend}' (use sqlite or postgresql)")
        if url.drivername == "postgresql":  # psycopg 3 is what we install, not psycopg2
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        database = url.database or ""
        if backend == "postgresql" or database in ("", ":memory:") or "uri" in url.query:
            return value
        if not Path(database).is_absolute():
            # Relative to the config file, so the daemon's working directory doesn't matter.
            config_path = info.data.get("path")
            base = config_path.parent if config_path else Path.cwd()
            url = url.set(database=str((base / database).resolve()))
        return url.render_as_string(hide_password=False)

    def interval(self, source: Source) -> float:
        """Seconds between polls of `source`."""
        return self.every if source.every is None else source.every

    def channel_label(self, name: str) -> str:
        """A printable form of channel `name`, with tokens and passwords masked."""
        entry = self.channels.get(name)
        if entry is None:
            return name
        url = entry if isinstance(entry, str) else entry.url
        from alerts.channels import printable_url

        with _apprise_silenced():
            plugin = apprise.Apprise.instantiate(url)
        return printable_url(plugin.url(privacy=True)) if plugin else name


_SECTIONS: dict[str, type[BaseModel]] = {
    "sources": Source,
    "topics": Topic,
    "channels": ChannelSettings,
    "delivery": Delivery,
    "limits": Limits,
    "crawl": Crawl,
    "poll": Poll,
    "stories": Stories,
}
_ORDER = (
    "path",
    "database",
    "every",
    "sources",
    "channels",
    "topics",
    "delivery",
    "limits",
    "crawl",
    "poll",
    "stories",
    "http",
)
Loc = tuple[int | str, ...]


def _yaml_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        if part in ("[key]", "[url]", "[spec]"):
            continue
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _known_keys(loc: Loc) -> str:
    model = _SECTIONS.get(str(loc[0]), Config) if len(loc) > 1 else Config
    return ", ".join(sorted(model.model_fields.keys() - {"path"}))


def _message(error: ErrorDetails) -> str:
    # Built from type and loc only: `input` may be a channel URL or a database password.
    kind, loc = error["type"], error["loc"]
    if kind == _PROBLEM:
        return error["msg"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return f"unknown key (known: {_known_keys(loc)})"
    if kind == "string_type":
        return "key must be a string" if loc[-1:] == ("[key]",) else "must be a string"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping"
    return error["msg"][:1].lower() + error["msg"][1:]


def _items(value: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list | tuple):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, Mapping))


def _cross_references(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Duplicate names and unknown channels, checked on the raw data so they show up even when
    an unrelated field of the same entry is broken."""
    problems: list[tuple[Loc, str]] = []
    for section, kind in (("sources", "source"), ("topics", "topic")):
        seen: set[str] = set()
        for i, item in _items(data.get(section)):
            name = item.get("name")
            if isinstance(name, str) and name.strip():
                if name in seen:
                    problems.append(((section, i, "name"), f"duplicate {kind} {name!r}"))
                seen.add(name)
    channels = data.get("channels")
    defined = channels if isinstance(channels, Mapping) else {}
    known = sorted(k for k in defined if isinstance(k, str) and k != LOG_CHANNEL)
    listing = f"known: {', '.join(known)}" if known else "no channels are defined"
    for i, topic in _items(data.get("topics")):
        notify = topic.get("notify")
        for j, name in enumerate(notify if isinstance(notify, list | tuple) else ()):
            if isinstance(name, str) and name != LOG_CHANNEL and name not in known:
                problems.append(
                    (("topics", i, "notify", j), f"unknown channel {name!r} ({listing})")
                )
    delivery = data.get("delivery")
    ops = delivery.get("ops_channel") if isinstance(delivery, Mapping) else None
    if isinstance(ops, str) and ops not in known:
        problems.append((("delivery", "ops_channel"), f"unknown channel {ops!r} ({listing})"))
    return problems


def _reading_order(item: tuple[Loc, str]) -> tuple[int, int]:
    loc = item[0]
    section = _ORDER.index(loc[0]) if loc and loc[0] in _ORDER else -1
    index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1
    return section, index


def parse_config(
    data: object, *, path: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Validate already-loaded YAML; raise ConfigError listing every problem."""
    if data is None:
        data = {}  # an empty file: every setting has a default
    if not isinstance(data, Mapping):
        raise ConfigError([f"(top level): must be a mapping (got {type(data).__name__})"])
    problems: list[tuple[Loc, str]] = []
    if "path" in data:  # `path` is where the file came from, never a YAML key
        problems.append((("path",), f"unknown key (known: {_known_keys(('path',))})"))
    # A key left blank (`topics:` with every entry commented out) reads as null: use the default.
    fields = {key: value for key, value in data.items() if key != "path" and value is not None}
    config = None
    try:
        config = Config.model_validate(
            {**fields, "path": path}, context={"env": os.environ if env is None else env}
        )
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems += [(error["loc"], _message(error)) for error in errors]
    problems += _cross_references(data)
    if problems or config is None:
        problems.sort(key=_reading_order)
        raise ConfigError([f"{_yaml_path(loc)}: {message}" for loc, message in problems])
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a repeated key instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merges are meant to be overridden
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: Path | str) -> Config:
    """Read, parse and validate the YAML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = yaml.load(
            text, Loader=_UniqueKeyLoader
        )  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{path}: {where}{exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    return parse_config(data, path=path)


def config_path(cli_value: str | None) -> Path:
    """The config file to use: --config, else $NEWSHOUND_CONFIG, else ./config.yaml."""
    if cli_value:
        return Path(cli_value)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH
