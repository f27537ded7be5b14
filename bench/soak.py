"""Soak test (not part of CI): the real daemon against local servers with hundreds of sources,
its memory sampled over time.

    .venv/bin/python bench/soak.py --minutes 60 --sources 300

Every source is a feed on one of a few local sites; new articles appear all the time (the
project's own fixture pages, reworded so each is a new story), some feeds break now and then,
and every alert goes to a local webhook. Prints the daemon's resident memory every sample
and, at the end, the trend over the second half of the run (MiB per hour): flat is the goal.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import NewsSite, Page, Receiver, fixture_pages  # noqa: E402

WORDS = [
    "Regierung",
    "Parlament",
    "Haushalt",
    "Streik",
    "Hafen",
    "Wetter",
    "Energie",
    "Bahn",
    "Schule",
    "Gericht",
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def new_page(rng: random.Random, n: int, templates: list[Page]) -> Page:
    base = rng.choice(templates)
    words = rng.sample(WORDS, 4)
    marker = f"Meldung {n}: {' '.join(words)}"
    body = base.body.replace(
        b"<article>", f"<article><p>{marker}. {' '.join(rng.sample(WORDS * 20, 150))}</p>".encode()
    )
    return Page(
        f"/soak/{n}-{'-'.join(w.lower() for w in words)}.html", body, marker, datetime.now(UTC)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--sources", type=int, default=300, help="how many sources (default 300)")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    rng = random.Random(1)
    sites = [NewsSite() for _ in range(4)]
    templates = list(fixture_pages())
    receiver = Receiver()
    feeds: dict[int, list[str]] = {}
    for n in range(args.sources):
        site = sites[n % len(sites)]
        feeds[n] = []
        site.extra[f"/feed-{n}.xml"] = b""
    counter = 0

    def publish() -> None:
        nonlocal counter
        for n in rng.sample(range(args.sources), max(1, args.sources // 20)):
            counter += 1
            site = sites[n % len(sites)]
            page = new_page(rng, counter, templates)
            site.add(page, listed=False)
            feeds[n] = [page.path, *feeds[n]][:20]
            items = "".join(
                f"<item><title>{site.pages[p].title}</title><link>{site.base}{p}</link></item>"
                for p in feeds[n]
            )
            site.extra[f"/feed-{n}.xml"] = (
                f'<?xml version="1.0"?><rss version="2.0"><channel><title>{n}</title>'
                f"{items}</channel></rss>"
            ).encode()
        broken = rng.randrange(args.sources)  # a feed that answers garbage for a while
        sites[broken % len(sites)].extra[f"/feed-{broken}.xml"] = b"<html>down</html>"

    publish()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": "sqlite:///soak.db",
                    "every": "30s",
                    "poll": {"min": "30s", "max": "2m"},
                    "crawl": {"delay": 0},
                    "http": False,
                    "sources": [
                        {"name": f"s{n}", "feed": f"{sites[n % len(sites)].base}/feed-{n}.xml"}
                        for n in range(args.sources)
                    ],
                    "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
                    "topics": [
                        {"name": w.lower(), "query": w, "notify": ["hook"]} for w in WORDS[:5]
                    ],
                }
            )
        )
        log = (Path(tmp) / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        print(f"{'minute':>8} {'RSS MiB':>9} {'articles':>9} {'alerts':>8}", flush=True)
        try:
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(args.sample)
                publish()
                minute = (time.monotonic() - started) / 60
                rss = rss_mib(daemon.pid)
                samples.append((minute, rss))
                print(f"{minute:8.1f} {rss:9.1f} {counter:9d} {len(receiver.posts):8d}", flush=True)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    second_half = [s for s in samples if s[0] >= args.minutes / 2]
    if len(second_half) >= 3:
        slope = statistics.linear_regression(
            [m for m, _ in second_half], [r for _, r in second_half]
        ).slope
        print(f"trend over the second half: {slope * 60:+.1f} MiB/hour")
        print(f"peak {max(r for _, r in samples):.1f} MiB, last {samples[-1][1]:.1f} MiB")
    for site in sites:
        site.close()
    receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
