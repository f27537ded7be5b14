"""Owns turning one fetched HTML page into an article: decoding, body text and dates here, the
declared fields from crawler.metadata, then the host's correction from crawler.sites."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import htmldate
import trafilatura
from w3lib.encoding import html_to_unicode

from crawler import metadata
from crawler.metadata import AUTHOR_PREFIX, Page, clean_text, first_str, ld_authors, split_authors
from crawler.sites import rule_for

__all__ = ["Extracted", "NotAnArticle", "decode_html", "extract_article"]


@dataclass(frozen=True)
class Extracted:
    url: str
    title: str | None
    authors: tuple[str, ...]
    published: datetime | None  # timezone-aware; naive or date-only sources are taken as UTC
    language: str | None  # ISO 639-1, lowercase
    text: str  # paragraphs separated by a blank line, without reader comments
    description: str | None
    modified: datetime | None = None  # timezone-aware; None if undeclared or before published
    image: str | None = None  # absolute http(s) URL of the lead image
    outlet: str | None = None  # the publisher's name, e.g. "Süddeutsche Zeitung"
    paywalled: bool = False  # the publisher declares it not free to read (metered included)
    canonical: str | None = None  # the page's own rel=canonical / og:url, absolute


class NotAnArticle(ValueError):
    """The page has no article body that could be extracted."""


# Tables: on the shared pages they changed one page of 152, where the table is the article
# (recall 0.19 -> 1.00), and cost no other page precision. Comments: topics must not fire on them.
_BODY_OPTIONS: dict[str, Any] = {"include_comments": False, "include_tables": True}

_DATELINE = re.compile(
    r"^(?:stand|aktualisiert|veröffentlicht|published|updated)\s*:?\s*[\d.,: ]+(?:uhr)?$",
    re.IGNORECASE,
)
_PUBLISHED_META = (
    *("article:published_time", "og:article:published_time", "published_time", "date"),
    *("pubdate", "publishdate", "dc.date.issued", "dcterms.date", "dc.date", "sailthru.date"),
)
_MODIFIED_META = (
    *("article:modified_time", "og:article:modified_time", "og:updated_time", "modified_time"),
    *("last-modified", "dcterms.modified", "dc.date.modified", "lastmod"),
)
# Java's Date.toString(), e.g. "Fri Apr 28 19:20:36 CEST 2023", as some CMSs write JSON-LD.
_JAVA_DATE = re.compile(
    r"^\w{3} (?P<date>\w{3} \d{1,2} \d\d:\d\d:\d\d) (?P<tz>[A-Z]{1,5}) (?P<year>\d{4})$"
)
_TZ_HOURS = {
    **dict.fromkeys(("UTC", "GMT", "Z", "WET"), 0),
    **{"BST": 1, "CET": 1, "MEZ": 1, "CEST": 2, "MESZ": 2, "EET": 2, "EEST": 3},
    **{"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7},
}
_REPEATED_LINE_MAX = 200
_MIN_PROSE_WORDS = 10  # an article has at least one sentence; on the shared pages the least is 17


def decode_html(body: bytes, declared_encoding: str | None = None) -> str:
    """Decode a page: valid UTF-8 first, else BOM, declared charset, <meta> charset, cp1252.

    `declared_encoding` is a charset name or a whole Content-Type header value.
    """
    if not body.isascii() and _is_utf8(body):
        # Multi-byte UTF-8 that decodes cleanly is practically never legacy-encoded text, while
        # stale declarations (a page re-encoded to UTF-8 still saying iso-8859-1) are common.
        return body.decode("utf-8").removeprefix("\ufeff")
    header = None
    if declared_encoding:
        header = (
            declared_encoding
            if "charset=" in declared_encoding.lower()
            else f"text/html; charset={declared_encoding}"
        )
    _, text = html_to_unicode(header, body, auto_detect_fun=_utf8_or_cp1252)
    return text


def extract_article(html: bytes | str, url: str) -> Extracted:
    """Extract article fields from one page; raise NotAnArticle when it has no body text."""
    source = decode_html(html) if isinstance(html, bytes) else html
    tree = trafilatura.load_html(source) if source.strip() else None
    if tree is None:
        raise NotAnArticle(f"no parseable HTML: {url}")

    # trafilatura and htmldate work on copies, so the one parsed tree serves every reader.
    document = trafilatura.bare_extraction(tree, url=url, with_metadata=False, **_BODY_OPTIONS)
    page = metadata.read_page(tree, url)
    site_rule = rule_for(url)

    title = metadata.title(page)
    authors = split_authors(ld_authors(page.ld.get("author"))) or metadata.meta_authors(page.meta)
    text = _body(getattr(document, "text", None) or "", title, authors)
    if site_rule is None:
        _require_prose(text, url)  # before the costlier date and metadata fallbacks

    fallback = None
    if title is None or not authors:
        fallback = trafilatura.extract_metadata(tree, default_url=url, extensive=False)
        title = title or metadata.strip_site_suffix(clean_text(fallback.title), page.sites)
        authors = authors or split_authors((fallback.author or "").split(";"))
    published = _published(page)

    description = (
        first_str(page.ld.get("description"))
        or page.meta.get("og:description")
        or page.meta.get("description")
        or (fallback.description if fallback else None)
    )
    article = Extracted(
        url=url,
        title=title,
        authors=authors,
        published=published,
        language=metadata.language(page),
        text=text,
        description=clean_text(description),
        modified=_modified(page, published),
        image=metadata.image(page),
        outlet=metadata.outlet(page),
        paywalled=metadata.paywalled(page),
        canonical=metadata.canonical(page),
    )
    if site_rule is not None:
        article = site_rule(page, article)
        _require_prose(article.text, url)
    return article


def _require_prose(text: str, url: str) -> None:
    if not text:
        raise NotAnArticle(f"no article text found: {url}")
    if not any(len(line.split()) >= _MIN_PROSE_WORDS for line in text.split("\n\n")):
        # Menus, buttons and form labels: trafilatura returns them when nothing else is there.
        raise NotAnArticle(f"no article text found, only short lines: {url}")


# --- dates ----------------------------------------------------------------------------------


def _published(page: Page) -> datetime | None:
    """datePublished or a publication <meta>, else htmldate; naive sources are taken as UTC."""
    published = _declared_date(page, "datePublished", _PUBLISHED_META)
    if published is None or _is_date_only(published):
        found = htmldate.find_date(
            page.tree,
            outputformat="%Y-%m-%dT%H:%M:%S%z",
            extensive_search=False,  # measured: the extensive search finds more wrong dates
            original_date=True,
            url=page.url,
            deferred_url_extractor=True,
        )
        published = _refine(published, _parse_datetime(found))
    return _assume_utc_if_naive(published)


def _modified(page: Page, published: datetime | None) -> datetime | None:
    """dateModified or a modification <meta>, timezone-aware; None if before publication.

    A naive time takes the offset of the publication time: a CMS that leaves the zone out
    writes all its times in the same local zone. A modification before the publication (8 of
    the shared pages, by 33 ms to 5 hours) is a draft's or a scheduled article's time, not
    an update.
    """
    modified = _declared_date(page, "dateModified", _MODIFIED_META)
    if modified is not None and published is not None and not _is_date_only(modified):
        modified = _refine(modified, modified.replace(tzinfo=published.tzinfo))
    modified = _assume_utc_if_naive(modified)
    if modified is not None and published is not None and modified < published:
        return None
    return modified


def _declared_date(page: Page, ld_key: str, meta_keys: tuple[str, ...]) -> datetime | None:
    found: datetime | None = None
    for raw in (first_str(page.ld.get(ld_key)), *(page.meta.get(key) for key in meta_keys)):
        found = _refine(found, _parse_datetime(raw))
        if found is not None and found.tzinfo is not None:
            break
    return found


def _refine(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """Keep `current` unless `candidate` says the same thing more precisely.

    A date-only value takes a time on the same day; a naive time takes the same wall-clock time
    with an offset. The earlier, more trusted source still decides which moment is meant.
    """
    if current is None:
        return candidate
    if candidate is None or current.tzinfo is not None:
        return current
    local = candidate.replace(tzinfo=None)
    if _is_date_only(current):
        same = local.date() == current.date() and not _is_date_only(candidate)
        return candidate if same else current
    same = local.replace(microsecond=0) == current.replace(microsecond=0)
    return candidate if same and candidate.tzinfo else current


def _assume_utc_if_naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _is_date_only(value: datetime) -> bool:
    return value.tzinfo is None and value.time() == datetime.min.time()


def _parse_datetime(value: str | None) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        # "2024-04-30 16:17:29 +02:00" (Euronews) has a space before the offset.
        return datetime.fromisoformat(value.replace(" +", "+").replace(" -", "-"))
    except ValueError:
        pass
    if match := _JAVA_DATE.match(value):
        try:
            parsed = datetime.strptime(f"{match['date']} {match['year']}", "%b %d %H:%M:%S %Y")
        except ValueError:
            return None
        hours = _TZ_HOURS.get(match["tz"])
        return parsed if hours is None else parsed.replace(tzinfo=timezone(timedelta(hours=hours)))
    try:
        return parsedate_to_datetime(value)  # RFC 2822, as in feeds
    except (TypeError, ValueError, IndexError):
        return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_or_cp1252(body: bytes) -> str:
    # Only reached for undeclared pages that are not UTF-8: most of those are Windows-1252.
    return "utf-8" if _is_utf8(body) else "cp1252"


def _body(raw_text: str, title: str | None, authors: tuple[str, ...]) -> str:
    paragraphs = [
        cleaned
        for line in raw_text.splitlines()
        if (cleaned := clean_text(line, unescape=False))
        # Headline, dateline and byline are fields of their own, not prose of the article.
        and cleaned != title
        and not _DATELINE.match(cleaned)
        and not _is_byline(cleaned, authors)
    ]
    # A short line that recurs within one article is a placeholder or a call to action
    # ("Externer Inhalt nicht verfügbar", "Zum Angebot"), not prose.
    counts = Counter(paragraphs)
    paragraphs = [p for p in paragraphs if counts[p] == 1 or len(p) > _REPEATED_LINE_MAX]
    return "\n\n".join(paragraphs)


def _is_byline(paragraph: str, authors: tuple[str, ...]) -> bool:
    if not authors or len(paragraph) > 120 or not AUTHOR_PREFIX.match(paragraph):
        return False
    return set(split_authors([paragraph])) <= set(authors)
