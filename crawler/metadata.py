"""Owns what a page says about itself in JSON-LD and <meta>: headline, authors, dates, language,
outlet, image and access, read once into a `Page` and cleaned the same way for every site."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from cssselect import SelectorError  # a dependency of Scrapy and parsel
from lxml.html import HtmlElement

_ARTICLE_TYPES = frozenset(
    {
        *("Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle"),
        *("OpinionNewsArticle", "BackgroundNewsArticle", "ReviewNewsArticle", "Report"),
        *("AskPublicNewsArticle", "SatiricalArticle", "BlogPosting", "LiveBlogPosting"),
        *("SocialMediaPosting", "TechArticle", "ScholarlyArticle"),
    }
)
_LEADING_ARTICLES = frozenset({"the", "der", "die", "das", "le", "la", "el", "il"})
# Host labels that name no site: "www", and the second level of "co.uk", "com.br" ...
_HOST_NOISE = frozenset({"www", "co", "com", "org", "net", "gov", "ac", "or", "ne"})
_LANGUAGE_META = ("og:locale", "content-language", "language", "dc.language")
_AUTHOR_META = ("author", "article:author", "byl", "sailthru.author")
# Dublin Core and citation metadata write names as "Family, Given".
_INVERTED_AUTHOR_META = ("dc.creator", "citation_author")
_OG_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url")
_TWITTER_IMAGE_META = ("twitter:image", "twitter:image:src")
# "metered" and "locked" are the Open Graph content tiers of articles behind a paywall; the LA
# Times, Reuters and the Washington Post write "metered" beside `isAccessibleForFree: false`.
_PAYWALL_TIERS = frozenset({"metered", "locked"})
# Zero-width characters and soft hyphens are invisible yet break word matching downstream.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_WS = re.compile(r"\s+")
AUTHOR_PREFIX = re.compile(r"^(?:von|by|text|autor(?:in)?|author)\s*:?\s+", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\bund\b|\band\b|&)\s*", re.IGNORECASE)
_AUTHOR_SHORTHAND = re.compile(r"\s*\([^)]*\)\s*$")  # "Elena Oberholzer (obe)"
# Separators: pipe, hyphen, en dash, em dash, middle dot, star; a tail may contain hyphens.
_TITLE_SUFFIX = re.compile(
    r"^(?P<head>.*\S)\s+[|\-\u2013\u2014\u00b7*]\s+(?P<tail>[^|\u2013\u2014\u00b7*]{1,60})$"
)
_TITLE_SEPARATOR = re.compile(r"^\s+[|\-\u2013\u2014\u00b7*]\s+\S")
_DATE_SEGMENT = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{2,4}$")
_LANG = re.compile(r"^([a-zA-Z]{2})(?:[-_].*)?$")


@dataclass(frozen=True)
class Page:
    """One parsed page and the metadata it declares, as generic extraction and site rules see it."""

    url: str
    tree: HtmlElement
    meta: dict[str, str]  # <meta> content by lowercased property/name/http-equiv; first wins
    ld: dict[str, Any]  # the JSON-LD article node, or {}
    ld_nodes: list[dict[str, Any]]
    ld_by_id: dict[str, dict[str, Any]]
    publisher: dict[str, Any]  # the article's JSON-LD publisher, references followed, or {}
    sites: frozenset[str]  # keys of the names the site goes by: host, og:site_name, publisher


def read_page(tree: HtmlElement, url: str) -> Page:
    nodes = list(_json_ld_nodes(tree))
    by_id = {node["@id"]: node for node in nodes if isinstance(node.get("@id"), str)}
    ld = next((node for node in nodes if _types(node) & _ARTICLE_TYPES), {})
    meta = _meta_tags(tree)
    publisher = _resolve(by_id, ld.get("publisher"))
    publisher = publisher if isinstance(publisher, dict) else {}
    sites = _site_names(url, meta, publisher)
    return Page(url, tree, meta, ld, nodes, by_id, publisher, sites)


def _json_ld_nodes(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        raw = (script.text or "").strip().removeprefix("//<![CDATA[").removesuffix("//]]>")
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        yield from _walk(data)


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _walk(data["@graph"])


def _types(node: dict[str, Any]) -> set[str]:
    types = node.get("@type")
    if isinstance(types, str):
        return {types}
    return {t for t in types if isinstance(t, str)} if isinstance(types, list) else set()


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in tree.iterfind(".//meta"):
        key = element.get("property") or element.get("name") or element.get("http-equiv")
        content = element.get("content")
        if key and content and content.strip():
            found.setdefault(key.strip().lower(), content.strip())
    return found


def _resolve(by_id: dict[str, dict[str, Any]], value: Any) -> Any:
    """The first of a JSON-LD value, a {"@id": ...} reference completed by the node it names."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("@id"), str):
        return {**by_id.get(value["@id"], {}), **value}
    return value


def first_str(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def clean_text(value: str | None, *, unescape: bool = True) -> str | None:
    if value is None:
        return None
    if unescape:
        # JSON-LD and <meta> values are often HTML-escaped a second time by the CMS.
        value = htmllib.unescape(value)
    cleaned = _WS.sub(" ", value.translate(_INVISIBLE)).strip()
    return cleaned or None


# --- title and outlet ---------------------------------------------------------------------------


def title(page: Page) -> str | None:
    headline = clean_text(first_str(page.ld.get("headline")))
    if headline is None:
        meta, tree = page.meta, page.tree
        fallback = meta.get("og:title") or meta.get("twitter:title") or tree.findtext(".//title")
        return strip_site_suffix(clean_text(fallback), page.sites)
    # Some CMSs append the outlet or a section (" - Golem.de", " | Sport") to the JSON-LD
    # headline: prefer og:title or <h1> when the headline is exactly that plus a separated tail.
    h1 = page.tree.find(".//h1")
    for other in (page.meta.get("og:title"), h1.text_content() if h1 is not None else None):
        shorter = clean_text(other)
        tail = headline[len(shorter) :] if shorter and headline.startswith(shorter) else ""
        if _TITLE_SEPARATOR.match(tail):
            return shorter
    return headline


def strip_site_suffix(title: str | None, sites: frozenset[str]) -> str | None:
    """Remove trailing " | Outlet", " - Outlet.de" or " - 13.06.2023" segments.

    Only segments naming the site (host, og:site_name, publisher) or a date go: a dash inside a
    headline ("Bericht: Aktivistin getötet - Irans Justiz dementiert") stays.
    """
    while title and (match := _TITLE_SUFFIX.match(title)):
        tail = match["tail"].strip()
        key = _site_key(tail)
        names_site = key and any(key.startswith(site) or site.startswith(key) for site in sites)
        if not (names_site or _DATE_SEGMENT.match(tail)):
            break
        title = match["head"]
    return title


def outlet(page: Page) -> str | None:
    """The publisher's name: JSON-LD publisher, else og:site_name, preferring one naming the host.

    JSON-LD sometimes names the owner or the blog platform ("Tamedia AG", "Blogger") and
    og:site_name a section ("Security"); the one that matches the host is the outlet.
    """
    names = [
        clean_text(first_str(page.publisher.get("name"))),
        clean_text(page.meta.get("og:site_name")),
    ]
    found = [name for name in names if name]
    labels = [_site_key(label) for label in (urlsplit(page.url).hostname or "").split(".")[:-1]]
    matching = (name for name in found if _names_host(name, labels))
    return next(matching, found[0] if found else None)


def _names_host(name: str, labels: list[str]) -> bool:
    words = re.findall(r"\w+", name.casefold())
    spellings = [words]
    if len(words) > 1 and words[0] in _LEADING_ARTICLES:  # "The Harbour Ledger", harbourledger.*
        spellings.append(words[1:])
    return any(
        _spelling_names(_site_key("".join(spelling)), "".join(w[0] for w in spelling), label)
        for spelling in spellings
        for label in labels
        if len(label) >= 2 and label not in _HOST_NOISE
    )


def _spelling_names(key: str, initials: str, label: str) -> bool:
    return key.startswith(label) or (len(key) >= 3 and label.startswith(key)) or initials == label


def _site_names(url: str, meta: dict[str, str], publisher: dict[str, Any]) -> frozenset[str]:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    names = {host, host.split(".")[0], meta.get("og:site_name"), meta.get("application-name")}
    names.add(first_str(publisher.get("name")))
    return frozenset(key for name in names if name and len(key := _site_key(name)) >= 2)


def _site_key(name: str) -> str:
    name = name.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    return "".join(ch for ch in name.replace("ß", "ss") if ch.isalnum())


# --- image and access -----------------------------------------------------------------------


def canonical(page: Page) -> str | None:
    """The address the page names as its own: <link rel=canonical>, else og:url, made absolute.

    An AMP page names its regular version here; redirects and tracking links name the
    article's real address. Only an http(s) URL with a path is taken: some sites name their
    homepage, which would make every article the same."""
    links = page.tree.xpath("//link[@rel='canonical']/@href")
    for candidate in (*(str(x) for x in links), page.meta.get("og:url")):
        if isinstance(candidate, str) and candidate.strip():
            absolute = urljoin(page.url, htmllib.unescape(candidate.strip()))
            parts = urlsplit(absolute)
            if parts.scheme in ("http", "https") and parts.path.strip("/"):
                return absolute
    return None


def image(page: Page) -> str | None:
    """The lead image as an absolute http(s) URL: og:image, else JSON-LD image, else Twitter's."""
    ld_image = _resolve(page.ld_by_id, page.ld.get("image"))
    if isinstance(ld_image, dict):
        ld_image = first_str(ld_image.get("url")) or first_str(ld_image.get("contentUrl"))
    og = (page.meta.get(key) for key in _OG_IMAGE_META)
    twitter = (page.meta.get(key) for key in _TWITTER_IMAGE_META)
    for candidate in (*og, ld_image, *twitter):
        if isinstance(candidate, str) and candidate.strip():
            absolute = urljoin(page.url, htmllib.unescape(candidate.strip()))
            if urlsplit(absolute).scheme in ("http", "https"):
                return absolute
    return None


def paywalled(page: Page) -> bool:
    """Whether the publisher declares the article, or a part of it on the page, not free to read.

    With `hasPart`, the parts say which section is not free; a declared part that matches
    nothing on the page marks nothing (The Intercept, a free site, declares an ".emailwall"
    that its page does not have).
    """
    for article in (node for node in page.ld_nodes if _types(node) & _ARTICLE_TYPES):
        parts = article.get("hasPart")
        parts = [part for part in (parts if isinstance(parts, list) else [parts]) if part]
        closed = [part for part in parts if _is_false(_get(part, "isAccessibleForFree"))]
        if any(_on_page(page, _get(part, "cssSelector")) for part in closed):
            return True
        if _is_false(article.get("isAccessibleForFree")) and not closed:
            return True
    microdata = page.tree.find(".//meta[@itemprop='isAccessibleForFree']")
    if microdata is not None and _is_false(microdata.get("content")):
        return True
    return page.meta.get("article:content_tier", "").lower() in _PAYWALL_TIERS


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, dict) else None


def _on_page(page: Page, selector: Any) -> bool:
    if not isinstance(selector, str):
        return True  # a part without a selector: the declaration is all there is
    try:
        return bool(page.tree.cssselect(selector))
    except SelectorError:
        return True  # a selector we cannot evaluate: trust the declaration


def _is_false(value: Any) -> bool:
    if isinstance(value, str):  # "False", "false", "http://schema.org/False"
        return value.strip().rsplit("/", 1)[-1].lower() == "false"
    return value is False


# --- authors --------------------------------------------------------------------------------


def ld_authors(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            return [name]
        given, family = value.get("givenName"), value.get("familyName")
        return [f"{given} {family}"] if isinstance(given, str) and isinstance(family, str) else []
    if isinstance(value, list):
        return [name for item in value for name in ld_authors(item)]
    return []


def meta_authors(meta: dict[str, str]) -> tuple[str, ...]:
    for key in _AUTHOR_META:
        if authors := split_authors([meta.get(key, "")]):
            return authors
    for key in _INVERTED_AUTHOR_META:
        value = meta.get(key, "")
        family, comma, given = value.partition(",")
        if comma and given.strip() and "," not in given:
            value = f"{given.strip()} {family.strip()}"
        if authors := split_authors([value]):
            return authors
    return ()


def split_authors(names: Iterable[str]) -> tuple[str, ...]:
    """Split "A und B" / "A, B" / "A and B", drop "Von"/"By", e-mail addresses and URLs."""
    result: dict[str, None] = {}
    for name in names:
        cleaned = clean_text(name)
        if not cleaned or "@" in cleaned or cleaned.startswith(("http://", "https://")):
            continue
        for part in _AUTHOR_SPLIT.split(AUTHOR_PREFIX.sub("", cleaned)):
            author = _AUTHOR_SHORTHAND.sub("", AUTHOR_PREFIX.sub("", part)).strip(" .,;:")
            if author:
                result.setdefault(author, None)
    return tuple(result)


# --- language -------------------------------------------------------------------------------


def language(page: Page) -> str | None:
    tree = page.tree
    candidates = (
        first_str(page.ld.get("inLanguage")),
        *(page.meta.get(key) for key in _LANGUAGE_META),
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        tree.get("xml:lang"),
        # The WebPage or WebSite node often carries the language when the article does not.
        *(first_str(node.get("inLanguage")) for node in page.ld_nodes),
    )
    for value in candidates:
        if value and (match := _LANG.match(value.strip())):
            return match.group(1).lower()
    return None
