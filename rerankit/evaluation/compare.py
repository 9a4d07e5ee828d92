"""`compare`: several runs on the same queries, with paired significance tests (ranx's implementations).

Every pair of runs is tested on every metric over the queries all runs share. A run *beats* another on a metric when
the test is significant (p <= max_p) and its mean is higher; tables mark this with the other run's letter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rerankit.errors import ConfigError, DataError, InputError
from rerankit.evaluation.evaluate import QrelsLike, RunLike, evaluate_per_query
from rerankit.evaluation.metrics import DEFAULT_METRICS, display_name, parse_metrics
from rerankit.evaluation.report import render_table

__all__ = ["STAT_TESTS", "PairTest", "Comparison", "compare"]

log = logging.getLogger(__name__)

STAT_TESTS = {
    "student": "two-sided paired Student's t-test",
    "fisher": "Fisher's randomization test",
    "tukey": "Tukey's HSD test",
}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_SUPERSCRIPTS = dict(zip("abcdefghijklmnop", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖ"))


@dataclass(frozen=True)
class PairTest:
    """One test: runs `a` and `b` on `metric`; `winner` is the higher-scoring run when the difference is significant."""

    metric: str
    a: str
    b: str
    p_value: float
    significant: bool
    winner: str | None


@dataclass
class Comparison:
    """Mean scores of several runs over their shared queries, and every pairwise significance test."""

    scores: dict[str, dict[str, float]]
    significance: list[PairTest]
    per_query: dict[str, dict[str, dict[str, float]]] = field(repr=False, default_factory=dict)
    stat_test: str = "student"
    max_p: float = 0.05

    def test(self, a: str, b: str, metric: str) -> PairTest:
        """The test between runs `a` and `b` on `metric` (in either order)."""
        for t in self.significance:
            if t.metric == metric and {t.a, t.b} == {a, b}:
                return t
        raise KeyError(f"no test between {a!r} and {b!r} on {metric!r}")

    def beats(self, name: str, metric: str) -> list[str]:
        """Runs that `name` significantly outperforms on `metric`."""
        return [t.b if t.a == name else t.a for t in self.significance
                if t.metric == metric and t.winner == name]

    @property
    def n_queries(self) -> int:
        """How many queries the means and tests are over."""
        first = next(iter(self.per_query.values()), {})
        return len(next(iter(first.values()), {}))

    def _table(self, markdown: bool) -> str:
        names = list(self.scores)
        metrics = list(next(iter(self.scores.values())))
        letter = {n: _LETTERS[i % 26] * (1 + i // 26) for i, n in enumerate(names)}
        superscript = len(names) <= len(_SUPERSCRIPTS)
        rows = []
        for name in names:
            cells = [letter[name], name]
            for m in metrics:
                marks = "".join(letter[o] for o in names if o in self.beats(name, m))
                if marks:
                    if markdown:
                        marks = f"<sup>{marks}</sup>"
                    else:
                        marks = "".join(_SUPERSCRIPTS[c] for c in marks) if superscript else f"^{marks}"
                cells.append(f"{self.scores[name][m]:.4f}{marks}")
            rows.append(cells)
        table = render_table(["#", "system", *(display_name(m) for m in metrics)], rows, markdown=markdown,
                             right_from=2)
        note = (f"A letter marks a significant improvement over that system ({STAT_TESTS[self.stat_test]}, "
                f"p <= {self.max_p}, {self.n_queries} queries).")
        return f"{table}\n\n{note}" if markdown else f"{table}\n{note}"

    def to_table(self) -> str:
        """Terminal table; superscript letters mark the systems each one significantly beats."""
        return self._table(markdown=False)

    def to_markdown(self) -> str:
        """Markdown table with ``<sup>`` letters for significant wins."""
        return self._table(markdown=True)

    def __str__(self) -> str:
        return self.to_table()


def _p_values(scores: Mapping[str, Sequence[float]], stat_test: str, max_p: float, n_permutations: int,
              seed: int) -> dict[tuple[str, str], float]:
    import numpy as np

    names = list(scores)
    arrays = {n: np.asarray(v, dtype=np.float64) for n, v in scores.items()}
    out: dict[tuple[str, str], float] = {}
    if stat_test == "tukey":
        from ranx.statistical_tests.tukey_hsd_test import tukey_hsd_test

        for r in tukey_hsd_test(names, [arrays[n] for n in names], max_p):
            out[(r["control"], r["treatment"])] = float(r["p-value"])
        return out
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.array_equal(arrays[a], arrays[b]):
                out[(a, b)] = 1.0  # identical per-query scores: no difference to test (the t statistic is 0/0)
            elif stat_test == "student":
                from ranx.statistical_tests import paired_student_t_test

                out[(a, b)] = float(paired_student_t_test(arrays[a], arrays[b], max_p)[0])
            else:
                from ranx.statistical_tests import fisher_randomization_test

                out[(a, b)] = float(fisher_randomization_test(arrays[a], arrays[b], n_permutations, max_p, seed)[0])
    return out


def compare(runs: Mapping[str, RunLike], qrels: QrelsLike, metrics: str | Sequence[str] = DEFAULT_METRICS,
            stat_test: str = "student", max_p: float = 0.05, relevance_level: int = 1, n_permutations: int = 1000,
            random_seed: int = 42) -> Comparison:
    """Evaluate several named runs on the queries they all share and test every pair on every metric.

    `stat_test` is ``student`` (paired t-test), ``fisher`` (randomization, `n_permutations`, `random_seed`) or
    ``tukey`` (HSD, corrected for the number of runs); p-values of student/fisher are not corrected.
    """
    if stat_test not in STAT_TESTS:
        raise ConfigError(f"unknown stat_test {stat_test!r}; choose one of {', '.join(STAT_TESTS)}")
    if not (0.0 < max_p < 1.0):
        raise InputError(f"max_p must be between 0 and 1, got {max_p!r}")
    if not isinstance(runs, Mapping) or len(runs) < 2:
        raise InputError("compare needs a dict of at least two named runs")
    names = [str(n) for n in runs]
    metric_names = parse_metrics(metrics)
    per_run = {str(n): evaluate_per_query(r, qrels, metric_names, relevance_level) for n, r in runs.items()}
    query_sets = [set(pq[metric_names[0]]) for pq in per_run.values()]
    shared = set.intersection(*query_sets)
    if not shared:
        raise DataError(f"the runs {names} share no judged query, so they cannot be compared")
    if any(len(s) != len(shared) for s in query_sets):
        log.warning("the runs cover different queries: comparing on the %d queries all of them share "
                    "(per run: %s)", len(shared), ", ".join(f"{n}={len(s)}" for n, s in zip(names, query_sets)))
    order = [q for q in per_run[names[0]][metric_names[0]] if q in shared]
    per_query = {n: {m: {q: pq[m][q] for q in order} for m in metric_names} for n, pq in per_run.items()}
    scores = {n: {m: math.fsum(v.values()) / len(v) for m, v in pq.items()} for n, pq in per_query.items()}
    tests: list[PairTest] = []
    for m in metric_names:
        p_values = _p_values({n: list(per_query[n][m].values()) for n in names}, stat_test, max_p, n_permutations,
                             random_seed)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                p = p_values.get((a, b), p_values.get((b, a), 1.0))
                p = 1.0 if math.isnan(p) else p
                significant = p <= max_p
                winner = None
                if significant and scores[a][m] != scores[b][m]:
                    winner = a if scores[a][m] > scores[b][m] else b
                tests.append(PairTest(m, a, b, p, significant, winner))
    return Comparison(scores, tests, per_query, stat_test, max_p)
