"""Generate tests/rerankers/goldens/icr.json by running the ICR reference code (run once, outside the tests).

The reference, github.com/OSU-NLP-Group/In-Context-Reranking at commit REFERENCE_COMMIT, cannot be imported whole
here (its custom Llama/Mistral modelling files target transformers 4.4x and it loads an 8B model in __init__), so
this script takes the source of src/in_context_reranker.py at that commit and executes, unchanged:
- the ``if`` blocks of ``__init__`` that set the prompt separator and the IE/QA instructions,
- ``_setup_llm_prompts`` (Llama-3 and Mistral user-turn markers),
- ``_prepare_input_for_document_retrieval`` (the prompt string, passage token spans, query token indices),
- ``get_sorted_docs`` with scoring 'masked_NA_calibration' and 'query_last', fed synthetic per-token attention
  through a stand-in ``score_documents`` (the aggregation and calibration maths are the reference's own),
- ``_get_attn_weights`` (the query-row recomputation) on synthetic query and key tensors.
The reference's ``prompt_bos_length = 1`` assumes a tokenizer that adds a BOS token; for tokenizers that add none
(Qwen, SmolLM) the stand-in object sets it to 0, the only value under which its own length checks pass. Character
positions come from running the same code with a one-token-per-character stand-in tokenizer.

    git clone https://github.com/OSU-NLP-Group/In-Context-Reranking ref && git -C ref checkout 9117e9f1f6a97
    RERANKIT_MODELS=... python tests/rerankers/goldens/make_icr.py --reference ref
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

REFERENCE_REPO = "OSU-NLP-Group/In-Context-Reranking"
REFERENCE_COMMIT = "9117e9f1f6a9773d2289e9907110b39a325eb238"
OUT = Path(__file__).with_name("icr.json")

PASSAGES = [
    "Tides\nTides are the rise and fall of sea levels caused by the Moon's gravity.",
    "Bananas are a good source of potassium.",
    "The seasons are caused by the tilt of the Earth's axis relative to its orbit around the sun.",
    "",
    "Glass is made by melting sand with soda ash and lime; it cools into an amorphous solid. [citation needed]",
]
QUERIES = ["what causes the tides", "N/A", "  spaces around  "]


def reference_source(ref: Path) -> str:
    git = ["git", f"--git-dir={ref / '.git'}" if (ref / ".git").exists() else f"--git-dir={ref}"]
    return subprocess.run([*git, "show", f"{REFERENCE_COMMIT}:src/in_context_reranker.py"], check=True,
                          capture_output=True, text=True).stdout


def reference_parts(source: str) -> tuple[type, list[ast.stmt]]:
    """The reference class with only the methods this script runs, and the __init__ blocks that set prompts."""
    import torch
    from transformers.models.mistral.modeling_mistral import repeat_kv

    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "InContextReranker")
    keep = {"_setup_llm_prompts", "_prepare_input_for_document_retrieval", "get_sorted_docs", "_get_attn_weights",
            "_get_causal_mask"}
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    blocks = [n for n in init.body if isinstance(n, ast.If) and any(
        isinstance(t, ast.Attribute) and t.attr in ("prompt_separator", "retrieval_instruction")
        for s in ast.walk(n) if isinstance(s, ast.Assign) for t in s.targets)]
    cls.body = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in keep]
    module = ast.Module(body=[cls], type_ignores=[])
    ns: dict = {"torch": torch, "math": math, "gc": __import__("gc"), "repeat_kv": repeat_kv}
    exec(compile(module, "in_context_reranker.py", "exec"), ns)  # noqa: S102 - the reference's own code
    return ns["InContextReranker"], blocks


def configured(ref_cls: type, blocks: list[ast.stmt], llm_name: str, retrieval_type: str, tokenizer,
               prefix: str | None = None, suffix: str | None = None):
    """A stand-in reranker object set up by the reference's own __init__ blocks and _setup_llm_prompts."""
    self = ref_cls.__new__(ref_cls)
    self._base_llm_name = llm_name
    self.tokenizer = tokenizer
    self.prompt_template = "instruct"
    self.prompt_bos_length = int(int(tokenizer("a", return_tensors="pt").input_ids[0][0]) == tokenizer.bos_token_id)
    for b in blocks:
        exec(compile(ast.Module(body=[b], type_ignores=[]), "init", "exec"),  # noqa: S102
             {"print": lambda *a, **k: None, "self": self, "retrieval_type": retrieval_type})
    if prefix is None:
        _, prefix, suffix = ref_cls._setup_llm_prompts(self, "instruct", llm_name)
    self.prompt_prefix, self.prompt_suffix = prefix, suffix
    return self


class CharTokenizer:
    """One token per character and no BOS, so the reference's length arithmetic yields character positions. With
    ``extra=1`` every string also gets one leading piece, the Mistral tokenizer quirk the reference corrects for
    (``additional_prompt_offset``); positions then come out one higher and are shifted back."""

    bos_token_id = -1

    def __init__(self, extra: int = 0) -> None:
        self.extra = extra

    def __call__(self, text: str, return_tensors: str | None = None):
        import torch

        return SimpleNamespace(input_ids=torch.zeros((1, len(text) + self.extra), dtype=torch.long))


def prompt_cases(ref_cls, blocks) -> list[dict]:
    """The reference prompt for each marker set, task, query and list: its text and its character positions
    (through CharTokenizer), plus its token positions under the Qwen and SmolLM tokenizers where the reference's
    own length checks pass (BPE merges across its separators, such as ":" + "\n\n" in Qwen, make them raise) and
    its passage spans decode to exactly the passages."""
    from transformers import AutoTokenizer

    models = Path(os.environ.get("RERANKIT_MODELS", "~/.cache/rerankit-models")).expanduser()
    real = {name: AutoTokenizer.from_pretrained(models / name)
            for name in ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")}
    chatml = ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
    setups = [  # (markers, the model name the reference dispatches on, prefix/suffix when not the reference's)
        ("llama3", "meta-llama/Meta-Llama-3.1-8B-Instruct", None),
        ("mistral", "mistralai/Mistral-7B-Instruct-v0.2", None),
        ("chatml", "Qwen/Qwen2.5-Coder-0.5B-Instruct", chatml),
    ]
    cases = []
    for markers, name, pre_suf in setups:
        for task in ("IE", "QA"):
            for query in QUERIES:
                for n in (1, len(PASSAGES)):
                    self = configured(ref_cls, blocks, name, task, CharTokenizer(), *(pre_suf or (None, None)))
                    shift = self.additional_prompt_offset
                    self.tokenizer = CharTokenizer(shift)
                    docs = PASSAGES[:n]
                    if self.prompt_separator.startswith(" "):
                        # an empty passage ends with "[4] " and its space merges into " \n\n" in BPE tokenizers,
                        # where the reference's own token-length check raises: no empty passage here
                        docs = [d for d in docs if d]
                    text, spans, q_start, q_end = ref_cls._prepare_input_for_document_retrieval(
                        self, query, docs, system_prompt="", query_position="last")
                    case = {"markers": markers, "reference_llm_name": name, "task": task.lower(), "query": query,
                            "passages": docs, "text": text, "separator": self.prompt_separator,
                            "prefix": self.prompt_prefix, "suffix": self.prompt_suffix,
                            "doc_char_spans": [[a - shift, b - shift] for a, b in spans],
                            "query_start_char": q_start - shift, "query_end_char": q_end - shift, "tokens": {}}
                    for folder, tok in real.items():
                        other = configured(ref_cls, blocks, name, task, tok, *(pre_suf or (None, None)))
                        try:
                            t2, tspans, tq0, tq1 = ref_cls._prepare_input_for_document_retrieval(
                                other, query, docs, system_prompt="", query_position="last")
                        except Exception:  # noqa: BLE001 - the reference's length check: no token golden
                            continue
                        assert t2 == text
                        ids = tok(text).input_ids
                        pieces = [f"[{i}] {d}" for i, d in enumerate(docs, 1)]
                        if [tok.decode(ids[a:b]) for a, b in tspans] != pieces:
                            # its arithmetic assumes a separator tokenises alike alone and in context; where it
                            # does not (GPT-2-style splits of " \n\n["), its spans are off by a token: no golden
                            continue
                        case["tokens"][folder] = {"doc_token_spans": [list(x) for x in tspans],
                                                  "query_start_token": tq0, "query_end_token": tq1}
                    cases.append(case)
    return cases


def calibration_cases(ref_cls) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(0)
    cases = []
    for lengths in ([5, 1, 12, 2, 40], [3, 3, 3], [60, 17, 1, 1, 8, 25]):
        q = [torch.rand(n, generator=g) * 0.02 for n in lengths]
        c = [torch.rand(n, generator=g) * 0.02 for n in lengths]
        for strategy in ("masked_NA_calibration", "query_last"):
            calls = []

            class Cache:
                key_cache: list = []
                value_cache: list = []

            def score_documents(llm_prompt, spans, qs, qe, return_per_doc_results=False, return_cache=False,
                                kv_cache=None, context_start_idx=0, _q=q, _c=c, _calls=calls, _s=strategy):
                # the reference calls the calibration pass first under masked_NA_calibration
                toks = _c if (_s == "masked_NA_calibration" and not _calls) else _q
                _calls.append(1)
                per_doc = [[None, t.clone()] for t in toks]
                scores = torch.stack([t.sum() for t in toks])
                return (scores, per_doc, Cache()) if return_cache else (scores, per_doc)

            self = ref_cls.__new__(ref_cls)
            self.scoring_strategy = strategy
            self._prepare_input_for_document_retrieval = lambda *a, **k: ("", [], 0, 0)
            self.score_documents = score_documents
            if strategy == "query_last":  # the reference unpacks three values from score_documents here
                self.score_documents = lambda *a, **k: (*score_documents(*a, **k), None)
            _, scores, _ = ref_cls.get_sorted_docs(self, "q", [None] * len(lengths), return_per_doc_results="tok",
                                                   order="none")
            cases.append({"strategy": strategy, "query_tokens": [t.tolist() for t in q],
                          "calibration_tokens": [t.tolist() for t in c], "scores": scores.tolist()})
    return cases


def row_cases(ref_cls) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(1)
    cases = []
    for heads, kv_heads, rows, seq, dim in ((4, 2, 3, 7, 8), (6, 6, 1, 5, 4), (8, 2, 5, 23, 16)):
        query = torch.randn(1, heads, rows, dim, generator=g)
        key = torch.randn(1, kv_heads, seq, dim, generator=g)
        weights = ref_cls._get_attn_weights(key, query)  # [1, heads, rows, seq]
        per_token = weights.squeeze(0).mean(1).sum(0)  # the reference: mean over query rows, sum over heads
        cases.append({"query": query.tolist(), "key": key.tolist(), "per_token": per_token.tolist()})
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True, help="a clone (or git dir) of " + REFERENCE_REPO)
    args = ap.parse_args()
    ref_cls, blocks = reference_parts(reference_source(args.reference))
    out = {"reference": REFERENCE_REPO, "commit": REFERENCE_COMMIT, "script": "tests/rerankers/goldens/make_icr.py",
           "prompts": prompt_cases(ref_cls, blocks), "calibration": calibration_cases(ref_cls),
           "rows": row_cases(ref_cls)}
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    msg = f"wrote {OUT}: {len(out['prompts'])} prompts, {len(out['calibration'])} calibrations"
    print(msg)  # noqa: T201


if __name__ == "__main__":
    main()
