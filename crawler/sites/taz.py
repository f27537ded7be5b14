"""taz: without the donation appeal under the article, and with its drop cap joined.

The appeal ("Links lesen, Rechts bekämpfen ...") sits in `.tzi-bottom-container` after the
article and reads like prose to generic extraction. The first letter of the first paragraph
is a separate `.initial-letter` box, extracted as "N a endlich!" instead of "Na endlich!".
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.metadata import clean_text

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

HOSTS = ("taz.de",)

_APPEAL = ".//div[contains(concat(' ', normalize-space(@class), ' '), ' tzi-bottom-container ')]"
_INITIAL = ".//span[contains(concat(' ', normalize-space(@class), ' '), ' initial-letter ')]"


def fix(page: Page, article: Extracted) -> Extracted:
    boxes = page.tree.xpath(_APPEAL)
    appeal = {clean_text(p.text_content()) for box in boxes for p in box.iter("p")}
    paragraphs = [p for p in article.text.split("\n\n") if p not in appeal]
    initials = page.tree.xpath(_INITIAL)
    letter = clean_text(initials[0].text_content()) if initials else None
    for index, paragraph in enumerate(paragraphs):
        rest = paragraph.removeprefix(f"{letter} ") if letter else paragraph
        if rest != paragraph and rest[:1].islower():  # "N a endlich!", not "A dpa"
            paragraphs[index] = f"{letter}{rest}"
            break
    return replace(article, text="\n\n".join(paragraphs))
