"""Owns the per-site corrections to generic extraction: one small module per rule, each
registered by host and pinned by a shared page with its expected result
(tests/fixtures/sites/<rule>.json).

A rule module has `HOSTS` (the hosts it serves; subdomains included) and
`fix(page, article) -> article`, which gets the parsed page and the generic result and
returns the result with the fields it corrects replaced. Add a rule only where generic
extraction is measurably wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from crawler.sites import boersen_zeitung, og_title, srf, taz, winfuture

if TYPE_CHECKING:
    from crawler.extract import Extracted
    from crawler.metadata import Page

    Rule = Callable[[Page, Extracted], Extracted]

RULE_MODULES: tuple[ModuleType, ...] = (boersen_zeitung, og_title, srf, taz, winfuture)
RULES: dict[str, Rule] = {host: module.fix for module in RULE_MODULES for host in module.HOSTS}


def rule_for(url: str) -> Rule | None:
    """The rule for the URL's host or its nearest registered parent domain, if any."""
    host = (urlsplit(url).hostname or "").lower()
    while "." in host:
        if (rule := RULES.get(host)) is not None:
            return rule
        host = host.partition(".")[2]
    return None


def rule_name(module: ModuleType) -> str:
    return module.__name__.rpartition(".")[2]
