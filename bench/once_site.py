"""Wall time and peak memory of `newshound once` over a local site holding every shared page.

    .venv/bin/python bench/once_site.py [--runs 3]

Each run starts from an empty database, so every page is fetched, extracted, stored and
matched. The baseline, measured in the same run on the same site, is the least a tool can
do with these pages: one process that fetches each page with urllib and runs plain
trafilatura.extract on it, one after the other. Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import SHARED_MISSING, SHARED_NEWS, NewsSite, shared_pages  # noqa: E402

BASELINE = """
import sys, urllib.request, trafilatura
for url in sys.argv[1:]:
    html = urllib.request.urlopen(url, timeout=30).read()
    trafilatura.extract(html, url=url, include_comments=False)
"""

TOPICS = [
    {"name": "kim-putin-waffen", "query": "Kim Putin Waffen*"},
    {"name": "putin-russland", "query": "Putin Russland*"},
    {"name": "nordkorea", "query": "Nordkorea*"},
]


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[2:4]} exited {child.returncode}")
    return time.monotonic() - started, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args()
    if not SHARED_NEWS.is_dir():
        print(SHARED_MISSING, file=sys.stderr)
        return 1
    site = NewsSite()
    urls = [site.add(page) for page, _ in shared_pages()]
    print(f"{len(urls)} pages on {site.base}, {args.runs} runs each", flush=True)
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            folder = Path(tmp) / f"run{run}"
            folder.mkdir()
            config = folder / "config.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "database": "sqlite:///bench.db",
                        "sources": [{"name": "shared", "feed": f"{site.base}/feed.xml"}],
                        "topics": TOPICS,
                        "limits": {"articles_per_poll": 1000},
                        "crawl": {"delay": 0},  # a local site needs no politeness delay
                    }
                )
            )
            ours.append(measure([sys.executable, "-m", "crawler", "--config", str(config), "once"]))
            base.append(measure([sys.executable, "-c", BASELINE, *urls]))
            print(
                f"  run {run + 1}: newshound once {ours[-1][0]:.2f}s {ours[-1][1]:.0f} MiB; "
                f"baseline {base[-1][0]:.2f}s {base[-1][1]:.0f} MiB",
                flush=True,
            )
    site.close()
    wall, rss = (statistics.median(x) for x in zip(*ours, strict=True))
    base_wall, base_rss = (statistics.median(x) for x in zip(*base, strict=True))
    print(f"{'':22}{'wall s':>10}{'peak MiB':>10}")
    print(f"{'newshound once':22}{wall:10.2f}{rss:10.0f}")
    print(f"{'baseline (trafilatura)':22}{base_wall:10.2f}{base_rss:10.0f}")
    print(f"{'ratio':22}{wall / base_wall:10.2f}{rss / base_rss:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
