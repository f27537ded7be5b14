"""The listing-page spider: a section or home page in, requests for the articles it links out.

Article links are found by `links: <CSS selector>` when the source gives one, else by shape:
same site, outside navigation, header and footer, and an article-like URL (a slug of several
words, a long numeric id, or a .html page below a section), never tag, author or service pages.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.linkextractors import LinkExtractor

from crawler.spiders.base import Candidate, SourceSpider
from crawler.urls import canonical_url

# Path segments of pages that list or serve, not report.
NOT_ARTICLES = (
    r"/(tags?|thema|themen|schlagworte?|stichworte?|autor(en|in)?|authors?|kategorien?|"
    r"category|categories|ressorts?|topics?|search|suche|login|logout|register|abo|"
    r"abonnement|subscribe|newsletter|impressum|imprint|datenschutz|privacy|kontakt|contact|"
    r"about|ueber-uns|hilfe|help|faq|agb|terms|cookies?|page|seite|archiv|archive|rss|feeds?|"
    r"podcasts?|videos?|bilder|fotos|galerie|gallery|wetter|weather|shop|jobs|spiele|games)"
    r"(/|$)"
)
_SLUG = re.compile(r"[a-z0-9äöüß]+(?:-[a-z0-9äöüß]+){3,}", re.IGNORECASE)
_NUMERIC_ID = re.compile(r"\d{5,}")
_OUTSIDE_CHROME = (
    "//a[not(ancestor::nav or ancestor::header or ancestor::footer or ancestor::aside"
    " or ancestor::*[@role='navigation'])]"
)


def looks_like_article(url: str) -> bool:
    """True for URLs shaped like an article rather than a section, tag or service page."""
    path = urlsplit(url).path
    segments = [s for s in path.split("/") if s]
    if not segments:
        return False
    last = segments[-1]
    if _SLUG.search(last) or _NUMERIC_ID.search(path):
        return True
    return len(segments) >= 2 and last.endswith((".html", ".htm", ".shtml"))


def article_links(response: HtmlResponse, selector: str | None = None) -> list[str]:
    """Canonical URLs of the articles a listing page links, in page order."""
    # The whole site, subdomains included (www. dropped); the port stays, as Scrapy's
    # domain match compares it too.
    site = urlsplit(response.url).netloc.lower().removeprefix("www.")
    if selector:
        extractor = LinkExtractor(allow_domains=[site], restrict_css=[selector], unique=True)
        links = extractor.extract_links(response)
        return list(dict.fromkeys(canonical_url(link.url) for link in links))
    extractor = LinkExtractor(
        allow_domains=[site],
        deny=[NOT_ARTICLES],
        restrict_xpaths=[_OUTSIDE_CHROME],
        unique=True,
    )
    page = canonical_url(response.url)
    found = (canonical_url(link.url) for link in extractor.extract_links(response))
    return list(dict.fromkeys(u for u in found if u != page and looks_like_article(u)))


class PageSpider(SourceSpider):
    name = "page"

    async def start(self) -> AsyncIterator[Any]:
        yield self.index_request(self.source.url, self.parse_listing)

    def parse_listing(self, response: Response) -> Iterable[Request]:
        body = self.index_body(response, "page")
        if body is None:
            return
        if not isinstance(response, HtmlResponse):
            self.fail(f"page {response.url}: not an HTML page")
            return
        links = article_links(response, self.source.links)
        if not links:
            self.fail(f"page {response.url}: no article links found")
            return
        yield from self.article_requests(Candidate(url) for url in links)
