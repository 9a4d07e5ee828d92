"""Rank-R1 setwise goldens generated once by running the reference code (ielab/llm-rankers @ a5ee1a97).

``R1SetwiseLlmRanker`` of ``Rank-R1/run_setwise.py`` (the code of the released v0.1 checkpoints) with its prompt file
``prompts/prompt_setwise-R1.toml`` reranks DL19 BM25 candidates by its own heap sort; the vLLM model is replaced
by a replay of fixed completions (realistic, malformed and adversarial ones, in call order), so the reference's
prompt building, set shuffling (``random.seed(929)``, ``random.sample``), answer parsing and heap sort all run as
they are. Recorded: every prompt (chat messages), every completion, the final top-k. ``vllm`` and ``pyserini`` are
empty stubs (nothing of theirs is called). To regenerate:

    mkdir -p /tmp/refs/llm-rankers && cd /tmp/refs/llm-rankers
    for f in llmrankers/__init__.py llmrankers/rankers.py llmrankers/setwise.py Rank-R1/run_setwise.py \\
             Rank-R1/prompts/prompt_setwise-R1.toml; do   # from a clone of ielab/llm-rankers at a5ee1a97
        mkdir -p $(dirname $f); git -C <clone> show a5ee1a97:$f > $f; done
    # an interpreter with transformers, torch, openai, tiktoken, toml
    python tests/rerankers/goldens/make_setwise.py --ref /tmp/refs/llm-rankers --data-dir ../shared/data

Read by tests/rerankers/test_setwise_goldens.py.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import logging
import sys
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent / "setwise.json"
COMMIT = "a5ee1a974e311e9704a4b1176ea37fa09bb7e08d"

# Completions replayed in call order: clean answers, answers the reference rejects, adversarial ones.
COMPLETIONS = [
    "<think>Document 3 defines the term.</think> <answer>[3]</answer>",
    "<think>none fits well</think>\n<answer>[1]</answer>",
    "<think>the second</think><answer>2</answer>",
    "<answer>[2]</answer>",
    "<think>x</think> <answer> [4] </answer>",
    "<THINK>Upper case tags.</THINK> <ANSWER>[5]</ANSWER>",
    "<think>out of range</think> <answer>[25]</answer>",
    "<think>two answers</think> <answer>[2]</answer> <answer>[3]</answer>",
    "I think [2] is best.",
    "<think>cut off mid reasoning",
    "<think>leading zero</think> <answer>[02]</answer>",
    "<think>ok</think>\n\n<answer>[6]</answer>",
    "",
    "<think>a</think> <answer>[7]</answer>",
]


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``vllm`` and ``pyserini`` (and submodules) as empty stubs."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if fullname.split(".")[0] in ("vllm", "pyserini"):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return _StubModule(spec.name)

    def exec_module(self, module):  # noqa: ANN001, ANN201
        module.__path__ = []


class _Replay:
    """Stands in for vllm.LLM: records each chat prompt and answers with the next fixed completion."""

    def __init__(self, completions: list[str]) -> None:
        self.completions, self.calls = list(completions), []

    def chat(self, input_text, sampling_params=None, use_tqdm=False, lora_request=None):  # noqa: ANN001, ANN201
        outs = []
        for messages in input_text:
            text = self.completions[len(self.calls) % len(self.completions)]
            self.calls.append({"messages": messages, "completion": text})
            out = types.SimpleNamespace(text=text, token_ids=[0])
            outs.append(types.SimpleNamespace(outputs=[out], prompt_token_ids=[0]))
        return outs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=Path, default=Path("/tmp/refs/llm-rankers"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    rankings = list(ds.candidates("bm25").values())[:2]

    sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, str(args.ref))
    import random

    import toml
    spec = importlib.util.spec_from_file_location("run_setwise", args.ref / "Rank-R1" / "run_setwise.py")
    run_setwise = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_setwise)
    from llmrankers.rankers import SearchResult

    prompt = toml.load(args.ref / "Rank-R1" / "prompts" / "prompt_setwise-R1.toml")
    scenarios = []
    for r, (n, num_child, k) in zip(rankings * 2, [(20, 19, 10), (12, 3, 5), (20, 4, 3), (9, 2, 4)]):
        ranker = run_setwise.R1SetwiseLlmRanker.__new__(run_setwise.R1SetwiseLlmRanker)
        ranker.prompt, ranker.lora_path, ranker.num_child, ranker.num_permutation = prompt, None, num_child, 1
        ranker.k, ranker.method, ranker.scoring, ranker.sampling_params = k, "heapsort", "generation", None
        ranker.total_compare = ranker.total_completion_tokens = ranker.total_prompt_tokens = 0
        ranker.llm = _Replay(COMPLETIONS)
        random.seed(929)  # as at the script's start: each scenario is the first query of a run
        docs = [SearchResult(docid=h.doc.id, score=h.score, text=h.doc.full_text) for h in r.hits[:n]]
        given = [{"docid": d.docid, "text": d.text} for d in docs]  # before rerank, which sorts `docs` in place
        ranked = ranker.rerank(r.query.text, docs)
        scenarios.append({"query": r.query.text, "docs": given,
                          "num_child": num_child, "k": k, "calls": ranker.llm.calls,
                          "top_k": [d.docid for d in ranked[:k]]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "generated_by": "tests/rerankers/goldens/make_setwise.py",
        "reference": f"ielab/llm-rankers Rank-R1/run_setwise.py + prompts/prompt_setwise-R1.toml @ {COMMIT}",
        "completions": COMPLETIONS, "scenarios": scenarios}, indent=1, ensure_ascii=False) + "\n")
    logging.getLogger(__name__).info("wrote %s", args.out)


if __name__ == "__main__":
    main()
