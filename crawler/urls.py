"""Canonical article URLs: one spelling per article, so the same page is stored and alerted once."""

from __future__ import annotations

import re

from w3lib.url import canonicalize_url, url_query_cleaner

# Parameters that say where a reader came from, never which article they read.
TRACKING_PARAMETERS = (
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "ref",
    "ref_src",
    "cmpid",
    "ito",
    "wt_mc",
    "wt_zmc",
    "ns_source",
    "ns_mchannel",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "at_medium",
    "at_campaign",
    "at_custom1",
    "at_custom2",
    "at_custom3",
    "at_custom4",
    "xtor",
    "icid",
)
_TRACKING_PREFIXES = re.compile(r"^(utm_|at_|ns_|pk_|mtm_|wt_)", re.IGNORECASE)


def canonical_url(url: str) -> str:
    """Return the canonical form of an article URL.

    Sorted query, tracking parameters and the fragment removed, host lower-cased and
    percent-escapes normalised (w3lib), so feed links that differ only in those
    details name one article.
    """
    url = url.strip()
    query_start = url.find("?")
    if query_start != -1:
        tracked = {
            name
            for name, _, _ in (
                pair.partition("=") for pair in url[query_start + 1 :].split("#")[0].split("&")
            )
            if _TRACKING_PREFIXES.match(name) or name.lower() in TRACKING_PARAMETERS
        }
        if tracked:
            url = url_query_cleaner(url, sorted(tracked), remove=True, keep_fragments=True)
    return canonicalize_url(url, keep_fragments=False)
