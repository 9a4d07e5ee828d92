"""PRP goldens generated once by running the reference code (ielab/llm-rankers @ b36517bf, llmrankers/pairwise.py).

``PairwiseLlmRanker.rerank`` runs as it is on DL19 BM25 candidates: its prompt, its chat-template path for causal
models (``model_type == "llama"``: the packaged SmolLM2 tokenizer and chat template, " Passage:" appended, one
generated token read stripped and upper-cased), its T5 path for ``allpair`` (the only path where llm-rankers
implements allpair; raw prompts, "Passage A"/"Passage B" outputs), its heap sort and bubble sort. Only the model
is replaced: a judge that answers each prompt from fixed grades of the two passages it shows, with position bias
(equal grades answer "A" in both orders, a conflict) and malformed answers (lower case, a stray token, "C").
Recorded per scenario: every prompt in call order with its answer, and the final top-k. To regenerate:

    mkdir -p /tmp/refs/llm-rankers && cd /tmp/refs/llm-rankers
    for f in llmrankers/__init__.py llmrankers/rankers.py llmrankers/pairwise.py; do   # a clone at b36517bf
        mkdir -p $(dirname $f); git -C <clone> show b36517bf:$f > $f; done
    # an interpreter with torch, transformers, tiktoken, openai; the packaged smollm2-135m-instruct tokenizer
    python tests/rerankers/goldens/make_pairwise.py --ref /tmp/refs/llm-rankers --data-dir ../shared/data \\
        --tokenizer $RERANKIT_MODELS/smollm2-135m-instruct

Read by tests/rerankers/test_pairwise_goldens.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent / "pairwise.json"
COMMIT = "b36517bf17a3956dc56c4c967f972d02390b1cdd"
_PAIR = re.compile(r'Passage A: "(.*)"\n\nPassage B: "(.*)"\n\nOutput Passage A or Passage B:', re.DOTALL)


def judge(prompt: str, grades: dict[str, int], lower: bool = True) -> str:
    """The answer (as generated text) to one prompt, from the grades of its two passages.

    `lower` False (the T5 path, which compares outputs without upper-casing them) gives " C" for lower case.
    """
    a, b = _PAIR.search(prompt).groups()
    ga, gb = grades[a], grades[b]
    if ga == gb:
        return " A"  # position bias: the same answer in both orders is a conflict
    if abs(ga - gb) == 3:
        return (" a" if ga > gb else " b") if lower else " C"  # lower case: the reference upper-cases it
    if ga + gb == 7:
        return " C"  # neither label: a conflict
    return " A" if ga > gb else " B"


class _Recorder:
    """Wraps a tokenizer to record the prompt strings the reference tokenizes."""

    def __init__(self, tok) -> None:  # noqa: ANN001
        self.tok, self.texts = tok, []

    def __call__(self, texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204
        self.texts.append(list(texts))
        return self.tok(texts, *args, **kwargs)

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(self.tok, name)


class _CausalJudge:
    """Stands in for AutoModelForCausalLM: appends one token, the judge's answer to the prompt it was given."""

    def __init__(self, rec: _Recorder, grades: dict[str, int], calls: list) -> None:
        self.rec, self.grades, self.calls = rec, grades, calls

    def generate(self, input_ids, **kwargs):  # noqa: ANN001, ANN003, ANN201
        import torch

        rows = []
        for text in self.rec.texts[-1]:
            answer = judge(text, self.grades)
            ids = self.rec.tok.encode(answer, add_special_tokens=False)
            assert len(ids) == 1, answer
            self.calls.append({"prompt": text, "answer": answer})
            rows.append(ids)
        return torch.cat([input_ids, torch.tensor(rows)], dim=1)


class _T5Judge:
    """Stands in for T5ForConditionalGeneration.generate: outputs that decode to the judge's "Passage X"."""

    def __init__(self, tok, grades: dict[str, int], calls: list) -> None:  # noqa: ANN001
        self.tok, self.grades, self.calls = tok, grades, calls
        self.device = "cpu"

    def generate(self, input_ids, **kwargs):  # noqa: ANN001, ANN003, ANN201
        import torch

        rows = []
        for ids in input_ids:
            text = self.tok.decode(ids, skip_special_tokens=True)
            answer = "Passage " + judge(text, self.grades, lower=False).strip()
            self.calls.append({"prompt": text, "answer": answer})
            rows.append(self.tok.encode(answer, add_special_tokens=False))
        width = max(len(r) for r in rows)
        pad = self.tok.pad_token_id
        return torch.tensor([r + [pad] * (width - len(r)) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=Path, default=Path("/tmp/refs/llm-rankers"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    import torch
    from transformers import AutoTokenizer

    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    rankings = list(ds.candidates("bm25").values())[:3]
    sys.path.insert(0, str(args.ref))
    from llmrankers.pairwise import PairwiseLlmRanker
    from llmrankers.rankers import SearchResult

    scenarios = []
    plan = [("heapsort", 0, 12, 5), ("bubblesort", 1, 10, 4), ("heapsort", 2, 9, 9), ("allpair", 0, 7, 7),
            ("bubblesort", 2, 12, 12)]
    for method, qi, n, k in plan:
        r = rankings[qi]
        texts = [h.doc.full_text for h in r.hits[:n]]
        grades = {t: (7 * i + 3) % 5 for i, t in enumerate(texts)}  # fixed, not the first-stage order
        calls: list = []
        ranker = PairwiseLlmRanker.__new__(PairwiseLlmRanker)
        ranker.method, ranker.k, ranker.batch_size = method, k, 2
        ranker.total_compare = ranker.total_completion_tokens = ranker.total_prompt_tokens = 0
        tok = AutoTokenizer.from_pretrained(args.tokenizer)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        # the reference sets its prompt in __init__, which also loads a model: take the string from there
        ranker.prompt = next(c for c in PairwiseLlmRanker.__init__.__code__.co_consts
                             if isinstance(c, str) and "Passage A" in c)
        if method == "allpair":
            ranker.config = types.SimpleNamespace(model_type="t5")
            ranker.tokenizer = tok
            ranker.llm = _T5Judge(tok, grades, calls)
            ranker.decoder_input_ids = torch.zeros((2, 2), dtype=torch.long)
        else:
            ranker.config = types.SimpleNamespace(model_type="llama")
            rec = _Recorder(tok)
            ranker.tokenizer, ranker.device = rec, "cpu"
            ranker.llm = _CausalJudge(rec, grades, calls)
        docs = [SearchResult(docid=h.doc.id, score=h.score, text=h.doc.full_text) for h in r.hits[:n]]
        given = [{"docid": d.docid, "text": d.text} for d in docs]
        ranked = ranker.rerank(r.query.text, docs)
        scenarios.append({"method": method, "k": k, "query": r.query.text, "docs": given, "calls": calls,
                          "order": [d.docid for d in ranked]})
    args.out.write_text(json.dumps({
        "generated_by": "tests/rerankers/goldens/make_pairwise.py",
        "reference": f"ielab/llm-rankers llmrankers/pairwise.py PairwiseLlmRanker @ {COMMIT}",
        "prompt": ranker.prompt, "tokenizer": Path(args.tokenizer).name, "scenarios": scenarios},
        indent=1, ensure_ascii=False) + "\n")
    logging.getLogger(__name__).info("wrote %s", args.out)


if __name__ == "__main__":
    main()
