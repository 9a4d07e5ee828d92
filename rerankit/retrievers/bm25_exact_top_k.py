"""BM25 top-k in trec_eval's order in one pass over each query's scores, on numba.

bm25s's own kernel keeps the k highest scores in a heap, so which of several documents tied at the k-th score make
the cut depends on their position in the corpus. This kernel scores a query as bm25s's scoring function does (the
same additions in the same order: the same float32 scores, bit for bit), but into one buffer reused from query to
query and cleared only where the query's postings touched it (bm25s allocates and zeroes a corpus-sized array per
query: 4 MB at a million documents). It selects as bm25s does, then settles a tie across the cut by document id,
descending, as trec_eval orders ties, from the documents the pass kept aside at the heap's minimum. Where the
documents are stored in descending id order (BM25Retriever.index sorts them so), the scan runs from the first
document to the last and the order of ties comes free. (A forward scan: over a million-document buffer, scanning
from the last document to the first took 2.3-2.5 ms here against 1.5 ms forward.) Documents scoring 0 match no
query term and are left out (as in Lucene).
Imported only where numba is installed (bm25s's ``core`` extra); the kernels compile on first use and are cached on
disk.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from numba import njit, prange


@njit(nogil=True, cache=True)
def _lower(hs, hi, a, b):
    """Whether heap entry `a` ranks below entry `b`: a lower score, or the same score and a lower index."""
    return hs[a] < hs[b] or (hs[a] == hs[b] and hi[a] < hi[b])


@njit(nogil=True, cache=True)
def _swap(hs, hi, a, b):
    hs[a], hs[b] = hs[b], hs[a]
    hi[a], hi[b] = hi[b], hi[a]


@njit(nogil=True, cache=True)
def _push(hs, hi, n, v, i):
    """Add score `v` of document `i` to the min-heap of `n` entries (scores `hs`, document indices `hi`)."""
    hs[n], hi[n] = v, i
    pos = n
    while pos > 0:
        parent = (pos - 1) // 2
        if not _lower(hs, hi, pos, parent):
            return
        _swap(hs, hi, pos, parent)
        pos = parent


@njit(nogil=True, cache=True)
def _sift_down(hs, hi, n, pos):
    """Restore the min-heap of `n` entries below `pos`."""
    while True:
        low, left, right = pos, 2 * pos + 1, 2 * pos + 2
        if left < n and _lower(hs, hi, left, low):
            low = left
        if right < n and _lower(hs, hi, right, low):
            low = right
        if low == pos:
            return
        _swap(hs, hi, pos, low)
        pos = low


@njit(nogil=True, cache=True)
def _write_in_order(ids, vals, ranks, out_ids, out_scores):
    """`ids`/`vals` into the outputs by score, then `ranks` (each id's rank), both descending: trec_eval's order."""
    order = np.argsort(-ranks, kind="mergesort")
    ids, vals = ids[order], vals[order]
    order = np.argsort(-vals, kind="mergesort")  # stable: equal scores keep the rank order
    out_ids[:ids.shape[0]] = ids[order]
    out_scores[:ids.shape[0]] = vals[order]


@njit(nogil=True, cache=True)
def _note_tie(buf, nb, value, noted, i):
    """Add document `i`, left out of the heap with a score equal to its minimum `value`, to the buffer of such
    documents (emptied when the minimum has risen since: those it held can no longer reach the cut)."""
    if value != noted:
        nb = 0
    if nb == buf.shape[0]:
        grown = np.empty(2 * nb, dtype=buf.dtype)
        grown[:nb] = buf
        buf = grown
    buf[nb] = i
    return buf, nb + 1, value


@njit(nogil=True, cache=True)
def _top_k(scores, id_rank, k, out_ids, out_scores):
    """The first k positive scores in trec_eval's order (score, then id rank, descending) into the outputs; returns
    how many there are.

    One pass keeps the k highest scores in a min-heap (a strict comparison, as bm25s's kernel; which of the heap's
    own tied entries is the root does not matter here) and keeps aside the documents left out with a score equal to
    the heap's minimum (passed over, or let out by a higher score). The minimum only rises, so if the last of them
    equal the final cut score, a tie crosses the cut: of the documents at the cut (in the heap or aside), those with
    the highest id ranks fill the places there.
    """
    hs = np.empty(k, dtype=scores.dtype)
    hi = np.empty(k, dtype=np.int64)
    n = 0
    buf = np.empty(64, dtype=np.int64)  # documents left out at the heap's minimum `noted`
    nb = 0
    noted = scores.dtype.type(0)
    for i in range(scores.shape[0]):
        v = scores[i]
        if n < k:
            if v > 0:
                _push(hs, hi, n, v, i)
                n += 1
        elif v < hs[0]:  # most documents (and every 0: the heap holds positive scores) stop at this test
            continue
        elif v > hs[0]:
            evicted, evicted_id = hs[0], hi[0]
            hs[0], hi[0] = v, i
            _sift_down(hs, hi, n, 0)
            if hs[0] == evicted:  # the document let out ties with the new minimum
                buf, nb, noted = _note_tie(buf, nb, evicted, noted, evicted_id)
        else:
            buf, nb, noted = _note_tie(buf, nb, v, noted, i)
    ids, vals = hi[:n].copy(), hs[:n].copy()
    if n == k and nb > 0 and noted == hs[0]:  # a tie crosses the cut
        cut = hs[0]
        above = vals > cut
        at_cut = np.concatenate((ids[~above], buf[:nb]))
        need = k - int(above.sum())
        ranks = id_rank[at_cut]
        # the `need` highest id ranks (ranks are distinct): a partition, not a sort
        at_cut = at_cut[ranks >= np.partition(ranks, ranks.shape[0] - need)[ranks.shape[0] - need]]
        ids = np.concatenate((ids[above], at_cut))
        vals = np.concatenate((vals[above], np.full(at_cut.shape[0], cut, dtype=vals.dtype)))
    _write_in_order(ids, vals, id_rank[ids], out_ids, out_scores)
    return n


BLOCK = 64  # documents whose highest score is compared with the heap's minimum at once


@njit(nogil=True, cache=True, fastmath=True)
def _block_max(scores, lo, hi):
    """The highest of ``scores[lo:hi]`` (vectorised: the maximum is exact in any order)."""
    m = scores[lo]
    for j in range(lo + 1, hi):
        m = max(m, scores[j])
    return m


@njit(nogil=True, cache=True)
def _top_k_in_descending_id_order(scores, k, hs, hi, out_ids, out_scores):
    """`_top_k` for documents stored in descending id order (a higher index, a lower id): scanning from the first
    document to the last, a document that only ties with the heap's minimum has a lower id than every one seen, so
    the strict comparison alone keeps trec_eval's order, with no id lookups and no second pass. The heap (`hs`,
    `hi`: k entries, reused across queries) holds negated indices, so that of its tied entries the one with the
    lowest id is the first let out, and popping it from the end writes trec_eval's order with no sort. Once the heap
    is full, a block of documents none of which beats its minimum is passed over after one vectorised maximum (most
    blocks are: at a million documents the scan took 0.9 ms instead of 2.3)."""
    n = 0
    total = scores.shape[0]
    for lo in range(0, total, BLOCK):
        end = min(lo + BLOCK, total)
        if n == k and _block_max(scores, lo, end) <= hs[0]:
            continue
        for i in range(lo, end):
            v = scores[i]
            if n < k:
                if v > 0:
                    _push(hs, hi, n, v, -i)
                    n += 1
            elif v > hs[0]:
                hs[0], hi[0] = v, -i
                _sift_down(hs, hi, n, 0)
    m = n
    while m > 0:  # the lowest entry (score, then id) goes last
        m -= 1
        out_scores[m], out_ids[m] = hs[0], -hi[0]
        hs[0], hi[0] = hs[m], hi[m]
        _sift_down(hs, hi, m, 0)
    return n


@njit(nogil=True, cache=True)
def _accumulate(scores, tokens, data, indptr, indices):
    """Add the query terms' postings to `scores`, term by term in query order, as bm25s's scoring function does
    (so each document's float32 sum is the same, bit for bit)."""
    for t in tokens:
        for j in range(indptr[t], indptr[t + 1]):
            scores[indices[j]] += data[j]


@njit(nogil=True, cache=True)
def _clear(scores, tokens, indptr, indices):
    """Zero what `_accumulate` touched: the buffer is reused by the next query (no allocation). Postings that cover
    more than an eighth of the buffer are cleared with one fill instead (sequential writes beat scattered ones)."""
    touched = 0
    for t in tokens:
        touched += indptr[t + 1] - indptr[t]
    if 8 * touched > scores.shape[0]:
        scores[:] = 0
        return
    for t in tokens:
        for j in range(indptr[t], indptr[t + 1]):
            scores[indices[j]] = 0


def _search(flat, pointers, k, data, indptr, indices, num_docs, nonoccurrence, id_rank, n_chunks):
    nq = pointers.shape[0] - 1
    out_ids = np.zeros((nq, k), dtype=np.int64)
    out_scores = np.zeros((nq, k), dtype=data.dtype)
    counts = np.zeros(nq, dtype=np.int64)
    for c in prange(n_chunks):  # one score buffer and heap per chunk of queries (per thread), allocated once
        scores = np.zeros(num_docs, dtype=data.dtype)
        hs = np.empty(k, dtype=data.dtype)
        hi = np.empty(k, dtype=np.int64)
        for q in range(c, nq, n_chunks):
            tokens = flat[pointers[q]:pointers[q + 1]]
            _accumulate(scores, tokens, data, indptr, indices)
            if nonoccurrence.shape[0] > 0:  # bm25l / bm25+: what a term adds to the documents that lack it
                work = scores + nonoccurrence[tokens].sum()
            else:
                work = scores
            if id_rank.shape[0] == 0:  # documents in descending id order
                counts[q] = _top_k_in_descending_id_order(work, k, hs, hi, out_ids[q], out_scores[q])
            else:
                counts[q] = _top_k(work, id_rank, k, out_ids[q], out_scores[q])
            _clear(scores, tokens, indptr, indices)
    return out_ids, out_scores, counts


_KERNELS = {False: njit(nogil=True, cache=True)(_search), True: njit(parallel=True, cache=True)(_search)}


def exact_top_k(token_ids: list[list[int]], k: int, data: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                num_docs: int, nonoccurrence: np.ndarray | None, id_rank: np.ndarray | None,
                n_threads: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query (a list of term ids), its top-`k` document indices and scores (array rows) in trec_eval's order.
    `id_rank`: each document's position in sorted id order, or None when the documents are stored in descending id
    order."""
    parallel = n_threads > 1
    kernel = _KERNELS[parallel]
    pointers = np.zeros(len(token_ids) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in token_ids], out=pointers[1:])
    flat = np.fromiter(chain.from_iterable(token_ids), dtype=np.int64, count=int(pointers[-1]))
    extra = np.zeros(0, dtype=data.dtype) if nonoccurrence is None else nonoccurrence
    rank = np.zeros(0, dtype=np.int64) if id_rank is None else id_rank
    n_chunks = max(1, min(n_threads, len(token_ids))) if parallel else 1
    args = (flat, pointers, int(k), data, indptr, indices, int(num_docs), extra, rank, n_chunks)
    if parallel:
        from numba import get_num_threads, set_num_threads

        before = get_num_threads()
        set_num_threads(min(n_threads, before))
        try:
            ids, scores, counts = kernel(*args)
        finally:
            set_num_threads(before)
    else:
        ids, scores, counts = kernel(*args)
    return [(ids[q, :c], scores[q, :c]) for q, c in enumerate(counts.tolist())]
