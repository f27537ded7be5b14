"""The `newshound` command: run, once, check-config, extract."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.config import Config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3

MAX_PAGE_BYTES = 20 * 1024 * 1024

log = logging.getLogger("newshound")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newshound",
        description="Media monitoring: poll news sources, match topics, alert chat and email.",
        epilog="Exit codes: 0 ok, 1 failed, 2 invalid config or usage, 3 database unusable, "
        "4 another daemon runs on the database.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $NEWSHOUND_CONFIG, else ./config.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("NEWSHOUND_LOG_FORMAT", "text"),
        help="log lines as text (default) or one JSON object each ($NEWSHOUND_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run the daemon: poll sources on their intervals, deliver alerts, until SIGTERM",
        description="Poll every source on its interval and deliver alerts until SIGTERM/SIGINT.",
    )
    sub.add_parser(
        "once",
        help="poll every source once, deliver every due alert, exit",
        description="One pass over every source, then deliver every due alert, then exit.",
    )
    status = sub.add_parser(
        "status",
        help="how each source, channel and topic is doing (reads the database)",
        description="Per source the last poll, its result, new articles in 24 h, the next "
        "poll and the last error; per channel the queue and the last delivery; per topic "
        "the alerts in 24 h. Works while the daemon runs.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_parser(
        "check-config",
        help="validate the config and print every problem",
        description="Validate the config file; print every problem with its YAML path.",
    )
    discover = sub.add_parser(
        "discover",
        help="find a site's feeds and sitemaps, and say which a `site:` source would use",
        description="Fetch a homepage, its robots.txt and the usual feed and sitemap paths; "
        "print what was found and what a `site:` source would poll.",
    )
    discover.add_argument("url", metavar="URL", help="the site's homepage")
    extract = sub.add_parser(
        "extract",
        help="extract one page as the pipeline does",
        description="Extract one page (local HTML file, gzipped or not, or an http(s) URL).",
    )
    extract.add_argument("page", metavar="FILE_OR_URL")
    extract.add_argument("--url", help="the page's original address (for a local file)")
    extract.add_argument("--json", action="store_true", help="print one JSON object")
    from crawler import outbox_cli, query_cli

    outbox_cli.add_parsers(sub)
    query_cli.add_parser(sub)
    return parser


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(verbose: bool, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
        )
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    quiet = ("scrapy", "twisted", "trafilatura", "htmldate", "apscheduler", "charset_normalizer")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # apprise's own log lines can carry a channel's URL; its failures reach us as results,
    # redacted, so its logger never writes to ours.
    logging.getLogger("apprise").propagate = False
    # A download that failed after its retries is reported once, naming its source, by
    # the spider's errback; Scrapy's own line for it would say the same without the source.
    # The same goes for robots.txt, whose failure Scrapy logs with a traceback and which
    # is retried on the next poll.
    for name in ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `newshound check-config | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_format)
    if args.command == "extract":
        return cmd_extract(args.page, args.url, args.json)

    from crawler.config import Config, ConfigError, config_path, load_config

    path = config_path(args.config)
    try:
        # Discovery needs no config; without one the defaults' limits apply.
        no_config = args.command in ("discover", "test-query") and not path.exists()
        config = Config() if no_config else load_config(path)
    except ConfigError as exc:
        print(f"{path}: invalid config:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        return cmd_check_config(config)
    if args.command in ("outbox", "notify-test"):
        from crawler import outbox_cli

        return outbox_cli.run(args, config)
    if args.command == "test-query":
        from crawler import query_cli

        return query_cli.run(args, config)
    if args.command == "status":
        from crawler import status
        from crawler.store import StoreError

        try:
            return status.run(config, args.json)
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return EXIT_DATABASE

    from crawler.crawl import run_on_reactor
    from crawler.daemon import run_daemon, run_once
    from crawler.store import StoreError

    if args.command == "discover":
        return run_on_reactor(lambda: cmd_discover(config, args.url))

    async def start() -> int:
        try:
            if args.command == "run":
                return await run_daemon(config)
            return await run_once(config, show=_printer())
        except StoreError as exc:
            log.error("%s", exc)
            return EXIT_DATABASE

    return run_on_reactor(start)


def _printer() -> Callable[[str], None]:
    def show(line: str) -> None:
        print(line, flush=True)

    return show


async def cmd_discover(config: Config, url: str) -> int:
    from crawler.config import Source
    from crawler.crawl import Poller, Runtime
    from crawler.spiders.site import DiscoverSpider
    from crawler.store import Store

    if not url.startswith(("http://", "https://")):
        print(f"{url}: not an http(s) URL", file=sys.stderr)
        return EXIT_FAILED
    store = Store("sqlite:///:memory:")  # discovery stores nothing
    runtime = Runtime.from_config(config, store)
    poller = Poller(runtime)
    crawler = poller.runner.create_crawler(DiscoverSpider)
    try:
        await poller.runner.crawl(crawler, source=Source(name="discover", site=url))
    finally:
        runtime.close()
        store.close()
    spider = crawler.spider
    found = getattr(spider, "found", None)
    if found is None or not found.reachable:
        reason = getattr(spider, "error", None) or "no answer"
        print(f"{url}: cannot reach the site ({reason})", file=sys.stderr)
        return EXIT_FAILED
    print(f"site {url}")
    print(f"  feeds: {', '.join(found.feeds) or 'none'}")
    print(f"  sitemaps: {', '.join(found.sitemaps) or 'none'}")
    use = found.use
    if "feeds" in use:
        print(f"  a site: source polls the feeds {', '.join(use['feeds'])}")
    elif "sitemaps" in use:
        print(f"  a site: source polls the sitemaps {', '.join(use['sitemaps'])}")
    else:
        print("  a site: source reads the homepage as a listing page")
    return EXIT_OK


def cmd_check_config(config: object) -> int:
    from crawler.config import Config

    assert isinstance(config, Config)
    print(f"config {config.path}: ok")
    print(f"  database: {_printable_db(config.database)}")
    print(f"  {len(config.sources)} sources:")
    for source in config.sources:
        print(f"    {source.name}: {source.kind} {source.url} every {config.interval(source):g}s")
    print(f"  {len(config.channels)} channels:")
    for name in config.channels:
        print(f"    {name}: {config.channel_label(name)}")
    print(f"  {len(config.topics)} topics:")
    for topic in config.topics:
        notify = ", ".join(topic.notify) or "log"
        print(f"    {topic.name}: {topic.query!r} -> {notify}")
    return EXIT_OK


def _printable_db(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _read_page(page: str) -> tuple[bytes, str | None]:
    """The page's bytes and its HTTP charset, from a file (gzip or not) or an http(s) URL."""
    if page.startswith(("http://", "https://")):
        request = urllib.request.Request(page, headers={"User-Agent": "newshound/0.1"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read(MAX_PAGE_BYTES + 1)
            if len(body) > MAX_PAGE_BYTES:
                raise ValueError(f"larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB")
            return body, response.headers.get_content_charset()
    data = Path(page).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data, None


def cmd_extract(page: str, url: str | None, as_json: bool) -> int:
    from crawler.extract import NotAnArticle, decode_html, extract_article

    try:
        body, charset = _read_page(page)
    except (OSError, ValueError) as exc:
        print(f"{page}: cannot read: {exc}", file=sys.stderr)
        return EXIT_FAILED
    is_web = page.startswith(("http://", "https://"))
    address = url or (page if is_web else Path(page).resolve().as_uri())
    try:
        article = extract_article(decode_html(body, charset), address)
    except NotAnArticle as exc:
        print(f"{page}: not an article: {exc}", file=sys.stderr)
        return EXIT_FAILED
    fields: dict[str, object] = {
        "url": article.url,
        "title": article.title,
        "authors": list(article.authors),
        "published": article.published.isoformat() if article.published else None,
        "modified": article.modified.isoformat() if article.modified else None,
        "language": article.language,
        "outlet": article.outlet,
        "description": article.description,
        "image": article.image,
        "paywalled": article.paywalled,
        "text": article.text,
    }
    if as_json:
        print(json.dumps(fields, ensure_ascii=False))
        return EXIT_OK
    for key, value in fields.items():
        if key == "text":
            continue
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        print(f"{key}: {value if value not in (None, '') else '-'}")
    print()
    print(article.text)
    return EXIT_OK
