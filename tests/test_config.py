"""Tests for crawler.config: every user mistake gets one exact line, and no secret ever leaks."""

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from crawler.config import (
    LOG_CHANNEL,
    Config,
    ConfigError,
    config_path,
    load_config,
    parse_config,
    parse_duration,
)

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
TG_TOKEN = "123456789:ABCdefGhIjKlmNoPQRsTUVwxyZ"
SECRET = "SEKRET123"
ENV = {"TG_TOKEN": TG_TOKEN, "TG_CHAT": "12345", "SMTP_PASS": SECRET}
DURATION_EXAMPLES = "(examples: 30s, 10m, 2h, 1d)"

SOURCE = {"name": "tagesschau", "feed": "https://www.tagesschau.de/xml/rss2/"}
SPIEGEL = {"name": "spiegel", "feed": "https://www.spiegel.de/schlagzeilen/index.rss"}
TOPIC = {"name": "kim", "query": "Kim Putin", "notify": ["team-chat"]}
CHANNELS = {
    "team-chat": "json://127.0.0.1:9/hook",
    "desk-mail": "mailto://127.0.0.1:2525?from=a@x.org&to=b@y.org",
}


def valid(**overrides: object) -> dict[str, object]:
    """A valid config as loaded YAML, with top-level keys replaced by `overrides`."""
    return {"sources": [SOURCE], "channels": dict(CHANNELS), "topics": [TOPIC], **overrides}


def problems(data: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env=ENV if env is None else env)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


INVALID = [
    (
        "unknown-source-key",
        valid(sources=[{**SOURCE, "intervall": "5m"}]),
        [
            "sources[0].intervall: unknown key"
            " (known: every, exclude, feed, include, language, links, max_age, name, page,"
            " site, sitemap)"
        ],
    ),
    (
        "unknown-top-level-key",
        valid(sourcse=[]),
        [
            "sourcse: unknown key (known: channels, crawl, database, delivery, every, http,"
            " limits, poll, sources, stories, topics)"
        ],
    ),
    (
        "path-is-not-a-yaml-key",
        valid(path="/etc/newshound.yaml"),
        [
            "path: unknown key (known: channels, crawl, database, delivery, every, http,"
            " limits, poll, sources, stories, topics)"
        ],
    ),
    (
        "unknown-delivery-key",
        valid(delivery={"retries": 3}),
        [
            "delivery.retries: unknown key (known: backoff, every, max_attempts, max_backoff,"
            " ops_after, ops_channel, templates, timeout)"
        ],
    ),
    (
        "missing-feed",
        valid(sources=[SOURCE, {"name": "spiegel"}]),
        ["sources[1]: give exactly one of feed, sitemap, page, site (got none)"],
    ),
    ("missing-query", valid(topics=[{"name": "kim"}]), ["topics[0].query: required"]),
    (
        "bad-duration",
        valid(sources=[SOURCE, {**SPIEGEL, "every": "5 minutes"}]),
        [f"sources[1].every: '5 minutes' is not a duration {DURATION_EXAMPLES}"],
    ),
    ("zero-duration", valid(every="0s"), ["every: must be longer than zero"]),
    (
        "negative-seconds",
        valid(delivery={"timeout": -5}),
        ["delivery.timeout: must be longer than zero"],
    ),
    ("bool-duration", valid(every=True), [f"every: must be a duration {DURATION_EXAMPLES}"]),
    (
        "backoff-above-cap",
        valid(delivery={"backoff": "1h", "max_backoff": "10m"}),
        ["delivery: max_backoff must not be shorter than backoff"],
    ),
    (
        "duplicate-source",
        valid(sources=[SOURCE, SPIEGEL, SPIEGEL]),
        ["sources[2].name: duplicate source 'spiegel'"],
    ),
    (
        "blank-source-name",
        valid(sources=[{**SOURCE, "name": " "}]),
        ["sources[0].name: must not be empty"],
    ),
    (
        "feed-not-http",
        valid(sources=[{**SOURCE, "feed": "ftp://x"}]),
        ["sources[0].feed: 'ftp://x' is not an http(s) URL"],
    ),
    ("source-not-mapping", valid(sources=["https://x.org/rss"]), ["sources[0]: must be a mapping"]),
    ("sources-not-list", valid(sources=SOURCE), ["sources: must be a list"]),
    (
        "name-not-string",
        valid(topics=[{**TOPIC, "name": 42}]),
        ["topics[0].name: must be a string"],
    ),
    ("duplicate-topic", valid(topics=[TOPIC, TOPIC]), ["topics[1].name: duplicate topic 'kim'"]),
    (
        "unknown-channel",
        valid(topics=[{**TOPIC, "notify": ["team-chat", "desk-mial"]}]),
        ["topics[0].notify[1]: unknown channel 'desk-mial' (known: desk-mail, team-chat)"],
    ),
    (
        "no-channels-defined",
        valid(channels={}),
        ["topics[0].notify[0]: unknown channel 'team-chat' (no channels are defined)"],
    ),
    (
        "notify-not-list",
        valid(topics=[{**TOPIC, "notify": "team-chat"}]),
        ["topics[0].notify: must be a list"],
    ),
    ("empty-query", valid(topics=[{**TOPIC, "query": ""}]), ["topics[0].query: empty query"]),
    (
        "env-var-missing",
        valid(channels={**CHANNELS, "team-chat": "tgram://${TG_TOKEN}/${NO_SUCH_CHAT}"}),
        ["channels.team-chat: environment variable NO_SUCH_CHAT is not set"],
    ),
    (
        "env-vars-missing",
        valid(channels={**CHANNELS, "team-chat": "tgram://${NO_TOKEN}/${NO_CHAT}/${NO_TOKEN}"}),
        ["channels.team-chat: environment variables NO_TOKEN, NO_CHAT are not set"],
    ),
    (
        "bad-apprise-url",
        valid(channels={**CHANNELS, "team-chat": f"tgram://{SECRET}/"}),
        ["channels.team-chat: not a valid apprise URL (scheme 'tgram')"],
    ),
    (
        "apprise-url-without-scheme",
        valid(channels={**CHANNELS, "team-chat": SECRET}),
        ["channels.team-chat: not a valid apprise URL (no scheme)"],
    ),
    (
        "two-urls-in-one-channel",
        valid(channels={**CHANNELS, "team-chat": "json://a.org/x json://b.org/y"}),
        ["channels.team-chat: holds 2 apprise URLs; give each its own channel"],
    ),
    (
        "reserved-log-channel",
        valid(channels={**CHANNELS, "log": "json://127.0.0.1:9/log"}),
        ["channels.log: 'log' is reserved for the built-in log channel"],
    ),
    (
        "channel-not-string",
        valid(channels={**CHANNELS, "team-chat": 5}),
        ["channels.team-chat: must be an apprise URL, or a mapping with url: and options"],
    ),
    (
        "channel-option-misspelt",
        valid(channels={**CHANNELS, "team-chat": {"url": "json://127.0.0.1:9/x", "quiett": 1}}),
        ["channels.team-chat.quiett: unknown key (known: format, max_length, quiet, rate, url)"],
    ),
    (
        "unsupported-database",
        valid(database=f"mysql://root:{SECRET}@db/news"),
        ["database: unsupported database 'mysql' (use sqlite or postgresql)"],
    ),
    (
        "unparsable-database",
        valid(database=f"{SECRET}@db"),
        ["database: not a SQLAlchemy URL (examples: sqlite:///newshound.db, postgresql://host/db)"],
    ),
    ("delivery-not-mapping", valid(delivery="5s"), ["delivery: must be a mapping"]),
]


@pytest.mark.parametrize(("data", "expected"), [pytest.param(d, e, id=i) for i, d, e in INVALID])
def test_invalid_config_reports_exact_problem(data: dict[str, object], expected: list[str]) -> None:
    assert problems(data) == expected


@pytest.mark.parametrize(("data", "kind"), [([SOURCE], "list"), ("every: 10m", "str")])
def test_top_level_must_be_a_mapping(data: object, kind: str) -> None:
    assert problems(data) == [f"(top level): must be a mapping (got {kind})"]


def test_query_syntax_error_is_reported_with_its_column() -> None:
    # The wording belongs to alerts.topics; this only pins where and how it is reported.
    found = problems(valid(topics=[{**TOPIC, "query": "Kim *"}]))
    assert len(found) == 1
    assert found[0].startswith("topics[0].query: column ")


def test_all_problems_are_reported_at_once_in_reading_order() -> None:
    data = {
        "every": "soon",
        "sources": [{**SPIEGEL, "intervall": "5m"}, {**SPIEGEL, "feed": "ftp://x"}],
        "channels": {"team-chat": "tgram://${NO_TOKEN}/1", "log": CHANNELS["team-chat"]},
        "topics": [{"name": "kim", "query": "", "notify": ["team-chat", "desk-mial"]}],
        "delivery": {"timeout": 0},
    }
    assert problems(data) == [
        f"every: 'soon' is not a duration {DURATION_EXAMPLES}",
        "sources[0].intervall: unknown key"
        " (known: every, exclude, feed, include, language, links, max_age, name, page,"
        " site, sitemap)",
        "sources[1].feed: 'ftp://x' is not an http(s) URL",
        "sources[1].name: duplicate source 'spiegel'",
        "channels.team-chat: environment variable NO_TOKEN is not set",
        "channels.log: 'log' is reserved for the built-in log channel",
        "topics[0].query: empty query",
        "topics[0].notify[1]: unknown channel 'desk-mial' (known: team-chat)",
        "delivery.timeout: must be longer than zero",
    ]


def test_example_config_loads_with_env_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = FIXTURES / "example.yaml"
    config = load_config(path)
    assert config.path == path
    assert config.database == f"sqlite:///{FIXTURES.resolve() / 'newshound.db'}"
    assert config.every == 600
    assert [(s.name, s.every) for s in config.sources] == [("tagesschau", 600), ("spiegel", None)]
    assert config.channels == {
        "team-chat": f"tgram://{TG_TOKEN}/12345",
        "desk-mail": f"mailtos://user:{SECRET}@example.org?to=desk@example.org",
    }
    assert config.topics[0].query == "Kim Putin Waffen*"
    assert config.topics[0].notify == ("team-chat", "desk-mail")
    assert config.topics[1].notify == (LOG_CHANNEL,)
    assert (config.delivery.every, config.delivery.backoff) == (5, 30)
    assert (config.delivery.max_backoff, config.delivery.timeout) == (3600, 20)
    # Validated output is valid input: dumping and parsing again changes nothing.
    assert parse_config(config.model_dump(exclude={"path"}), path=path, env={}) == config


def test_env_expansion_uses_the_given_env() -> None:
    data = valid(channels={"team-chat": "tgram://${TG_TOKEN}/${TG_CHAT}"})
    config = parse_config(data, env=ENV)
    assert config.channels["team-chat"] == f"tgram://{TG_TOKEN}/12345"


def test_defaults_and_blank_sections(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("sources:\nchannels:\ntopics:\n  - name: kim\n    query: Kim\n    notify:\n")
    config = load_config(path)
    assert config.database == f"sqlite:///{tmp_path.resolve() / 'newshound.db'}"
    assert (config.every, config.sources, config.channels) == (600, (), {})
    assert config.topics[0].notify == (LOG_CHANNEL,)
    assert config.delivery.model_dump() == {
        "every": 5,
        "backoff": 30,
        "max_backoff": 3600,
        "timeout": 20,
        "max_attempts": 30,
        "ops_channel": None,
        "ops_after": 900,
        "templates": {},
    }


def test_log_channel_may_be_named_explicitly() -> None:
    config = parse_config(valid(topics=[{**TOPIC, "notify": ["team-chat", LOG_CHANNEL]}]))
    assert config.topics[0].notify == ("team-chat", LOG_CHANNEL)


def test_relative_sqlite_path_is_resolved_against_the_config_dir(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "config.yaml").write_text("database: sqlite:///data/../news.db\n")
    config = load_config(conf_dir / "config.yaml")
    assert config.database == f"sqlite:///{conf_dir.resolve() / 'news.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:////var/lib/newshound/news.db",
        "sqlite:///file:x?uri=true",
    ],
)
def test_memory_and_absolute_sqlite_urls_are_untouched(url: str) -> None:
    assert parse_config({"database": url}).database == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://news:pw@db/news", "postgresql+psycopg://news:pw@db/news"),
        ("postgresql+psycopg2://news@db/news", "postgresql+psycopg2://news@db/news"),
    ],
)
def test_postgresql_defaults_to_psycopg3(url: str, expected: str) -> None:
    assert parse_config({"database": url}).database == expected


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSHOUND_CONFIG", raising=False)
    assert config_path(None) == Path("config.yaml")
    monkeypatch.setenv("NEWSHOUND_CONFIG", "/etc/newshound.yaml")
    assert config_path(None) == Path("/etc/newshound.yaml")
    assert config_path("other.yaml") == Path("other.yaml")


def test_no_secret_reaches_messages_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data = valid(
        database=f"mysql://root:{SECRET}@db/news",
        channels={
            "bad-token": f"tgram://{SECRET}/",
            "from-env": "tgram://${SMTP_PASS}/1",
            "not-a-url": f"{SECRET} please",
            "wrong-type": [f"json://{SECRET}@x"],
            "team-chat": CHANNELS["team-chat"],
        },
    )
    found = problems(data)
    assert len(found) == 5
    assert SECRET not in "\n".join(found)
    assert SECRET not in caplog.text  # apprise logs a rejected URL in full unless silenced
    config = parse_config(
        valid(
            database=f"postgresql://news:{SECRET}@db/news",
            channels={"team-chat": f"json://{SECRET}@x"},
        )
    )
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_channel_label_hides_the_token() -> None:
    config = parse_config(valid(channels={"team-chat": "tgram://${TG_TOKEN}/${TG_CHAT}"}), env=ENV)
    label = config.channel_label("team-chat")
    assert label.startswith("tgram://")
    assert "ABCdefGhIjKlmNoPQRsTUVwxyZ" not in label
    assert config.channel_label("nowhere") == "nowhere"


def test_interval_falls_back_to_the_top_level_every() -> None:
    config = parse_config(valid(every="15m", sources=[{**SOURCE, "every": 90}, SPIEGEL]))
    assert [config.interval(s) for s in config.sources] == [90, 900]


def test_config_is_frozen() -> None:
    config = parse_config(valid())
    with pytest.raises(ValidationError):
        config.every = 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "5 minutes", "-5m", "1w", "m", "1.h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sources:\n  - name: a\n    feed: [x\nchannels: {}\n",
            "line 4 column 9: expected ',' or ']', but got ':'",
        ),
        (
            "every: 10m\n\tsources: []\n",
            "line 2 column 1: found character '\\t' that cannot start any token",
        ),
        ("channels:\n  a: json://x\n  a: json://y\n", "line 3 column 3: duplicate key 'a'"),
    ],
    ids=["syntax", "tab", "duplicate-key"],
)
def test_yaml_errors_name_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: {expected}"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_config_can_be_built_directly() -> None:
    # Other modules' tests build a Config without YAML; defaults must still validate.
    config = Config(sources=(), topics=())
    assert config.database.startswith("sqlite:////")
