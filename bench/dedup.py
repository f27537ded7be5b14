"""Near-duplicate detection on the shared articles: precision, recall, cost and size of
crawler.neardup against alternative methods and parameters.

    .venv/bin/python bench/dedup.py [--runs 5] [--seed 7]

The labelled set: every body in ../shared/data/news/articles plus, per body, seven edited
copies (a rewritten headline line; one to three sentences from another article added at the
start, middle or end; one to three sentences removed; agency credit lines; newsletter and
"read also" boilerplate; typography: quotes, dashes, soft hyphens, spacing; and all of these
at once, as another outlet's copy of a wire story would look). A copy is the same story as its
original and as the other copies; the taz recrawl pair (pairs.json) is one story; everything
else is a different story, including the four same-event-different-outlet pairs and articles
that got the same boilerplate paragraph.

Every text is indexed by its band keys as the store will (a dict stands in for the
article_bands table); a pair is judged only if it shares a band key, so LSH misses count
against recall. Precision and recall are over pairs of texts. ms/article is signature plus
band keys, total time over the originals divided by their number, median over --runs runs
(methods interleaved). Then: neardup at other thresholds; short texts (the first N words of
each article), which is what MIN_WORDS rests on; the storage estimate per article.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHash

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crawler import neardup  # noqa: E402

NEWS = REPO.parent / "shared" / "data" / "news"
MISSING = f"{NEWS}: not found; this benchmark reads the shared news pages beside the project"

# --- the labelled set ------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")

TEASERS = {
    "de": [
        "Der Newsletter für Frühaufsteher: Jeden Morgen die wichtigsten Nachrichten des Tages "
        "direkt in Ihr Postfach. Jetzt kostenlos abonnieren!",
        "Sie wollen keine Nachricht mehr verpassen? Folgen Sie uns auf WhatsApp und erhalten Sie "
        "die wichtigsten Meldungen des Tages direkt aufs Handy.",
        "Dieser Text ist Teil unseres Angebots für Abonnentinnen und Abonnenten. Testen Sie jetzt "
        "vier Wochen lang alle Artikel für nur einen Euro.",
    ],
    "en": [
        "Sign up for our morning briefing newsletter and get the top stories of the day "
        "delivered to your inbox every weekday morning.",
        "Want more news like this? Follow us on WhatsApp and get the most important headlines "
        "of the day sent straight to your phone.",
        "This story is part of our subscriber offer. Try four weeks of unlimited access to every "
        "article for just one dollar.",
    ],
}
READ_ALSO = {"de": ["Lesen Sie auch", "Mehr zum Thema"], "en": ["Read more", "Related"]}
CREDITS = {
    "de": [
        "(dpa)",
        "Mit Material von AFP",
        "© dpa-infocom, dpa:240428-99-123456/3",
        "Foto: Kay Nietfeld/dpa",
        "dpa/AFP",
    ],
    "en": [
        "(Reuters)",
        "© Reuters",
        "Additional reporting by Jane Doe; Editing by John Smith",
        "Photo: AP",
        "Copyright 2024 The Associated Press. All rights reserved.",
    ],
}
DATELINE = {"de": "Berlin (dpa) - ", "en": "WASHINGTON (Reuters) - "}


@dataclass
class Text:
    story: int
    article: str
    kind: str  # "original" or the edit that made it
    body: str


def _paragraphs(body: str) -> list[list[str]]:
    return [_SENTENCE_END.split(p) for p in body.split("\n\n") if p.strip()]


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _flat(paragraphs: list[list[str]]) -> list[tuple[int, int]]:
    return [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))]


def _where(rng: random.Random, n: int) -> int:
    return rng.choice([0, n // 2, n])


def add_sentences(rng: random.Random, body: str, donor: str) -> str:
    paragraphs = _paragraphs(body)
    # Sentences of an ordinary length: a 60-word run-on would be a new paragraph, not an edit.
    donated = [s for p in _paragraphs(donor) for s in p if 8 <= len(s.split()) <= 35]
    extra = rng.sample(donated, rng.randint(1, 3))
    at = _where(rng, len(paragraphs))
    paragraphs.insert(at, extra)
    return _join(paragraphs)


def remove_sentences(rng: random.Random, body: str) -> str:
    paragraphs = _paragraphs(body)
    spots = _flat(paragraphs)
    count = rng.randint(1, 3)
    start = min(_where(rng, len(spots)), len(spots) - count)
    for i, j in reversed(spots[start : start + count]):
        del paragraphs[i][j]
    return _join(paragraphs)


def headline(rng: random.Random, body: str) -> str:
    words = re.findall(r"\w+", body)
    line = " ".join(rng.sample(words, min(len(words), rng.randint(6, 11))))
    return f"{line[:1].upper()}{line[1:]}\n\n{body}"


def credit(rng: random.Random, body: str, lang: str) -> str:
    lines = rng.sample(CREDITS[lang], 2)
    if rng.random() < 0.5 and not neardup._DATELINE.match(body):
        body = DATELINE[lang] + body
    return f"{body}\n\n" + "\n".join(lines)


def boilerplate(rng: random.Random, body: str, lang: str, titles: list[str]) -> str:
    paragraphs = body.split("\n\n")
    paragraphs.insert(len(paragraphs) // 2, f"{rng.choice(READ_ALSO[lang])}: {rng.choice(titles)}")
    paragraphs.insert(rng.choice([1, len(paragraphs)]), rng.choice(TEASERS[lang]))
    return "\n\n".join(paragraphs)


def typography(rng: random.Random, body: str) -> str:
    swaps = [("„", '"'), ("“", '"'), ("”", '"'), ("\u2019", "'"), ("\u2013", "-"), ("—", "--")]
    swaps.append(('"', "“"))
    for old, new in rng.sample(swaps, 4):
        body = body.replace(old, new)
    body = re.sub(r"(\w{6})(\w{5,})", lambda m: m[1] + "\u00ad" + m[2], body, count=20)
    body = re.sub(r"(\d) ", "\\1\u00a0", body)
    return body.replace("\n\n", "\n \n").replace(". ", ".  ")


def labelled_set(rng: random.Random) -> tuple[list[Text], list[dict[str, Any]]]:
    pages = [json.loads(p.read_text("utf-8")) for p in sorted((NEWS / "articles").glob("*.json"))]
    pages = [p for p in pages if p.get("body")]
    pairs = json.loads((NEWS / "pairs.json").read_text("utf-8"))
    story = {p["id"]: n for n, p in enumerate(pages)}
    for pair in pairs:
        if pair["relation"] == "same_article_recrawled":
            story[pair["b"]] = story[pair["a"]]
    lang = {p["id"]: "de" if p["language"] == "de" else "en" for p in pages}
    titles = {
        language: [
            p.get("title") or p["body"].split(".")[0][:90]
            for p in pages
            if lang[p["id"]] == language
        ]
        for language in ("de", "en")
    }
    texts: list[Text] = []
    for page in pages:
        pid, body, language = page["id"], page["body"], lang[page["id"]]
        donor = rng.choice(
            [p["body"] for p in pages if p["id"] != pid and lang[p["id"]] == language]
        )
        edits = {
            "headline": headline(rng, body),
            "added": add_sentences(rng, body, donor),
            "removed": remove_sentences(rng, body),
            "credit": credit(rng, body, language),
            "boilerplate": boilerplate(rng, body, language, titles[language]),
            "typography": typography(rng, body),
        }
        combined = headline(rng, remove_sentences(rng, add_sentences(rng, body, donor)))
        edits["combined"] = typography(
            rng, boilerplate(rng, credit(rng, combined, language), language, titles[language])
        )
        texts.append(Text(story[pid], pid, "original", body))
        texts.extend(Text(story[pid], pid, kind, edited) for kind, edited in edits.items())
    return texts, pairs


# --- methods ---------------------------------------------------------------------------------


@dataclass
class Method:
    name: str
    sign: Callable[[str], Any]
    keys: Callable[[Any], list[tuple[int, int]]]
    score: Callable[[Any, Any], float]
    same: Callable[[Any, Any], bool]
    size: int  # bytes per stored signature
    bands: int
    found_at_threshold: float  # chance that a pair right at the threshold shares a band key


def chosen() -> Method:
    n = neardup
    return Method(
        f"neardup: MinHash {n.NUM_PERM}, {n.SHINGLE_WORDS}-word shingles, {n.BANDS}x{n.ROWS} "
        f"bands, J >= {n.SAME_STORY}",
        n.signature, n.band_keys, n.similarity, n.same_story,
        len(n.signature("x").to_bytes()), n.BANDS, _s_curve(n.SAME_STORY, n.BANDS, n.ROWS),
    )  # fmt: skip


def _s_curve(similarity: float, bands: int, rows: int) -> float:
    return 1 - (1 - similarity**rows) ** bands


def minhash(
    words: int, perms: int, bands: int, rows: int, threshold: float,
    normalise: Callable[[str], str] = neardup.normalise, note: str = "",
) -> Method:  # fmt: skip
    permutations = MinHash(num_perm=perms, seed=1, scheme="affine32").permutations

    def sign(text: str) -> np.ndarray:
        return neardup.minhash_values(neardup.shingles(normalise(text), words), permutations)

    def keys(values: np.ndarray) -> list[tuple[int, int]]:
        return [(b, neardup.band_key(values, b, rows)) for b in range(bands)]

    def score(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(a == b))

    return Method(
        f"MinHash {perms}, {words}-word shingles, {bands}x{rows} bands, J >= {threshold}{note}",
        sign, keys, score, lambda a, b: score(a, b) >= threshold, 4 * perms, bands,
        _s_curve(threshold, bands, rows),
    )  # fmt: skip


def simhash(words: int, max_distance: int) -> Method:
    """Charikar's SimHash, 64 bits over word shingles; max_distance + 1 bands of the bits,
    so every pair within max_distance shares a band (pigeonhole)."""
    bits = np.uint64(1) << np.arange(64, dtype=np.uint64)
    bands = max_distance + 1
    edges = [round(64 * b / bands) for b in range(bands + 1)]

    def sign(text: str) -> int:
        found = neardup.shingles(neardup.normalise(text), words)
        if not found:
            return 0
        hashes = np.array(
            [int.from_bytes(hashlib.blake2b(s, digest_size=8).digest(), "little") for s in found],
            dtype=np.uint64,
        )
        votes = ((hashes[:, None] & bits) != 0).sum(axis=0)
        return int(sum(1 << i for i in range(64) if votes[i] * 2 > len(hashes)))

    def keys(value: int) -> list[tuple[int, int]]:
        return [(b, (value >> lo) & ((1 << (hi - lo)) - 1)) for b, (lo, hi) in
                enumerate(itertools.pairwise(edges))]  # fmt: skip

    def score(a: int, b: int) -> float:
        return 1 - (a ^ b).bit_count() / 64

    return Method(
        f"SimHash 64, {words}-word shingles, distance <= {max_distance}",
        sign, keys, score, lambda a, b: (a ^ b).bit_count() <= max_distance, 8, bands, 1.0,
    )  # fmt: skip


def _plain(text: str) -> str:
    """normalise() without dropping datelines, credit and "read also" lines."""
    text = neardup._INVISIBLE.sub("", neardup.unicodedata.normalize("NFKC", text))
    return " ".join(neardup._WORD.findall(text.casefold()))


def _ascii(text: str) -> str:
    """normalise() and diacritics stripped (ä -> a, é -> e)."""
    decomposed = neardup.unicodedata.normalize("NFKD", neardup.normalise(text))
    return "".join(c for c in decomposed if not neardup.unicodedata.combining(c))


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class Result:
    precision: float
    recall: float
    false_merges: dict[tuple[str, str], int]  # article pair -> merged text pairs
    false_candidates: float  # share of different-story pairs that share a band key
    worst_positive: float  # lowest score of a same-story pair
    best_negative: float  # highest score of a different-story pair
    missed: dict[str, int]  # edit -> copies not merged with their original
    pairs: list[tuple[str, float, bool]]  # pairs.json: relation, score, merged


def evaluate(method: Method, texts: list[Text], pairs: list[dict[str, Any]]) -> Result:
    sigs = [method.sign(t.body) for t in texts]
    index: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, sig in enumerate(sigs):
        for key in method.keys(sig):
            index[key].append(i)
    candidates = {(i, j) for ids in index.values() for i, j in itertools.combinations(ids, 2)}
    story_sizes: dict[int, int] = defaultdict(int)
    for t in texts:
        story_sizes[t.story] += 1
    positives = sum(n * (n - 1) // 2 for n in story_sizes.values())
    negatives = len(texts) * (len(texts) - 1) // 2 - positives
    tp = fp = false_candidates = 0
    false_merges: dict[tuple[str, str], int] = defaultdict(int)
    for i, j in candidates:
        same_story = texts[i].story == texts[j].story
        false_candidates += not same_story
        if method.same(sigs[i], sigs[j]):
            if same_story:
                tp += 1
            else:
                fp += 1
                a, b = sorted((texts[i].article, texts[j].article))
                false_merges[(a, b)] += 1
    worst_positive, best_negative = 1.0, 0.0
    for i, j in itertools.combinations(range(len(texts)), 2):
        score = method.score(sigs[i], sigs[j])
        if texts[i].story == texts[j].story:
            worst_positive = min(worst_positive, score)
        else:
            best_negative = max(best_negative, score)
    originals = {t.article: i for i, t in enumerate(texts) if t.kind == "original"}
    missed: dict[str, int] = defaultdict(int)
    for j, t in enumerate(texts):
        i = originals[t.article]
        if t.kind != "original" and ((i, j) not in candidates or not method.same(sigs[i], sigs[j])):
            missed[t.kind] += 1
    named = []
    for pair in pairs:
        x, y = sorted((originals[pair["a"]], originals[pair["b"]]))
        merged = (x, y) in candidates and method.same(sigs[x], sigs[y])
        named.append((pair["relation"], method.score(sigs[x], sigs[y]), merged))
    return Result(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / positives,
        false_merges=dict(false_merges),
        false_candidates=false_candidates / negatives,
        worst_positive=worst_positive,
        best_negative=best_negative,
        missed=dict(missed),
        pairs=named,
    )


def cost_ms(methods: list[Method], bodies: list[str], runs: int) -> list[float]:
    """ms per article for each method: runs interleaved, so all see the same machine state."""
    times: list[list[float]] = [[] for _ in methods]
    for _ in range(runs):
        for method, spent in zip(methods, times, strict=True):
            start = time.perf_counter()
            for body in bodies:
                method.keys(method.sign(body))
            spent.append((time.perf_counter() - start) / len(bodies) * 1000)
    return [statistics.median(spent) for spent in times]


def threshold_sweep(texts: list[Text]) -> None:
    """Precision and recall of neardup's signatures and band keys at other thresholds."""
    sigs = [neardup.signature(t.body) for t in texts]
    index: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, sig in enumerate(sigs):
        for key in neardup.band_keys(sig):
            index[key].append(i)
    candidates = {(i, j) for ids in index.values() for i, j in itertools.combinations(ids, 2)}
    scored = [
        (neardup.similarity(sigs[i], sigs[j]), texts[i].story == texts[j].story)
        for i, j in candidates
    ]
    stories = [t.story for t in texts]
    positives = sum(stories.count(s) * (stories.count(s) - 1) // 2 for s in set(stories))
    print(
        f"\nneardup at other thresholds (same signatures, band keys; chosen {neardup.SAME_STORY})"
    )
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        tp = sum(same for score, same in scored if score >= threshold)
        fp = sum(not same for score, same in scored if score >= threshold)
        print(
            f"  J >= {threshold:.1f}: precision {tp / max(1, tp + fp):.3f}, "
            f"recall {tp / positives:.3f}, false merges {fp}"
        )


def short_texts(texts: list[Text], rng: random.Random) -> None:
    """The first N words of each original. Without the MIN_WORDS rule: the highest Jaccard
    estimate between leads of different stories, and how many leads the Jaccard rule merges
    with a copy that has a headline line added or one sentence removed. With it (the exact
    rule): how many copies with only credit lines, dateline and typography changed still
    merge, with normalise() and with plain normalisation (case and punctuation only)."""
    originals = [t for t in texts if t.kind == "original"]
    print(
        f"\nshort texts: the first N words of each of the {len(originals)} originals; "
        f"'J rule' = estimated Jaccard >= {neardup.SAME_STORY}, 'exact' = the rule below "
        f"MIN_WORDS = {neardup.MIN_WORDS}"
    )
    print(
        f"{'words':>5} {'max J, different stories':>25}  {'J rule: headline':>16} "
        f"{'1 sentence less':>15}  {'exact: credit+typography':>24} {'plain':>5}"
    )
    for n in (10, 20, 30, 50, 80, 120):
        leads = [" ".join(t.body.split()[:n]) for t in originals]
        sigs = [neardup.signature(lead) for lead in leads]
        best, pair = 0.0, ""
        for (a, sa), (b, sb) in itertools.combinations(zip(originals, sigs, strict=True), 2):
            if a.story != b.story and (j := neardup.similarity(sa, sb)) > best:
                best, pair = j, f"{a.article} / {b.article}"
        titled = shortened = splittable = exact = plain = 0
        for lead, sig, t in zip(leads, sigs, originals, strict=True):
            language = "de" if t.article.startswith("fundus-de") else "en"
            titled += neardup.similarity(sig, neardup.signature(headline(rng, lead))) >= 0.5
            cut = _SENTENCE_END.split(lead)
            if len(cut) > 1:
                splittable += 1
                del cut[rng.randrange(len(cut))]
                shortened += neardup.similarity(sig, neardup.signature(" ".join(cut))) >= 0.5
            copy = typography(rng, credit(rng, lead, language))
            exact += neardup.signature(copy).digest == sig.digest
            plain += _plain(copy) == _plain(lead)
        print(
            f"{n:>5} {best:>6.2f} {pair:<18.18} {titled:>16} {f'{shortened}/{splittable}':>15}  "
            f"{exact:>24} {plain:>5}"
        )
    print(f"(counts of {len(originals)} leads, or of those with two sentences or more)")


def storage(sig_bytes: int) -> None:
    bands = neardup.BANDS
    # PostgreSQL: 24-byte tuple header + 4-byte line pointer + int4 band, int8 key, int8
    # article_id, timestamptz (32 bytes aligned); a B-tree entry on (band, key): 8 + 16 + 4.
    row, entry = 24 + 4 + 32, 8 + 16 + 4
    band_rows = bands * (row + entry)
    per_article = sig_bytes + 4 + band_rows  # bytea: 4-byte length header
    print(
        f"\nstored per article (PostgreSQL estimate): signature {sig_bytes} B + {bands} "
        f"article_bands rows x ({row} B heap + {entry} B index) = ~{per_article / 1024:.1f} KiB;"
        f"\n  at a million articles ~{per_article * 1e6 / 2**30:.1f} GiB on disk and nothing per "
        f"article in memory. Deleting band rows older than the window bounds that table by\n"
        f"  window x rate: 5,000 articles a day for 7 days = "
        f"{5000 * 7 * band_rows / 2**20:.0f} MiB; signatures alone: "
        f"{(sig_bytes + 4) * 1e6 / 2**20:.0f} MiB per million articles."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not NEWS.is_dir():
        sys.exit(MISSING)
    rng = random.Random(args.seed)
    texts, pairs = labelled_set(rng)
    originals = [t.body for t in texts if t.kind == "original"]
    print(
        f"{len(originals)} articles, {len(texts)} texts (7 edited copies each), seed "
        f"{args.seed}, ms/article = median of {args.runs} runs over the originals\n"
    )
    t = neardup.SAME_STORY
    methods = [
        chosen(),
        minhash(3, 128, 32, 4, t),
        minhash(3, 128, 16, 8, t),
        minhash(5, 128, 42, 3, t),
        minhash(1, 128, 42, 3, t),
        minhash(3, 64, 21, 3, t),
        minhash(3, 128, 42, 3, t, _plain, ", plain normalise"),
        minhash(3, 128, 42, 3, t, _ascii, ", no diacritics"),
        simhash(3, 3),
        simhash(3, 6),
    ]
    print(
        f"{'method':<62} {'prec':>5} {'recall':>6} {'FP':>4} {'ms/art':>6} {'bytes':>5} "
        f"{'bands':>5} {'P@t':>5} {'cand‰':>6} {'worst+':>6} {'best-':>5}"
    )
    results = []
    for method, ms in zip(methods, cost_ms(methods, originals, args.runs), strict=True):
        r = evaluate(method, texts, pairs)
        results.append((method, r))
        print(
            f"{method.name:<62} {r.precision:>5.3f} {r.recall:>6.3f} "
            f"{sum(r.false_merges.values()):>4} {ms:>6.2f} {method.size:>5} {method.bands:>5} "
            f"{method.found_at_threshold:>5.3f} {1000 * r.false_candidates:>6.2f} "
            f"{r.worst_positive:>6.2f} {r.best_negative:>5.2f}"
        )
    print(
        "\nprec/recall: over pairs of texts, a pair counts only if it shares a band key (LSH "
        "misses lower recall)\nP@t: chance that a pair right at the threshold shares a band key, "
        "1 - (1 - t^rows)^bands\ncand‰: different-story pairs sharing a band key, per thousand "
        "(the signatures the store compares per\n  new article: cand‰ x stored articles in the "
        "window / 1000)\nworst+ / best-: lowest score of a same-story pair / highest of "
        "different stories, band keys or not"
    )
    for method, r in results:
        related = " ".join(
            f"{score:.2f}" for rel, score, _ in r.pairs if rel.startswith("same_news")
        )
        merged = sum(m for rel, _, m in r.pairs if rel.startswith("same_news"))
        taz = next((score, m) for rel, score, m in r.pairs if rel == "same_article_recrawled")
        print(
            f"\n{method.name}\n  same event, other outlet: scores {related}, merged {merged}/4; "
            f"taz recrawl: {taz[0]:.2f}, merged {taz[1]}\n"
            f"  copies not merged with their original: {r.missed or 'none'}"
        )
        if r.false_merges:
            print(f"  false merges: {r.false_merges}")
    threshold_sweep(texts)
    short_texts(texts, rng)
    storage(len(neardup.signature(originals[0]).to_bytes()))


if __name__ == "__main__":
    main()
