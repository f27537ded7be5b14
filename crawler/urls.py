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


_EDITION_HOSTS = re.compile(r"^(?:www\d?|m|mobile|amp)\.", re.IGNORECASE)
_AMP_PARAMETERS = ("amp", "outputtype", "amp_js_v", "usqp")
_AMP_SUFFIX = re.compile(r"(?:/amp/?|\.amp|/amp\.html?)$", re.IGNORECASE)
_AMP_BEFORE_EXTENSION = re.compile(r"\.amp(\.html?)$", re.IGNORECASE)


def identity_url(url: str) -> str:
    """The key an article is known by: its canonical URL with what names the same page
    another way folded away.

    http and https, www./m./amp. hosts, AMP paths (/amp, .amp.html) and AMP parameters,
    and a trailing slash all lead to one key. For comparing only: the canonical URL, not
    this key, is what is fetched and shown.
    """
    canonical = canonical_url(url)
    _, _, rest = canonical.partition("://")
    host, slash, path = rest.partition("/")
    host = _EDITION_HOSTS.sub("", host.lower())
    path, _, query = (slash + path).partition("?")
    if query:
        kept = [
            pair
            for pair in query.split("&")
            if pair.partition("=")[0].lower() not in _AMP_PARAMETERS
        ]
        query = "&".join(kept)
    if path.lower().startswith("/amp/"):
        path = path[4:]
    path = _AMP_BEFORE_EXTENSION.sub(r"\1", path)
    path = _AMP_SUFFIX.sub("", path) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return f"https://{host}{path}" + (f"?{query}" if query else "")
