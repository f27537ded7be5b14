"""SRF: the headline without its kicker.

SRF has no JSON-LD article; og:title and <h1> both carry a kicker ("Iranischer Angriff auf
Israel: «...»", "Eskalation im Nahen Osten - «...»"). The <h1> marks the headline itself
as `.article-title__text`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.metadata import clean_text

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

HOSTS = ("srf.ch",)


def fix(page: Page, article: Extracted) -> Extracted:
    heading = page.tree.find(".//h1//span[@class='article-title__text']")
    title = clean_text(heading.text_content()) if heading is not None else None
    return replace(article, title=title) if title else article
