"""Börsen-Zeitung: paywalled when the page carries the "BZ+" paywall box.

The site declares access neither in JSON-LD nor in <meta>; a BZ+ article has a
`paywall-content` section ("Jetzt weiterlesen mit BZ+"), a free one has none.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

HOSTS = ("boersen-zeitung.de",)

_PAYWALL = "//*[contains(concat(' ', normalize-space(@class), ' '), ' paywall-content ')]"


def fix(page: Page, article: Extracted) -> Extracted:
    return replace(article, paywalled=article.paywalled or bool(page.tree.xpath(_PAYWALL)))
