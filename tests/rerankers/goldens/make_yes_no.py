"""Qwen3-Reranker golden generated once by running the model card's own code (QwenLM/Qwen3-Embedding @ f4ad0c43).

``examples/qwen3_reranker_transformers.py`` is the code of the Qwen3-Reranker model card: ``Qwen3Reranker``
(prefix, suffix, ``format_instruction``, ``process_inputs``: the token ids the model reads, and the "yes"/"no"
token ids it scores). It runs here with the packaged Qwen tokenizer (same special tokens as Qwen3's) and its
weights-loading call replaced by a placeholder, since only the input ids are recorded. To regenerate:

    git clone https://github.com/QwenLM/Qwen3-Embedding /tmp/refs/Qwen3-Embedding   # at f4ad0c43
    python tests/rerankers/goldens/make_yes_no.py --ref /tmp/refs/Qwen3-Embedding --data-dir ../shared/data

Read by tests/rerankers/test_yes_no_goldens.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent / "yes_no.json"
COMMIT = "f4ad0c434c0e3534494e26a4a6bdfd8ab1431968"
TOKENIZER = "qwen2.5-coder-0.5b-instruct"
CARD_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=Path, default=Path("/tmp/refs/Qwen3-Embedding"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    r = next(iter(ds.candidates("bm25").values()))
    pairs = [(r.query.text, h.doc.full_text) for h in r.hits[:4]]
    pairs += [("what is [2] “foo”?", "Tom &amp; Jerry <b>bold</b>\nnew line"), ("q", "")]

    spec = importlib.util.spec_from_file_location("qwen3_reranker", args.ref / "examples" /
                                                  "qwen3_reranker_transformers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class _NoWeights:  # from_pretrained(...).cuda().eval() and .device: no weights are needed for input ids
        device = "cpu"

        def cuda(self):  # noqa: ANN201
            return self

        def eval(self):  # noqa: ANN201
            return self

    mod.AutoModelForCausalLM = types.SimpleNamespace(from_pretrained=lambda *a, **k: _NoWeights())
    root = Path(os.environ.get("RERANKIT_MODELS", Path.home() / ".cache" / "rerankit-models"))
    ranker = mod.Qwen3Reranker(str(root / TOKENIZER), max_length=8192, instruction=CARD_INSTRUCTION)
    cases = []
    for q, d in pairs:
        inputs = ranker.process_inputs([ranker.format_instruction(None, q, d)])
        cases.append({"query": q, "document": d, "input_ids": inputs["input_ids"][0].tolist()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "generated_by": "tests/rerankers/goldens/make_yes_no.py",
        "reference": f"QwenLM/Qwen3-Embedding examples/qwen3_reranker_transformers.py @ {COMMIT}",
        "tokenizer": TOKENIZER, "instruction": CARD_INSTRUCTION, "max_length": 8192,
        "yes_id": ranker.token_true_id, "no_id": ranker.token_false_id, "cases": cases},
        indent=1, ensure_ascii=False) + "\n")
    logging.getLogger(__name__).info("wrote %s", args.out)


if __name__ == "__main__":
    main()
