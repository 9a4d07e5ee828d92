"""Generate tests/rerankers/goldens/e2rank.json by running E²Rank's reference evaluation model (run once).

    python tests/rerankers/goldens/make_e2rank.py --reference /path/to/Alibaba-NLP+E2Rank/repo \
        --tokenizer $RERANKIT_MODELS/qwen2.5-coder-0.5b-instruct --data-dir ../shared/data

Runs ``EvalModel.__call__`` of Alibaba-NLP/E2Rank ``src/eval.py`` (document cut, listwise prompt, chat template,
end-of-text suffix, cosine scores, ranking) in listwise mode and in query-only ("embedding") mode with the dl19
prompts. vLLM is a stand-in: its tokenizer is the real packaged Qwen tokenizer and ``embed`` returns a unit vector
derived from a hash of each text (``goldens/replay.py``), so rerankit and the reference see the same embeddings
for the same texts. The fixture keeps the inputs, every text the reference embedded and its ranking.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _reference import exec_source, head_commit, show, stub_module

REPO = "Alibaba-NLP/E2Rank"
PATH = "src/eval.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="git directory of an Alibaba-NLP/E2Rank snapshot")
    ap.add_argument("--tokenizer", required=True, help="the packaged qwen2.5-coder-0.5b-instruct folder")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default=str(Path(__file__).with_name("e2rank.json")))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from replay import hash_vector
    from transformers import AutoTokenizer

    from rerankit.data import load_dataset

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    embedded: list[str] = []

    class LLM:
        def get_tokenizer(self):
            return tok

        def embed(self, texts, use_tqdm=False):
            texts = [texts] if isinstance(texts, str) else list(texts)
            embedded.extend(texts)
            return [type("R", (), {"outputs": type("E", (), {"embedding": hash_vector(t).tolist()})()})()
                    for t in texts]

    stub_module("vllm", LLM=LLM, SamplingParams=object, PoolingParams=object)
    stub_module("vllm.config", PoolerConfig=object)
    stub_module("datasets", load_dataset=None)
    stub_module("llm4ranking.ranker", ListwiseSilidingWindowReranker=object)
    stub_module("llm4ranking.evaluation.trec_eval", trec_eval=None)
    commit = head_commit(args.reference)
    mod = exec_source("e2rank_eval", show(args.reference, commit, PATH), PATH)

    ranking = next(iter(load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
                        .candidates("bm25").values()))
    docs = [h.doc.full_text for h in ranking.hits[:30]]
    docs[2] = " ".join(h.doc.text for h in ranking.hits[:40])  # over 1,024 words: cut
    docs[5] = "  spaced\n\nout   words  "
    assert len(docs[2].split()) > 1024
    cases = []
    for mode in ("listwise", "embedding"):
        embedded.clear()
        model = mod.EvalModel(LLM(), rank_method=mode, num_input_docs=20)
        if mode == "embedding":
            model.set_prompt_template("dl19")
        order = model(ranking.query.text, list(docs))
        cases.append({"mode": mode, "embedded": list(embedded), "ranking": order})
    fixture = {"repo": REPO, "commit": commit, "path": PATH, "generator": "tests/rerankers/goldens/make_e2rank.py",
               "tokenizer": "qwen2.5-coder-0.5b-instruct (packaged)", "query": ranking.query.text,
               "docs": docs, "cases": cases}
    Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(cases)} cases, {REPO}@{commit[:8]}")


if __name__ == "__main__":
    main()
