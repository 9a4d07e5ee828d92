"""Tables and the plot of eval/scaling.py's rows: eval/results/scaling.md and eval/results/scaling.png."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

KIND_LABEL = {"bm25": "BM25", "dense-flat": "dense flat", "dense-hnsw": "dense HNSW", "splade": "SPLADE"}
COLOURS = {"bm25": "tab:blue", "dense-flat": "tab:orange", "dense-hnsw": "tab:green", "splade": "tab:red"}
METRICS = [("build_cpu_s", "index time (CPU s, all threads)", 1.0),
           ("build_peak_rss_bytes", "peak memory while indexing (GiB)", 2.0 ** -30),
           ("disk_bytes", "index size on disk (MiB)", 2.0 ** -20),
           ("qps_cpu", "queries per CPU second (top-100)", 1.0)]


def _latest(rows: list[dict]) -> dict[tuple, dict]:
    out = {}
    for r in rows:
        out[(r["size"], r["kind"], r["side"])] = r  # later rows replace earlier ones
    return out


def _load(r: dict) -> str:
    return f"{r['load_start'][0]:.1f} -> {r['load_end'][0]:.1f}"


def _num(v: float) -> str:
    return f"{v:,.2f}" if v < 10 else f"{v:,.1f}"


def table(rows: dict[tuple, dict]) -> list[str]:
    lines = ["| documents | index | side | index wall s | index CPU s | peak RSS GiB (inputs) | disk MiB (doc store) "
             "| q/s wall | q/CPU-s | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (size, kind, side), r in sorted(rows.items(), key=lambda kv: (kv[0][0], list(KIND_LABEL).index(kv[0][1]),
                                                                      kv[0][2] != "rerankit")):
        who = "rerankit" if side == "rerankit" else r["peer"]
        store = f" ({r['docstore_bytes'] / 2**20:,.0f})" if r["docstore_bytes"] else ""
        lines.append(f"| {size:,} | {KIND_LABEL[kind]} | {who} | {_num(r['build_wall_s'])} | {_num(r['build_cpu_s'])} "
                     f"| {r['build_peak_rss_bytes'] / 2**30:.2f} ({r['inputs_rss_bytes'] / 2**30:.2f}) "
                     f"| {r['disk_bytes'] / 2**20:,.0f}{store} | {r['qps_wall']:,.0f} | {r['qps_cpu']:,.0f} "
                     f"| {_load(r)} |")
    return lines


def growth(rows: dict[tuple, dict]) -> list[str]:
    """Exponent e in metric ~ N**e between consecutive measured sizes (1 = linear)."""
    lines = ["| index | side | sizes | index CPU s | peak RSS | disk | CPU s per query |",
             "|---|---|---|---|---|---|---|"]
    for kind in KIND_LABEL:
        for side in ("rerankit", "peer"):
            sizes = sorted(s for (s, k, d) in rows if k == kind and d == side)
            for a, b in zip(sizes, sizes[1:]):
                ra, rb = rows[(a, kind, side)], rows[(b, kind, side)]
                scale = math.log(b / a)

                def e(key, ra=ra, rb=rb, scale=scale, inv=False):
                    va, vb = ra[key], rb[key]
                    if inv:
                        va, vb = 1 / va, 1 / vb
                    return f"{math.log(vb / va) / scale:.2f}" if va > 0 and vb > 0 else "-"
                who = "rerankit" if side == "rerankit" else ra["peer"]
                lines.append(f"| {KIND_LABEL[kind]} | {who} | {a:,} -> {b:,} | {e('build_cpu_s')} "
                             f"| {e('build_peak_rss_bytes')} | {e('disk_bytes')} | {e('qps_cpu', inv=True)} |")
    return lines


def agreement(rows: dict[tuple, dict], topids: Path) -> list[str]:
    lines = ["| documents | index | check | value |", "|---|---|---|---|"]
    for size in sorted({s for s, _, _ in rows}):
        for kind in KIND_LABEL:
            a, b = topids / f"{size}-{kind}-rerankit.npy", topids / f"{size}-{kind}-peer.npy"
            if a.is_file() and b.is_file():
                x, y = np.load(a), np.load(b)
                same = float(np.mean([(u == v).all() for u, v in zip(x, y)]))
                overlap = float(np.mean([len(set(u[u >= 0]) & set(v[v >= 0])) / (v >= 0).sum() if (v >= 0).any()
                                         else float(not (u >= 0).any()) for u, v in zip(x, y)]))
                lines.append(f"| {size:,} | {KIND_LABEL[kind]} | rerankit vs peer: identical top-10 lists / mean "
                             f"top-10 overlap ({len(x)} queries) | {same:.2f} / {overlap:.3f} |")
        flat = next((f for side in ("peer", "rerankit") if (f := topids / f"{size}-dense-flat-{side}.npy").is_file()),
                    None)
        hnsw, who = next(((f, who) for side, who in (("peer", "faiss HNSW"), ("rerankit", "rerankit's HNSW"))
                          if (f := topids / f"{size}-dense-hnsw-{side}.npy").is_file()), (None, ""))
        if flat is not None and hnsw is not None:  # the peer's graph where measured, else rerankit's (same faiss call)
            x, y = np.load(flat), np.load(hnsw)
            recall = float(np.mean([len(set(u) & set(v)) / 10 for u, v in zip(x, y)]))
            lines.append(f"| {size:,} | dense HNSW | recall@10 of {who} against exact (flat) search | "
                         f"{recall:.3f} |")
    return lines


def plot(rows: dict[tuple, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, title, scale) in zip(axes.flat, METRICS):
        for kind in KIND_LABEL:
            for side, style in (("rerankit", "-"), ("peer", "--")):
                pts = sorted((s, r[key] * scale) for (s, k, d), r in rows.items() if k == kind and d == side)
                if not pts:
                    continue
                peer = next(r["peer"] for (s, k, d), r in rows.items() if k == kind and d == side)
                label = f"{KIND_LABEL[kind]}: {'rerankit' if side == 'rerankit' else peer}"
                ax.plot(*zip(*pts), style, marker="o", color=COLOURS[kind], label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    loads = [r["load_start"][0] for r in rows.values()] + [r["load_end"][0] for r in rows.values()]
    fig.suptitle(f"rerankit (solid) vs the library it wraps (dashed), synthetic MS MARCO-like corpora; "
                 f"2 cores, load average {min(loads):.1f}-{max(loads):.1f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_lines(calib: dict | None) -> list[str]:
    if not calib:
        return []
    m, s = calib["minilm"], calib["splade_tiny"]
    return [f"Encoders on real passages ({calib['sample']}; load {calib['load_avg'][0]:.1f}):",
            f"- all-MiniLM-L6-v2 (torch, batch 32): {m['docs_per_s']:.0f} docs/s wall, {m['docs_per_cpu_s']:.0f} "
            f"docs per CPU second; 1M documents would take {m['hours_for_1M_wall']:.1f} h at that wall rate "
            f"({m['cpu_hours_for_1M']:.1f} CPU hours).",
            f"- splade-tiny: {s['docs_per_s']:.0f} docs/s wall, {s['docs_per_cpu_s']:.0f} docs per CPU second "
            f"({s['hours_for_1M_wall']:.1f} h for 1M); {s['doc_nnz_mean']:.0f} terms a passage (median "
            f"{s['doc_nnz_median']:.0f}), {s['query_nnz_mean']:.0f} a query, of a {s['vocab_size']:,}-entry "
            "vocabulary: the synthetic SPLADE vectors follow these."]


def not_measured(latest: dict[tuple, dict], failed: list[dict]) -> list[str]:
    """The attempts that did not give a row (and were not measured later)."""
    lines = []
    for f in failed:
        if (f["size"], f["kind"], f["side"]) not in latest:
            lines.append(f"- not measured: {f['size']:,} documents, {KIND_LABEL[f['kind']]}, {f['side']}: "
                         f"{f['why']} ({f['at']}, load {f['load'][0]:.1f})")
    return [*dict.fromkeys(lines), ""] if lines else []


def write_report(rows: list[dict], calib: dict | None, topids: Path, out_dir: Path,
                 failed: list[dict] = ()) -> None:
    latest = _latest(rows)
    lines = ["# Scaling (eval/scaling.py)", "", *table(latest), "", *not_measured(latest, list(failed)),
             "Growth exponent e (metric ~ N^e; 1 = linear):", "", *growth(latest), "", *agreement(latest, topids), "",
             *calibration_lines(calib)]
    text = "\n".join(lines) + "\n"
    (out_dir / "scaling.md").write_text(text, encoding="utf-8")
    if latest:
        plot(latest, out_dir / "scaling.png")
    print(text)
