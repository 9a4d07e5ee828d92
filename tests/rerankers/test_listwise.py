"""Sliding-window framework (window arithmetic, back-to-front order, batched waves) and generative listwise runs."""

from __future__ import annotations

import copy

import pytest

from rerankit.engines.base import Capability
from rerankit.errors import CapabilityError, ConfigError, InputError
from rerankit.rerankers.listwise import (
    ListwiseReranker,
    SlidingWindowReranker,
    WindowRequest,
    WindowResult,
    window_schedule,
)
from rerankit.rerankers.permutation import RepairCounts
from rerankit.rerankers.waves import run_waves
from rerankit.types import Document, Hit, Query, Ranking


@pytest.mark.parametrize("n, w, s, spans", [
    (20, 10, 5, [(10, 20), (5, 15), (0, 10)]),
    (100, 20, 10, [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)]),
    (25, 20, 10, [(5, 25), (0, 15)]),       # the last window is cut at the top, not repeated
    (5, 20, 10, [(0, 5)]),                  # fewer candidates than a window
    (20, 20, 10, [(0, 20)]),                # one window; (0, 10) would repeat it
    (12, 10, 10, [(2, 12), (0, 2)]),
    (10, 20, 10, [(0, 10)]),                # n == window - stride: rank_llm's loop would run no window at all
    (0, 10, 5, []),
])
def test_window_schedule(n, w, s, spans):
    assert window_schedule(n, w, s) == spans


def test_window_schedule_covers_every_position_and_ends_at_the_top():
    for n in range(1, 60):
        for w in (2, 3, 5, 10, 20):
            for s in range(1, w + 1):
                spans = window_schedule(n, w, s)
                assert spans[0][1] == n and spans[-1][0] == 0
                assert all(e - b <= w for b, e in spans)
                assert [b for b, _ in spans] == sorted((b for b, _ in spans), reverse=True)
                covered = set().union(*(range(b, e) for b, e in spans))
                assert covered == set(range(n))
    with pytest.raises(InputError):
        window_schedule(10, 0, 1)


class _ByDocNumber(SlidingWindowReranker):
    """A deterministic 'model' for framework tests: orders each window by the number in the doc id (or reverses)."""

    name = "by-number"

    def __init__(self, *args, reverse_windows: bool = False, **kw):
        super().__init__(*args, **kw)
        self.reverse_windows = reverse_windows
        self.calls: list[list[tuple[str, tuple[int, int]]]] = []

    def _rank_windows(self, requests: list[WindowRequest]) -> list[WindowResult]:
        self.calls.append([(r.query.id, r.span) for r in requests])
        out = []
        for r in requests:
            n = len(r.hits)
            perm = list(range(n))[::-1] if self.reverse_windows else \
                sorted(range(n), key=lambda i: int(r.hits[i].doc.id))
            out.append(WindowResult(perm, RepairCounts(outputs=1, clean=1), {"perm": perm}))
        return out


def _ranking(qid: str, ids: list[int]) -> Ranking:
    return Ranking(Query(qid, f"query {qid}"), [Hit(Document(str(i), f"passage {i}"), 1.0) for i in ids])


def test_windows_run_back_to_front(smollm_engine):
    rr = _ByDocNumber(engine=smollm_engine, depth=None, window_size=4, stride=2, reverse_windows=True,
                      progress=False)
    out = rr.rerank(_ranking("q", list(range(6))))
    # windows (2,6) then (0,4): [0,1,2,3,4,5] -> [0,1,5,4,3,2] -> [4,5,1,0,3,2]
    assert out.ids() == ["4", "5", "1", "0", "3", "2"]
    assert [span for wave in rr.calls for _, span in wave] == [(2, 6), (0, 4)]
    assert [h.score for h in out.hits] == sorted((h.score for h in out.hits), reverse=True)


def test_one_pass_brings_the_best_to_the_top(smollm_engine):
    """With a perfect judge, one back-to-front pass puts the true top window_size - stride first, in order."""
    ids = [17, 3, 11, 0, 19, 8, 5, 14, 1, 12, 9, 2, 16, 6, 10, 4, 18, 7, 15, 13]
    rr = _ByDocNumber(engine=smollm_engine, depth=None, window_size=8, stride=4, progress=False)
    out = rr.rerank(_ranking("q", ids))
    assert out.ids()[:4] == ["0", "1", "2", "3"]
    assert sorted(out.ids(), key=int) == [str(i) for i in range(20)]
    two = _ByDocNumber(engine=smollm_engine, depth=None, window_size=8, stride=4, passes=5, progress=False)
    assert two.rerank(_ranking("q", ids)).ids() == [str(i) for i in range(20)]  # enough passes sort it all


def test_all_queries_advance_together_in_waves(smollm_engine):
    rankings = [_ranking("a", list(range(10))), _ranking("b", list(range(6))), _ranking("c", [])]
    rr = _ByDocNumber(engine=smollm_engine, depth=None, window_size=4, stride=2, keep_history=True, progress=False)
    out = rr.rerank_many(rankings)
    # a has 4 windows, b has 2: the first two waves hold both queries, the last two only a
    assert [[q for q, _ in wave] for wave in rr.calls] == [["a", "b"], ["a", "b"], ["a"], ["a"]]
    assert out[2].hits == ()  # an empty candidate list passes through untouched
    assert [len(r.meta["by-number"]["history"]) for r in out[:2]] == [4, 2]
    assert out[0].meta["by-number"]["history"][0]["span"] == [6, 10]
    assert rr.repair_counts(out)["outputs"] == 6
    loop = _ByDocNumber(engine=smollm_engine, depth=None, window_size=4, stride=2, batch_queries=False,
                        progress=False)
    assert [r.ids() for r in loop.rerank_many(rankings)] == [r.ids() for r in out]
    assert all(len(wave) == 1 for wave in loop.calls) and len(loop.calls) == 6


def test_depth_keeps_the_tail_below(smollm_engine):
    rr = _ByDocNumber(engine=smollm_engine, depth=4, window_size=4, stride=2, reverse_windows=True, progress=False)
    out = rr.rerank(_ranking("q", list(range(6))))
    assert out.ids() == ["3", "2", "1", "0", "4", "5"]


def test_run_waves_rejects_a_short_answer():
    def prog():
        yield 1
        return "done"

    with pytest.raises(RuntimeError, match="answers"):
        run_waves([prog()], lambda reqs: [], progress=False)
    assert run_waves([prog(), prog()], lambda reqs: [None] * len(reqs), progress=False) == ["done", "done"]


def test_bad_options_and_inputs(smollm_engine):
    with pytest.raises(ConfigError, match="stride"):
        ListwiseReranker(engine=smollm_engine, window_size=4, stride=5)
    with pytest.raises(ConfigError, match="window_size"):
        ListwiseReranker(engine=smollm_engine, window_size=1, stride=1)
    with pytest.raises(ConfigError, match="passes"):
        ListwiseReranker(engine=smollm_engine, passes=0)
    with pytest.raises(ConfigError, match="unknown prompt template"):
        ListwiseReranker(engine=smollm_engine, template="no-such-template")
    with pytest.raises(ConfigError, match="needs a model"):
        ListwiseReranker(engine="transformers")
    rr = ListwiseReranker(engine=smollm_engine, template="rankzephyr", progress=False)
    with pytest.raises(InputError, match="no candidates"):
        rr.rerank(Ranking(Query("q", "text")))


def test_engine_without_generation_is_refused(smollm_engine):
    logprobs_only = copy.copy(smollm_engine)
    logprobs_only.capabilities = frozenset({Capability.LOGPROBS})
    with pytest.raises(CapabilityError, match="generate"):
        ListwiseReranker(engine=logprobs_only)


@pytest.mark.slow
def test_batched_waves_equal_per_query_loop(smollm_engine, dl19):
    """Real generation (greedy): batching all queries' windows gives the same outputs as one query at a time."""
    _, run = dl19
    rankings = list(run.values())[:2]
    opts = dict(engine=smollm_engine, template="rankzephyr", depth=6, window_size=4, stride=2,
                max_passage_words=40, keep_history=True, progress=False)
    batched = ListwiseReranker(**opts).rerank_many(rankings)
    looped = ListwiseReranker(batch_queries=False, **opts).rerank_many(rankings)
    assert [r.ids() for r in batched] == [r.ids() for r in looped]
    outs = [[h["output"] for h in r.meta["listwise"]["history"]] for r in batched]
    assert outs == [[h["output"] for h in r.meta["listwise"]["history"]] for r in looped]
    for r, orig in zip(batched, rankings):
        assert sorted(r.ids()) == sorted(orig.ids())  # nothing lost or duplicated
        assert r.ids()[6:] == orig.ids()[6:]          # below depth: untouched
        meta = r.meta["listwise"]
        assert len(meta["history"]) == 2 and meta["repairs"]["outputs"] == 2
        for rec in meta["history"]:
            assert rec["prompt"].startswith("<|im_start|>system\nYou are RankLLM")
            assert sorted(rec["permutation"]) == [0, 1, 2, 3]


@pytest.mark.slow
def test_malformed_outputs_are_repaired_and_counted(smollm_engine, dl19):
    """SmolLM2 rarely writes a clean permutation: every output is still turned into one and its fixes counted."""
    _, run = dl19
    ranking = next(iter(run.values()))
    rr = ListwiseReranker(engine=smollm_engine, template="rankgpt", depth=8, window_size=4, stride=2,
                          max_passage_words=30, keep_history=True, progress=False)
    out = rr.rerank(ranking)
    counts = rr.repair_counts([out])
    assert counts == out.meta["listwise"]["repairs"]
    assert counts["outputs"] == 3 and counts["clean"] + (counts["outputs"] - counts["clean"]) == 3
    fixes = counts["duplicates"] + counts["missing"] + counts["out_of_range"] + counts["unparseable"] + counts["loose"]
    assert (counts["clean"] == 3) == (fixes == 0)
    assert sorted(out.ids()[:8]) == sorted(ranking.ids()[:8])
    assert rr.config()["template"] == "rankgpt" and rr.config()["window_size"] == 4


def test_concurrent_calls_on_one_instance_keep_their_own_repair_counts(smollm_engine):
    """One reranker serving two threads at once (as the HTTP service may): each call's counts are its own."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Barrier(2, timeout=30)
    seen = threading.local()

    class _Interleaved(_ByDocNumber):
        def _rank_windows(self, requests):
            if not getattr(seen, "waited", False):
                seen.waited = True
                gate.wait()  # both calls are in the middle of their work at the same time
            return super()._rank_windows(requests)

    rr = _Interleaved(engine=smollm_engine, depth=None, window_size=4, stride=2, progress=False)
    small, large = [_ranking("s", list(range(4)))], [_ranking("a", list(range(10))), _ranking("b", list(range(8)))]
    with ThreadPoolExecutor(2) as pool:
        f_small, f_large = pool.submit(rr.rerank_many, small), pool.submit(rr.rerank_many, large)
        out_small, out_large = f_small.result(), f_large.result()
    assert rr.repair_counts(out_small)["outputs"] == 1  # one window
    assert rr.repair_counts(out_large)["outputs"] == 4 + 3
    assert not [k for k in vars(rr) if "last" in k or "count" in k]  # no per-call state left on the instance
