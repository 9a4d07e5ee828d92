"""Seeded synthetic corpora, queries, embeddings and SPLADE vectors shaped like MS MARCO passages (for scaling.py).

Everything is fitted to one real sample, ``<data>/msmarco-passage/trec-dl-2019/``: the 7,055 distinct MS MARCO
passages of the two shipped DL19 top-100 files (BM25 and SPLADE++ ED) and the 43 DL19 topics. Words are
``\\w+(?:[.']\\w+)*`` matches of the lower-cased text (the word regex of rerankit's analyzer).

Text (:class:`TextModel`):
- document lengths (in words) are drawn with replacement from the real passages' word counts (mean 61.5, median
  54); query lengths likewise from the 43 topics' word counts;
- document words are drawn i.i.d. from a Zipf law ``p(r) ~ r**-s`` over ``VOCAB_SIZE`` (1,000,000) ranks, `s`
  fitted by least squares of log frequency on log rank over the sample's words seen at least ``FIT_MIN_COUNT`` (5)
  times (rarer words' frequencies are too noisy). Rank r is the sample's r-th most frequent word while the sample
  has one (24,576 distinct words), else a made-up word (``"zq"`` + the rank in base 26), so the vocabulary keeps
  growing with corpus size as a real one does instead of stopping at the sample's. Words are independent: real
  passages repeat their topic words more, so synthetic documents hold somewhat more distinct terms each;
- query words are the DL19 topics' words resampled by their rank in the sample (a topic word the sample lacks
  gets a random rank beyond the sample's vocabulary), so queries have realistic term rarity; then the same
  vocabulary maps ranks to words.

Dense vectors (:func:`gaussian_embeddings`): 384-d, from a Gaussian with the mean and covariance of the packaged
all-MiniLM-L6-v2's embeddings of 2,000 of the real passages (``calibration`` in scaling.py), L2-normalised;
queries from the same Gaussian.

SPLADE vectors (:func:`sparse_vectors`): each row's number of terms is drawn from the numbers of positive
weights the packaged splade-tiny gives the real passages (or topics, for queries); its terms are drawn without
replacement with probability proportional to each vocabulary entry's document frequency in those encodings
(+0.1, so unseen entries can occur); its weights are drawn from the encodings' positive weights.

Every generator takes a seed and returns the same output for the same seed and fitted model.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOCAB_SIZE = 1_000_000
FIT_MIN_COUNT = 5
DL19 = Path("msmarco-passage") / "trec-dl-2019"
_WORD = re.compile(r"\w+(?:[.'\u2019]\w+)*")
_CHUNK = 100_000


def real_sample(data_dir: str | Path) -> tuple[list[str], list[str]]:
    """(passages, topics): the distinct DL19 candidate passages (sorted by id) and the 43 DL19 topic texts."""
    folder = Path(data_dir) / DL19
    passages: dict[str, str] = {}
    for name in ("bm25", "splade_pp_ed"):
        for q in json.loads((folder / f"retrieve_results_dl19_top100.{name}.rank_llm_data.json").read_text()):
            for h in q["hits"]:
                passages[str(h["docid"])] = h["content"]
    topics = [line.split("\t", 1)[1].strip() for line in
              (folder / "topics.dl19-passage.txt").read_text(encoding="utf-8").splitlines() if "\t" in line]
    return [passages[k] for k in sorted(passages)], topics


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class TextModel:
    """What the text generator draws from (see the module docstring)."""

    doc_lengths: np.ndarray  # word counts of the real passages
    query_lengths: np.ndarray  # word counts of the real topics
    query_ranks: np.ndarray  # 0-based rank of each real topic word (-1: not in the sample)
    sample_words: tuple[str, ...]  # the sample's words, most frequent first
    zipf_s: float
    sample_tokens: int

    @classmethod
    def fit(cls, data_dir: str | Path) -> TextModel:
        passages, topics = real_sample(data_dir)
        tokenised = [words(p) for p in passages]
        counts = Counter(w for ws in tokenised for w in ws)
        ranked = sorted(counts, key=lambda w: (-counts[w], w))
        freq = np.array([counts[w] for w in ranked], dtype=np.float64)
        fit_ranks = int((freq >= FIT_MIN_COUNT).sum())
        slope, _ = np.polyfit(np.log(np.arange(1, fit_ranks + 1)), np.log(freq[:fit_ranks]), 1)
        rank_of = {w: i for i, w in enumerate(ranked)}
        q_words = [words(t) for t in topics]
        return cls(doc_lengths=np.array([len(ws) for ws in tokenised]),
                   query_lengths=np.array([len(ws) for ws in q_words]),
                   query_ranks=np.array([rank_of.get(w, -1) for ws in q_words for w in ws]),
                   sample_words=tuple(ranked), zipf_s=float(-slope), sample_tokens=int(freq.sum()))

    def summary(self) -> dict:
        return {"passages": len(self.doc_lengths), "sample_tokens": self.sample_tokens,
                "sample_distinct_words": len(self.sample_words), "zipf_s": round(self.zipf_s, 4),
                "fit": f"least squares of log count on log rank, ranks with count >= {FIT_MIN_COUNT}",
                "vocab_ranks": VOCAB_SIZE, "doc_words_mean": float(self.doc_lengths.mean()),
                "doc_words_median": float(np.median(self.doc_lengths)), "topics": len(self.query_lengths),
                "query_words_mean": float(self.query_lengths.mean())}

    def word(self, rank: int) -> str:
        if rank < len(self.sample_words):
            return self.sample_words[rank]
        out, r = [], rank
        while True:
            r, d = divmod(r, 26)
            out.append(chr(97 + d))
            if r == 0:
                return "zq" + "".join(out)

    def _cdf(self) -> np.ndarray:
        p = np.arange(1, VOCAB_SIZE + 1, dtype=np.float64) ** -self.zipf_s
        cdf = np.cumsum(p)
        return cdf / cdf[-1]

    def document_ranks(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, ranks): document i's word ranks are ``ranks[offsets[i]:offsets[i+1]]`` (int32, 0-based)."""
        rng = np.random.default_rng([seed, 1])
        lengths = rng.choice(self.doc_lengths, size=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cdf = self._cdf()
        ranks = np.empty(int(offsets[-1]), dtype=np.int32)
        for start in range(0, len(ranks), 10 * _CHUNK):
            stop = min(len(ranks), start + 10 * _CHUNK)
            ranks[start:stop] = np.searchsorted(cdf, rng.random(stop - start), side="right")
        return offsets, np.minimum(ranks, VOCAB_SIZE - 1)

    def query_ranks_sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([seed, 2])
        lengths = rng.choice(self.query_lengths, size=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ranks = rng.choice(self.query_ranks, size=int(offsets[-1])).astype(np.int64)
        unseen = ranks < 0
        ranks[unseen] = rng.integers(len(self.sample_words), VOCAB_SIZE, size=int(unseen.sum()))
        return offsets, ranks.astype(np.int32)

    def _texts(self, offsets: np.ndarray, ranks: np.ndarray) -> list[str]:
        used = np.unique(ranks)
        table = np.empty(int(used[-1]) + 1 if len(used) else 0, dtype=object)
        table[used] = [self.word(int(r)) for r in used]
        flat = table[ranks].tolist()
        return [" ".join(flat[a:b]) for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

    def documents(self, n: int, seed: int) -> list[str]:
        """`n` synthetic passages (deterministic in `seed`)."""
        return self._texts(*self.document_ranks(n, seed))

    def queries(self, n: int, seed: int) -> list[str]:
        """`n` synthetic queries (deterministic in `seed`)."""
        return self._texts(*self.query_ranks_sample(n, seed))


def doc_ids(n: int) -> list[str]:
    return [f"d{i:07d}" for i in range(n)]


def gaussian_embeddings(mean: np.ndarray, cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` L2-normalised float32 rows drawn from N(mean, cov), generated in chunks (deterministic in `seed`)."""
    rng = np.random.default_rng([seed, 3])
    vals, vecs = np.linalg.eigh(cov)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))).T.astype(np.float32)  # z @ root has covariance cov
    out = np.empty((n, len(mean)), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        z = rng.standard_normal((stop - start, len(mean)), dtype=np.float32)
        block = z @ root + mean.astype(np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[start:stop] = block
    return out


@dataclass(frozen=True)
class SparseModel:
    """Measured splade-tiny statistics the SPLADE generator draws from."""

    doc_nnz: np.ndarray
    query_nnz: np.ndarray
    doc_weights: np.ndarray
    query_weights: np.ndarray
    term_df: np.ndarray  # per vocabulary entry: in how many encoded passages it has a positive weight

    @property
    def vocab_size(self) -> int:
        return len(self.term_df)


def sparse_vectors(model: SparseModel, n: int, seed: int, queries: bool = False):
    """`n` synthetic SPLADE rows as a scipy CSR matrix (float32 weights, int32 term ids), deterministic in `seed`."""
    from scipy import sparse

    rng = np.random.default_rng([seed, 4 if queries else 5])
    nnz_pool = model.query_nnz if queries else model.doc_nnz
    weight_pool = model.query_weights if queries else model.doc_weights
    p = model.term_df.astype(np.float64) + 0.1
    p /= p.sum()
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    rows: list = []
    for start in range(0, n, _CHUNK):
        m = min(n, start + _CHUNK) - start
        want = rng.choice(nnz_pool, size=m)
        # Without replacement: draw 1.5x, keep each row's first distinct terms (in draw order) up to its target.
        draw = np.ceil(want * 1.5).astype(np.int64) + 8
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(draw, out=offsets[1:])
        terms = np.searchsorted(cdf, rng.random(int(offsets[-1])), side="right").astype(np.int64)
        terms = np.minimum(terms, model.vocab_size - 1)
        row = np.repeat(np.arange(m, dtype=np.int64), draw)
        key = row * model.vocab_size + terms
        _, first = np.unique(key, return_index=True)
        first.sort()
        row_f, term_f = row[first], terms[first]
        # position of each kept entry within its row, to cut at the row's target
        starts = np.searchsorted(row_f, np.arange(m))
        pos = np.arange(len(row_f)) - starts[row_f]
        keep = pos < want[row_f]
        row_f, term_f = row_f[keep], term_f[keep]
        weights = rng.choice(weight_pool, size=len(row_f)).astype(np.float32)
        block = sparse.csr_matrix((weights, term_f.astype(np.int32), np.r_[0, np.cumsum(np.bincount(row_f,
                                   minlength=m))]), shape=(m, model.vocab_size))
        block.sort_indices()
        rows.append(block)
    return sparse.vstack(rows, format="csr") if len(rows) > 1 else rows[0]
