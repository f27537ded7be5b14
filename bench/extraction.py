"""Extraction quality and speed on the shared pages: newshound against plain trafilatura.

    .venv/bin/python bench/extraction.py [--runs 3]

Every page in ../shared/data/news goes through the pipeline's extraction,
`crawler.extract.extract_article(decode_html(html), url)`, and, in the same run, through plain
trafilatura: `extract(include_comments=False)` for the body and
`bare_extraction(with_metadata=True)` for title, author and date. Both are scored against the
pages' ground truth, for the German pages and for all pages:

- title: exact after collapsing whitespace and dropping invisible characters;
- date: the same instant (a truth without a zone matches the same wall-clock time or the
  same instant read as UTC), or the same calendar day in the truth's zone;
- authors: the same set of names; language: the same ISO 639-1 code;
- body: precision, recall and F1 as the article-extraction-benchmark computes them (\\w+
  tokens; per page, true/false positives and negatives normalised to sum 1; precision and
  recall averaged over pages, F1 from the averages), on a token bag and on the benchmark's
  own 4-gram shingles;
- ms per page: the time of each call summed over the pages and divided by their number,
  median of --runs runs. "Every field" is one call each: extract_article for newshound,
  bare_extraction for trafilatura; "body only" is trafilatura's extract(). Pages alternate
  between the tools, so both run on the same machine state.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crawler.extract import NotAnArticle, decode_html, extract_article  # noqa: E402

NEWS = REPO.parent / "shared" / "data" / "news"
MISSING = f"{NEWS}: not found; this benchmark reads the shared news pages beside the project"
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_TOKEN = re.compile(r"\w+")  # the article-extraction-benchmark's tokenizer


@dataclass(frozen=True)
class Result:
    """What one tool found on one page, in the form the scores compare."""

    title: str | None
    published: datetime | date | None
    authors: tuple[str, ...]
    language: str | None
    text: str


def newshound(html: bytes, url: str) -> Result:
    try:
        got = extract_article(decode_html(html), url)
    except NotAnArticle:
        return Result(None, None, (), None, "")
    return Result(got.title, got.published, got.authors, got.language, got.text)


def trafilatura_metadata(html: bytes, url: str) -> Any:
    return trafilatura.bare_extraction(html, url=url, with_metadata=True)


def trafilatura_body(html: bytes, url: str) -> str:
    return trafilatura.extract(html, url=url, include_comments=False) or ""


def trafilatura_result(metadata: Any, body: str) -> Result:
    authors = (a.strip() for a in (getattr(metadata, "author", None) or "").split(";"))
    return Result(
        title=getattr(metadata, "title", None),
        published=_trafilatura_date(getattr(metadata, "date", None)),
        authors=tuple(a for a in authors if a),
        language=getattr(metadata, "language", None),
        text=body,
    )


def _trafilatura_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None  # trafilatura gives no time of day
    except ValueError:
        return None


# --- scores ---------------------------------------------------------------------------------


def _norm(text: str | None) -> str:
    return " ".join((text or "").translate(_INVISIBLE).split())


def same_title(got: Result, truth: dict[str, Any]) -> bool:
    return bool(got.title) and _norm(got.title) == _norm(truth["title"])


def same_instant(got: Result, truth: dict[str, Any]) -> bool:
    want = datetime.fromisoformat(truth["date"])
    if not isinstance(got.published, datetime):
        return False
    if want.tzinfo is not None:
        return got.published == want
    if want.time() == datetime.min.time():  # a date-only truth: the day is all there is
        return got.published.date() == want.date()
    wall = got.published.replace(tzinfo=None)
    if want.microsecond == 0:
        wall = wall.replace(microsecond=0)
    return got.published == want.replace(tzinfo=UTC) or wall == want


def same_day(got: Result, truth: dict[str, Any]) -> bool:
    want = datetime.fromisoformat(truth["date"])
    if isinstance(got.published, datetime):
        local = got.published
        if want.tzinfo is not None and local.tzinfo is not None:
            local = local.astimezone(want.tzinfo)
        return local.date() == want.date()
    return got.published == want.date()


def same_authors(got: Result, truth: dict[str, Any]) -> bool:
    return {_norm(a) for a in got.authors} == {_norm(a) for a in truth["authors"]}


def same_language(got: Result, truth: dict[str, Any]) -> bool:
    return got.language == truth["language"]


def _shingles(text: str, n: int) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.translate(_INVISIBLE))
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def tp_fp_fn(predicted: str, truth: str, n: int) -> tuple[float, float, float]:
    """The benchmark's per-page counts over n-gram shingles, normalised to sum 1."""
    pred, true = _shingles(predicted, n), _shingles(truth, n)
    pred.pop((), None)
    true.pop((), None)
    tp = sum((pred & true).values())
    fp, fn = sum((pred - true).values()), sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def precision_recall_f1(counts: Iterable[tuple[float, float, float]]) -> tuple[float, ...]:
    counts = list(counts)
    precision = statistics.mean(_score(tp, fp, fn) for tp, fp, fn in counts if tp + fp > 0)
    recall = statistics.mean(_score(tp, fn, fp) for tp, fp, fn in counts if tp + fn > 0)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _score(tp: float, wrong: float, other: float) -> float:
    if wrong == other == 0:
        return 1.0
    return tp / (tp + wrong) if tp + wrong else 0.0


# --- the run ------------------------------------------------------------------------------

Page = tuple[dict[str, Any], bytes]
Check = Callable[[Result, dict[str, Any]], bool]
COUNTED: list[tuple[str, str, Check]] = [
    ("title, exact", "title", same_title),
    ("date, same instant", "date", same_instant),
    ("date, same day", "date", same_day),
    ("authors, same set", "authors", same_authors),
    ("language", "language", same_language),
]
BODY: list[tuple[str, int, int]] = [  # label, shingle size, position in (P, R, F1)
    ("body precision (token bag)", 1, 0),
    ("body recall (token bag)", 1, 1),
    ("body F1 (token bag)", 1, 2),
    ("body F1 (4-gram shingles)", 4, 2),
]
TOOLS = ("newshound", "trafilatura")


@dataclass
class Run:
    """Per page: each tool's result and the seconds each call took."""

    results: dict[str, list[Result]]
    seconds: dict[str, list[float]]


def load_pages() -> list[Page]:
    pages = []
    for path in sorted((NEWS / "articles").glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        pages.append((truth, gzip.decompress((NEWS / truth["html_file"]).read_bytes())))
    return pages


def run_once(pages: list[Page]) -> Run:
    """Each page through both tools in turn, so both see the same machine state."""
    run = Run({tool: [] for tool in TOOLS}, {"newshound": [], "bare": [], "extract": []})
    for truth, html in pages:
        url = truth["url"]
        started = time.perf_counter()
        run.results["newshound"].append(newshound(html, url))
        ours_done = time.perf_counter()
        metadata = trafilatura_metadata(html, url)
        metadata_done = time.perf_counter()
        body = trafilatura_body(html, url)
        body_done = time.perf_counter()
        run.results["trafilatura"].append(trafilatura_result(metadata, body))
        run.seconds["newshound"].append(ours_done - started)
        run.seconds["bare"].append(metadata_done - ours_done)
        run.seconds["extract"].append(body_done - metadata_done)
    return run


def counted_cell(
    results: list[Result], pages: list[Page], subset: list[int], field: str, check: Check
) -> str:
    # For authors, [] is a truth too (the page names no author); None means unknown.
    scored = [i for i in subset if pages[i][0].get(field) not in (None, "")]
    if field == "authors":
        scored = [i for i in subset if pages[i][0].get("authors") is not None]
    if not scored:
        return "-"
    hits = sum(check(results[i], pages[i][0]) for i in scored)
    return f"{hits}/{len(scored)} {hits / len(scored):4.0%}"


def body_cell(
    results: list[Result], pages: list[Page], subset: list[int], n: int, position: int
) -> str:
    counts = (tp_fp_fn(results[i].text, pages[i][0]["body"], n) for i in subset)
    return f"{precision_recall_f1(counts)[position]:.3f}"


def ms_cell(runs: list[Run], call: str | None, subset: list[int]) -> str:
    if call is None:
        return "-"
    per_run = [sum(run.seconds[call][i] for i in subset) / len(subset) for run in runs]
    return f"{statistics.median(per_run) * 1000:.1f}"


def table(pages: list[Page], runs: list[Run], subsets: dict[str, list[int]]) -> list[list[str]]:
    results = runs[0].results
    lines = [["", *(tool for _ in subsets for tool in TOOLS)]]
    for label, field, check in COUNTED:
        cells = [
            counted_cell(results[t], pages, s, field, check)
            for s in subsets.values()
            for t in TOOLS
        ]
        lines.append([label, *cells])
    for label, n, position in BODY:
        cells = [
            body_cell(results[t], pages, s, n, position) for s in subsets.values() for t in TOOLS
        ]
        lines.append([label, *cells])
    for label, calls in (
        ("ms per page, every field", ("newshound", "bare")),
        ("ms per page, body only", (None, "extract")),
    ):
        lines.append([label, *(ms_cell(runs, call, s) for s in subsets.values() for call in calls)])
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default 3); median shown")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not (NEWS / "articles").is_dir():
        print(MISSING, file=sys.stderr)
        return 1
    for name in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    pages = load_pages()
    subsets = {
        "German": [i for i, (truth, _) in enumerate(pages) if truth["language"] == "de"],
        "all": list(range(len(pages))),
    }
    runs_label = f"{args.runs} timed run{'s' if args.runs > 1 else ''}"
    print(f"{len(pages)} pages, {runs_label}; trafilatura {trafilatura.__version__}", flush=True)
    run_once(pages[:3])  # warm-up: imports, caches
    runs = []
    for number in range(args.runs):
        runs.append(run_once(pages))
        print(f"  run {number + 1} done", flush=True)
    print()
    groups = (f"{name} pages ({len(subset)})" for name, subset in subsets.items())
    print(" " * 28 + "".join(group.rjust(14 * len(TOOLS)) for group in groups))
    for line in table(pages, runs, subsets):
        print(line[0].ljust(28) + "".join(cell.rjust(14) for cell in line[1:]))
    print()
    print("trafilatura: dates carry no time of day; language needs an installed identifier.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
