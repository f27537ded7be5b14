"""Title from og:title for publishers whose JSON-LD headline is an SEO variant.

These publishers write one headline for search engines into JSON-LD (often with a kicker:
"Neue Leipziger Schule: Judy Lybke, ...") and the article's own headline into og:title. On
every shared page of each of them og:title is the headline; the JSON-LD one missed on 22.
One module for all of them: the correction is the same, only the host list grows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.metadata import clean_text, strip_site_suffix

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

HOSTS = (
    *("20min.ch", "tagesanzeiger.ch"),
    *("businessinsider.de", "faz.net", "kicker.de", "n-tv.de", "rp-online.de", "spiegel.de"),
    *("stern.de", "stuttgarter-zeitung.de", "zdfheute.de"),
    *("dailymail.co.uk", "express.co.uk", "standard.co.uk", "telegraph.co.uk"),
    *("businessinsider.com", "latimes.com", "techcrunch.com"),
)


def fix(page: Page, article: Extracted) -> Extracted:
    title = strip_site_suffix(clean_text(page.meta.get("og:title")), page.sites)
    return replace(article, title=title) if title else article
