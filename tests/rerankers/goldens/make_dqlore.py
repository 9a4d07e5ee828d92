"""Generate tests/rerankers/goldens/dqlore.json by running DQ-LoRe's reference LoRe step (run once).

    python tests/rerankers/goldens/make_dqlore.py --reference /path/to/AI4fun+DQ-LoRe/repo

Takes the function ``PCA_svd`` from the reference's ``qa_inferencer.py`` (the rest of that file needs hydra,
accelerate and a trained retriever) and runs it with torch on seeded embeddings of the shapes the reference uses
(the query plus its 16 nearest exemplars, 384- and 768-dimensional; also a 64-dimensional case where k = 128
exceeds the dimension), then scores the candidates with a flat inner-product index as its ``pca`` function does
(faiss when installed, else float32 numpy inner products). The fixture keeps the inputs and the reference's scores
and order.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import numpy as np
import torch
from _reference import head_commit, show

REPO = "AI4fun/DQ-LoRe"
PATH = "qa_inferencer.py"


def reference_pca_svd(source: str):
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "PCA_svd")
    ns: dict = {"torch": torch}
    exec(compile(ast.Module([fn], []), PATH, "exec"), ns)  # noqa: S102 - the reference function itself
    return ns["PCA_svd"]


def inner_product_search(comp: np.ndarray) -> tuple[list[float], list[int]]:
    query, cands = comp[:1].astype(np.float32), comp[1:].astype(np.float32)
    try:
        import faiss

        index = faiss.IndexIDMap(faiss.IndexFlatIP(comp.shape[1]))
        index.add_with_ids(cands, np.arange(len(cands)))
        scores, ids = index.search(query, len(cands))
        return scores[0].tolist(), ids[0].tolist()
    except ImportError:
        s = cands @ query[0]
        order = np.argsort(-s, kind="stable")
        return s[order].tolist(), order.tolist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="git directory of an AI4fun/DQ-LoRe snapshot")
    ap.add_argument("--out", default=str(Path(__file__).with_name("dqlore.json")))
    args = ap.parse_args()
    commit = head_commit(args.reference)
    pca_svd = reference_pca_svd(show(args.reference, commit, PATH))
    cases = []
    for seed, dim in [(0, 384), (1, 768), (2, 64), (3, 384)]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(17, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)  # unit vectors, like the retriever's embeddings
        comp = pca_svd(torch.tensor(x), 128, device=torch.device("cpu")).to(torch.float32).numpy()
        scores, order = inner_product_search(comp)
        cases.append({"seed": seed, "dim": dim, "k": 128, "embeddings": x.tolist(), "components": comp.tolist(),
                      "scores_in_order": scores, "order": order})
    fixture = {"repo": REPO, "commit": commit, "path": PATH, "function": "PCA_svd",
               "generator": "tests/rerankers/goldens/make_dqlore.py", "torch": torch.__version__, "cases": cases}
    Path(args.out).write_text(json.dumps(fixture) + "\n")
    print(f"wrote {args.out}: {len(cases)} cases, {REPO}@{commit[:8]}")


if __name__ == "__main__":
    main()
