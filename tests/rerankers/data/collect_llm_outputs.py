"""Collect real raw listwise outputs of the packaged small LLMs (test data for the permutation parser).

    OMP_NUM_THREADS=1 python tests/rerankers/data/collect_llm_outputs.py --data-dir ../shared/data \
        --model smollm2-135m-instruct --out tests/rerankers/data/llm_outputs.json

Each record: model, template, window size, the raw output and its finish reason (greedy decoding, DL19 BM25 top
passages of the first queries). Re-running appends records from another model to the same file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.engines import GenerationParams, get_engine
from rerankit.rerankers.window_prompt import WindowPrompt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--templates", default="rankgpt,rankzephyr,rankvicuna,reasonrank")
    ap.add_argument("--windows", default="5,10")
    ap.add_argument("--max-new-tokens", type=int, default=60)
    ap.add_argument("--out", default="tests/rerankers/data/llm_outputs.json")
    args = ap.parse_args()
    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    rankings = list(ds.candidates("bm25").values())[: args.queries]
    engine = get_engine("transformers", args.model)
    out = Path(args.out)
    records = json.loads(out.read_text()) if out.exists() else []
    for name in args.templates.split(","):
        wp = WindowPrompt.load(name)
        for w in (int(x) for x in args.windows.split(",")):
            prompts = [wp.build(r.query.text, [h.doc.full_text for h in r.hits[:w]], 60) for r in rankings]
            for r, g in zip(rankings, engine.generate(prompts, GenerationParams(max_tokens=args.max_new_tokens))):
                records.append({"model": args.model, "template": name, "query_id": r.query.id, "window_size": w,
                                "output": g.text, "finish_reason": g.finish_reason})
    out.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
