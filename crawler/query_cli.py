"""`newshound test-query`: try a topic query on files, or on the articles stored lately."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts.topics import Document, Hit, Query, QueryError, TopicMatcher, highlight

if TYPE_CHECKING:
    from crawler.config import Config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

SAMPLES = 5  # matching stored articles shown, newest first
_BATCH = 200
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz")


def add_parser(sub: Any) -> None:
    """Add `test-query` to the `newshound` subcommands."""
    parser = sub.add_parser(
        "test-query",
        help="try a topic query on files, or on the articles stored lately",
        description="Say whether QUERY matches each FILE (plain text, or an HTML page, gzipped "
        "or not, extracted as the pipeline does) and show the sentences that make it match. "
        "With no FILE, run it over the articles stored in the last N days and say how many "
        "would have matched.",
        epilog="Exit codes: 0 done, 1 a file unreadable or not an article, 2 malformed query, "
        "3 database unusable.",
    )
    parser.add_argument("query", metavar="QUERY", help="a topic query, quoted for the shell")
    parser.add_argument("files", nargs="*", metavar="FILE", help="text or HTML files")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"file", "match", "terms", "snippets"}, one per file or '
        "stored article (its URL as file)",
    )
    parser.add_argument(
        "--days",
        type=_days,
        default=7,
        metavar="N",
        help="with no FILE: the articles stored in the last N days (default 7)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    try:
        query = Query.parse(args.query)
    except QueryError as exc:
        print(f"query: {exc}", file=sys.stderr)
        return EXIT_USAGE
    matcher = TopicMatcher([("query", query)])
    if args.files:
        return _run_files(matcher, args.files, args.json)
    return _run_stored(matcher, config, args.days, args.json)


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r}") from None
    if not days > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 days: {value!r}")
    return days


def _run_files(matcher: TopicMatcher, files: list[str], as_json: bool) -> int:
    results: list[dict[str, Any]] = []
    status = EXIT_OK
    for name in files:
        try:
            document = read_document(Path(name))
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        except ValueError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        hit = _hit(matcher, document)
        results.append(_result(name, hit))
        if not as_json:
            _show(name, hit)
    if as_json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    return status


def read_document(path: Path) -> Document:
    """A file as the matcher sees it: an HTML page extracted as the pipeline does (title,
    authors and language from the page), or plain text, all of it the article's text."""
    from crawler.extract import NotAnArticle, decode_html, extract_article

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"not readable gzip ({exc})") from None
    url = path.resolve().as_uri()
    if not _is_html(path, data):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        return Document(title="", text=text, url=url)
    try:
        article = extract_article(decode_html(data), url)
    except NotAnArticle as exc:
        raise ValueError(f"not an article: {exc}") from None
    return Document(
        title=article.title or "",
        text=article.text,
        url=url,
        authors=article.authors,
        language=article.language,
    )


def _is_html(path: Path, data: bytes) -> bool:
    if path.name.lower().endswith(_HTML_SUFFIXES):
        return True
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and any(tag in head for tag in (b"<html", b"<!doctype", b"<body"))


def _run_stored(matcher: TopicMatcher, config: Config, days: float, as_json: bool) -> int:
    from crawler.store import Store, StoreError

    results: list[dict[str, Any]] = []
    samples: list[tuple[dict[str, Any], Hit]] = []
    total = matched = 0
    try:
        store = Store(config.database)
        try:
            for row in _stored_since(store, store.clock() - timedelta(days=days)):
                total += 1
                document = Document(
                    title=row["title"] or "",
                    text=row["text"],
                    url=row["url"],
                    source=row["source"],
                    authors=tuple(row["authors"] or ()),
                    language=row["language"],
                )
                if as_json or len(samples) < SAMPLES:  # snippets wanted
                    hit = _hit(matcher, document)
                    if as_json:
                        results.append(_result(row["url"], hit))
                    elif hit is not None:
                        samples.append((row, hit))
                    matched += hit is not None
                else:
                    matched += bool(matcher.matching(document))
        finally:
            store.close()
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATABASE
    if as_json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
        return EXIT_OK
    span = f"{days:g} day" + ("" if days == 1 else "s")
    print(f"{total} articles stored in the last {span}; {matched} would have matched.")
    for row, hit in samples:
        when = row["stored_at"].strftime("%Y-%m-%d %H:%M") if row["stored_at"] else "-"
        print(f"\n{when}  {row['source']}  {' '.join((row['title'] or '').split())}")
        print(f"  {row['url']}")
        _show_hit(hit)
    if matched > len(samples):
        print(f"\n(the newest {len(samples)} shown)")
    return EXIT_OK


def _stored_since(store: Any, since: datetime) -> Iterator[dict[str, Any]]:
    """The articles stored since `since`, newest first, read in batches: a short read each,
    so the daemon's writes never wait for this."""
    from sqlalchemy import and_, or_, select
    from sqlalchemy.exc import SQLAlchemyError

    from crawler.store import StoreError, articles

    names = ("id", "url", "source", "title", "authors", "language", "text", "stored_at")
    stored_at, ident = articles.c.stored_at, articles.c.id
    query = (
        select(*(articles.c[name] for name in names))
        .where(stored_at >= since)
        .order_by(stored_at.desc(), ident.desc())
        .limit(_BATCH)
    )
    last: dict[str, Any] | None = None
    while True:
        batch = query
        if last is not None:  # the next batch: older than the last row read
            batch = query.where(
                or_(
                    stored_at < last["stored_at"],
                    and_(stored_at == last["stored_at"], ident < last["id"]),
                )
            )
        try:
            with store.engine.connect() as conn:
                rows = [dict(row._mapping) for row in conn.execute(batch)]
        except SQLAlchemyError as exc:
            raise StoreError(f"database {store.printable_url}: {exc.__class__.__name__}") from exc
        yield from rows
        if len(rows) < _BATCH:
            return
        last = rows[-1]


def _hit(matcher: TopicMatcher, document: Document) -> Hit | None:
    found = matcher.match_document(document)
    return found[0][1] if found else None


def _result(name: str, hit: Hit | None) -> dict[str, Any]:
    return {
        "file": name,
        "match": hit is not None,
        "terms": list(hit.terms) if hit else [],
        "snippets": list(hit.snippets) if hit else [],
    }


def _show(name: str, hit: Hit | None) -> None:
    print(f"{name}: {'match' if hit else 'no match'}")
    if hit:
        _show_hit(hit)


def _show_hit(hit: Hit) -> None:
    terms = list(dict.fromkeys(hit.terms))
    if terms:
        print(f"  terms: {', '.join(terms)}")
    for snippet in hit.snippets:
        print(f"  > {highlight(snippet, terms, lambda word: f'*{word}*')}")
