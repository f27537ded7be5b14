"""Near-duplicate detection for article texts: normalisation, MinHash signatures, LSH band keys
and the "same story" decision, as pure functions the store persists and queries."""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import Final

import numpy as np
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

__all__ = [
    "MIN_WORDS",
    "SAME_STORY",
    "Signature",
    "band_keys",
    "normalise",
    "same_story",
    "signature",
    "similarity",
]

# Chosen by measurement, bench/dedup.py: 3-word shingles keep unrelated texts near 0 and
# independent reports of one event at <= 0.16 while edited copies stay >= 0.59 (5-word
# shingles: same precision, lower scores for copies; single words: unrelated texts up to
# 0.40). 42 bands of 3 rows find a pair at J = 0.5 with 99.6 % (32 x 4: 87 %).
SHINGLE_WORDS: Final = 3
NUM_PERM: Final = 128
BANDS: Final = 42
ROWS: Final = 3
SAME_STORY: Final = 0.5
# Below this many words (after normalise) only the same normalised text counts: a few
# sentences share too few shingles for an estimate to tell an edit from another story.
MIN_WORDS: Final = 50

# Pinned, not datasketch's defaults: stored signatures must survive a datasketch upgrade
# (2.0 changed the default scheme and made older signatures incompatible).
_SCHEME: Final = "affine32"
_SEED: Final = 1
_FORMAT: Final = 1  # first byte of to_bytes(); bump when anything above changes
_HEADER = struct.Struct("<BI8s")  # format, words, digest of the normalised text
_BATCH: Final = 4096
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations

_AGENCIES = r"dpa|dpa-afx|afp|ap|reuters|kna|epd|sid|apa|sda|ddp|rtr|bloomberg"
# "dpa", "dpa/AFP", "dpa/lhe" (a regional desk), "AP, Reuters"
_CREDIT = rf"(?:{_AGENCIES})(?:\s*[/,]\s*[\w-]{{2,12}})*"
# Credit and boilerplate lines one outlet adds and another does not: the story is the same.
_CREDIT_LINE = re.compile(
    rf"""^\s*(?:
        \(?{_CREDIT}\)?\.?                                                 # "(dpa)", "dpa/lhe"
      | (?:©|\(c\)|copyright)\s.{{0,80}}                                 # "© AFP 2024"
      | (?:foto|fotos|bild|bilder|quelle|photo|image|credit|video)s?\s*:.{{0,120}}
      | mit\s+material\s+(?:von|der|aus)\b.{{0,80}}                      # "Mit Material von AFP"
      | (?:additional\s+)?reporting\s+by\b.{{0,120}}
      | (?:lesen\s+sie\s+(?:auch|mehr)|mehr\s+zum\s+thema|auch\s+interessant|read\s+more|
           see\s+also|related)\s*:.{{0,200}}                             # "Lesen Sie auch: …"
    )\s*$""",
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)
# "BERLIN (dpa) - ", "NEW YORK, March 7 (Reuters) -": a dateline opening a paragraph.
_DATELINE = re.compile(
    rf"^[^\S\n]*[^\n()]{{0,60}}?\({_CREDIT}\)\s*[-\u2013\u2014:]\s*",
    re.IGNORECASE | re.MULTILINE,
)
# "(dpa)" anywhere else.
_CREDIT_INLINE = re.compile(rf"\({_CREDIT}\)", re.IGNORECASE)
# Soft hyphens and zero-width characters split words for \w+ (re.sub is 100x faster than
# str.translate here).
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """The words of an article text, case-folded, without agency datelines and credit,
    photo-credit and "read also" lines: what two copies of one story share."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = _CREDIT_LINE.sub("", text)
    text = _DATELINE.sub("", text)
    text = _CREDIT_INLINE.sub(" ", text)
    return " ".join(_WORD.findall(text.casefold()))


@dataclass(frozen=True)
class Signature:
    """What is stored per article: MinHash values over word shingles of the normalised text,
    its length in words, and a digest of it (the exact match for short texts)."""

    values: tuple[int, ...]
    words: int
    digest: bytes

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_FORMAT, self.words, self.digest)
        return header + np.asarray(self.values, dtype="<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if len(data) != _HEADER.size + 4 * NUM_PERM or data[0] != _FORMAT:
            raise ValueError(
                f"not a format-{_FORMAT} signature of {NUM_PERM} values ({len(data)} bytes)"
            )
        _, words, digest = _HEADER.unpack_from(data)
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size)
        return cls(tuple(int(v) for v in values), words, digest)

    @property
    def short(self) -> bool:
        return self.words < MIN_WORDS


def shingles(normalised: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    """Overlapping runs of `size` words; a text shorter than that is one shingle."""
    words = normalised.split()
    if len(words) <= size:
        return {normalised.encode()} if words else set()
    runs = zip(*(words[i:] for i in range(size)), strict=False)
    return {" ".join(run).encode() for run in runs}


def minhash_values(items: set[bytes], permutations: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """MinHash of a shingle set with the given permutations. update_batch, not per-item
    update() (5x slower), in slices so a huge text costs a few MB, not shingles x 128 x 8."""
    sketch = MinHash(
        num_perm=len(permutations[0]),
        hashfunc=sha1_hash32,
        permutations=permutations,
        scheme=_SCHEME,
    )
    ordered = list(items)
    for start in range(0, len(ordered), _BATCH):
        sketch.update_batch(ordered[start : start + _BATCH])
    return sketch.hashvalues


def signature(text: str) -> Signature:
    normalised = normalise(text)
    values = minhash_values(shingles(normalised), _PERMUTATIONS)
    digest = hashlib.blake2b(normalised.encode(), digest_size=8).digest()
    return Signature(tuple(values.tolist()), normalised.count(" ") + bool(normalised), digest)


def band_keys(sig: Signature) -> list[tuple[int, int]]:
    """(band, key) per LSH band: articles sharing any pair are candidates. Keys are signed
    64-bit (a PostgreSQL BIGINT) and the same in every process (no Python hash())."""
    if sig.words == 0:
        return []  # every empty text would collide with every other
    return [(band, band_key(sig.values, band, ROWS)) for band in range(BANDS)]


def band_key(values: tuple[int, ...] | np.ndarray, band: int, rows: int) -> int:
    """BLAKE2b of the band's values as little-endian uint32, read as a signed int64."""
    chunk = np.asarray(values[band * rows : (band + 1) * rows], dtype="<u4").tobytes()
    return int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "little", signed=True)


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    if a.words == 0 or b.words == 0:
        return 0.0
    return float(np.mean(np.equal(a.values, b.values)))


def same_story(a: Signature, b: Signature) -> bool:
    """Whether two texts tell the same story: the same normalised text when either is short
    (under MIN_WORDS words), else an estimated Jaccard similarity of at least SAME_STORY."""
    if a.words == 0 or b.words == 0:
        return False
    if a.short or b.short:
        return a.digest == b.digest
    return similarity(a, b) >= SAME_STORY
