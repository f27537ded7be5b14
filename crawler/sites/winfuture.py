"""WinFuture: the article is `#news_content`, with the teaser as its lead paragraph.

The article's paragraphs are bare text between <br> tags, so generic extraction misses the
teaser (a <div>) and runs on into the sidebar ("Neue Vodafone-Bilder", "Beiträge aus dem
Forum", shop links). Keep the generic paragraphs found inside `#news_content`, lead with
the teaser.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.metadata import clean_text

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

HOSTS = ("winfuture.de",)


def fix(page: Page, article: Extracted) -> Extracted:
    content = page.tree.find(".//div[@id='news_content']")
    inside = clean_text(content.text_content()) if content is not None else None
    if content is None or not inside:
        return article
    # trafilatura writes list items as "- item".
    paragraphs = [p for p in article.text.split("\n\n") if p.removeprefix("- ") in inside]
    teaser = content.find(".//div[@class='teaser_text']")
    lead = clean_text(teaser.text_content()) if teaser is not None else None
    if lead and lead not in paragraphs:
        paragraphs.insert(0, lead)
    return replace(article, text="\n\n".join(paragraphs))
