"""Result tables (terminal text or Markdown) and trec_eval-style per-query output.

Rows are systems, columns are metrics; values are printed with 4 decimals, as papers and trec_eval report them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rerankit.evaluation.metrics import display_name

__all__ = ["format_table", "format_trec_eval", "render_table"]


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False,
                 right_from: int = 1) -> str:
    """Lay out string cells as an aligned text table or a Markdown pipe table (columns from `right_from` on are
    right-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).rjust(w) if i >= right_from else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    if markdown:
        rule = "|" + "|".join("-" * (w + 1) + ":" if i >= right_from else "-" * (w + 2)
                              for i, w in enumerate(widths)) + "|"
        return "\n".join([line(header), rule, *(line(r) for r in rows)])
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def format_table(results: Mapping[str, Mapping[str, float]], markdown: bool = False, digits: int = 4) -> str:
    """Systems x metrics table from ``{system: {metric: mean}}``; a metric a system lacks shows as ``-``."""
    if not results:
        return ""
    metrics: list[str] = []
    for scores in results.values():
        metrics.extend(m for m in scores if m not in metrics)
    header = ["system", *(display_name(m) for m in metrics)]
    rows = [[name, *(f"{scores[m]:.{digits}f}" if m in scores else "-" for m in metrics)]
            for name, scores in results.items()]
    return render_table(header, rows, markdown=markdown)


def format_trec_eval(per_query: Mapping[str, Mapping[str, float]], run_name: str | None = None,
                     digits: int = 4) -> str:
    """trec_eval ``-q`` style lines ``measure<TAB>qid<TAB>value``, each measure's mean last under qid ``all``.

    Measures use trec_eval's names where one exists (``ndcg_cut_10``, ``P_10``), else rerankit's (``mrr@10``).
    """
    from rerankit.evaluation.metrics import parse_metric

    lines: list[str] = []
    if run_name is not None:
        lines.append(f"{'runid':<22}\tall\t{run_name}")
    for metric, values in per_query.items():
        name = parse_metric(metric).trec_eval_name or metric
        for qid, value in values.items():
            lines.append(f"{name:<22}\t{qid}\t{value:.{digits}f}")
        if values:
            lines.append(f"{name:<22}\tall\t{sum(values.values()) / len(values):.{digits}f}")
    return "\n".join(lines)
