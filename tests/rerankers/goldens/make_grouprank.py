"""Generate tests/rerankers/goldens/grouprank.json by running GroupRank's reference implementation (run once).

    python tests/rerankers/goldens/make_grouprank.py --reference /path/to/AQ-MedAI+Diver/repo \
        --tokenizer $RERANKIT_MODELS/qwen2.5-coder-0.5b-instruct --data-dir ../shared/data \
        --recorded tests/rerankers/goldens/grouprank_qwen_outputs.json

(``grouprank_qwen_outputs.json``: the 6 answers the packaged Qwen gave in the eval/README.md GroupRank run, saved
with ``--save-outputs``.)

The reference script ``Reranker/rerank_groupwise.py`` of AQ-MedAI/Diver runs as ``__main__`` with its own argument
parser, seed, shuffles, prompts (rendered by the packaged Qwen tokenizer's chat template, as vLLM's tokenizer would),
answer parsing, averaging and retriever interpolation. Stand-ins replace only what it cannot run here: vLLM's ``LLM``
(its tokenizer is the real Qwen tokenizer; ``generate`` returns the fixed model outputs below, recorded by index),
``datasets.load_dataset`` (returns the DL19 query and candidates) and the metrics helper. The fixture keeps the
prompts, the outputs, the reference's score files and a parse table (each output alone in one unshuffled group).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from _reference import exec_source, head_commit, show, stub_module

REPO = "AQ-MedAI/Diver"
PATH = "Reranker/rerank_groupwise.py"


def answer(body: str, reason: str = "The documents are compared with the query.") -> str:
    return f"<reason> \n{reason}\n</reason>\n<answer> \n```json\n{body}\n``` \n</answer>"


def scores_json(n: int, k: int = 7, fmt: str = '"[{i}]": {s}') -> str:
    return "{" + ", ".join(fmt.format(i=i, s=(k * i) % 11) for i in range(1, n + 1)) + "}"


def outputs_for(n: int) -> list[str]:
    """Well-formed and adversarial answers for a group of n passages (the corpus both parsers must agree on)."""
    half = "{" + ", ".join(f'"[{i}]": {i % 10}' for i in range(1, n // 2 + 1)) + "}"
    return [
        answer(scores_json(n)),
        "```json\n" + scores_json(n, 3) + "\n```",  # no answer tags
        "<answer>" + scores_json(n, 5) + "</answer>",  # no code fence
        answer(scores_json(n, 2, '"[{i}]]": {s}')),  # "[7]]" bracket typo
        answer(scores_json(n, 4)[:-1]),  # closing brace missing
        answer(scores_json(n, 6, '"{i}": {s}')),  # bare numeric keys
        answer(scores_json(n, 8, '"[{i}]": {s}.5')),  # fractional scores
        answer(half),  # half of the passages left out
        answer('{"[0]": 9, "[1]": 4}'),  # [0] counts from the end in the reference
        answer(f'{{"[1]": 3, "[{n + 5}]": 8}}'),  # out of range: the whole group scores 0
        answer('{"[1]": "8", "[2]": 1}'),  # a string score: group scores 0
        answer('{"[1]": 15, "[2]": -2}'),  # outside the scale: kept as is
        answer('{"1": 2, "[1]": 6, "[2]": 5}'),  # one passage twice
        answer("[5, 3, 1]"),  # a list, not an object
        answer('{"scores": {"[1]": 5}}'),  # nested object
        "I think document 2 is the most useful, then document 1.",  # prose
        "<reason> long reasoning that was cut off before the answer ```json\n{\"[1]\": 4, \"[2]\"",  # truncated
        "<think>hmm</think>\n<reason>ok</reason>\n<answer>\n```json\n" + scores_json(n, 9) + "\n```\n</answer>",
        answer(scores_json(n)) + "\n<answer>```json\n{\"[1]\": 0}\n```</answer>",  # two answers: first one read
        "<reason>x</reason><answer>\n```json\n{\"[1]\": 1}\n```\n```json\n" + scores_json(n, 10) + "\n```</answer>",
    ]


class FakeOutput:
    def __init__(self, text: str) -> None:
        self.outputs = [type("O", (), {"text": text})()]


def install_stubs(tokenizer_path: str, state: dict) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_path)

    class LLM:  # vLLM stand-in: the real tokenizer, recorded outputs
        def __init__(self, model: str, **kwargs: object) -> None:
            state["llm_kwargs"] = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str))}

        def get_tokenizer(self):
            return tok

        def generate(self, prompts, sampling_params, use_tqdm=True):
            state["prompts"] = list(prompts)
            outs = state["outputs_fn"](len(prompts))
            assert len(outs) == len(prompts), (len(outs), len(prompts))
            state["outputs"] = outs
            return [FakeOutput(t) for t in outs]

    class SamplingParams:
        def __init__(self, **kwargs: object) -> None:
            state["sampling"] = dict(kwargs)

    def load_dataset(kind: str, data_files: str = "", **_: object) -> dict:
        if "examples/" in data_files:
            return {"train": state["examples"]}
        return {"train": state["documents"]}

    stub_module("vllm", LLM=LLM, SamplingParams=SamplingParams)
    stub_module("datasets", load_dataset=load_dataset)
    stub_module("utils.eval_util", calculate_retrieval_metrics=lambda results, qrels: {})


def run_reference(source: str, state: dict, query: dict, docs: list[dict], args: list[str],
                  no_shuffle: bool = False) -> dict:
    """Run the reference script as __main__ on one query; returns its two score files."""
    state["examples"] = [{"id": query["id"], "query": query["text"], "gold_ids": [], "excluded_ids": []}]
    state["documents"] = [{"id": d["id"], "content": d["text"]} for d in docs]
    with tempfile.TemporaryDirectory() as tmp:
        scores = Path(tmp) / "scores.json"
        scores.write_text(json.dumps({query["id"]: {d["id"]: d["score"] for d in docs}}))
        out = Path(tmp) / "out"
        sys.argv = [PATH, "--task", "biology", "--retriever_score_file", str(scores), "--output_dir", str(out),
                    "--input_k", str(len(docs)), "--k", str(len(docs)), "--model_path", state["tokenizer"], *args]
        if no_shuffle:
            real = random.shuffle
            random.shuffle = lambda x: None
        try:
            exec_source("__main__", source, PATH)  # the reference seeds `random` with 666 at import
        finally:
            if no_shuffle:
                random.shuffle = real
        return {"rerank": json.loads((out / "None_score.json").read_text())[query["id"]],
                "final": json.loads((out / "None_reranked_score.json").read_text())[query["id"]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="git directory of an AQ-MedAI/Diver snapshot")
    ap.add_argument("--tokenizer", required=True, help="the packaged qwen2.5-coder-0.5b-instruct folder")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--recorded", default=None, help="JSON list of real model outputs to add to the parse table")
    ap.add_argument("--out", default=str(Path(__file__).with_name("grouprank.json")))
    args = ap.parse_args()
    commit = head_commit(args.reference)
    source = show(args.reference, commit, PATH)
    state: dict = {"tokenizer": args.tokenizer}
    install_stubs(args.tokenizer, state)

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from rerankit.data import load_dataset as rk_load

    ds = rk_load("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    ranking = next(iter(ds.candidates("bm25").values()))
    query = {"id": ranking.query.id, "text": ranking.query.text}
    docs = [{"id": h.doc.id, "text": h.doc.full_text, "score": h.score} for h in ranking.hits[:25]]
    docs[3]["text"] = docs[3]["text"].replace(". ", ".\n\n", 2)  # newline runs become one space
    docs[4]["text"] = " ".join(h.doc.text for h in ranking.hits[:40])  # longer than 3,000 characters
    assert len(docs[4]["text"]) > 3000

    scenarios = []

    def cycle(k: int) -> list[str]:  # outputs for the groups in the order the reference sends them
        groups = state["group_sizes"]
        return [outputs_for(n)[(i + k) % len(outputs_for(n))] for i, n in enumerate(groups)]

    for name, ds_docs, cli, opts in [
        ("reference_protocol", docs, ["--group_size", "20", "--interval", "20", "--repeat_num", "6"],
         {"group_size": 20, "interval": 20, "repeats": 6}),
        ("overlapping_groups", docs[:7], ["--group_size", "4", "--interval", "3", "--repeat_num", "2"],
         {"group_size": 4, "interval": 3, "repeats": 2}),
        ("unit_scores", [{**d, "score": round(1 - i / 10, 3)} for i, d in enumerate(docs[:10])],
         ["--group_size", "5", "--interval", "5", "--repeat_num", "3"], {"group_size": 5, "interval": 5, "repeats": 3}),
    ]:
        n = len(ds_docs)
        gs, iv, rp = opts["group_size"], opts["interval"], opts["repeats"]
        state["group_sizes"] = [len(range(n)[i:i + gs]) for _ in range(rp) for i in range(0, n, iv)]
        offset = len(scenarios) * 3
        state["outputs_fn"] = lambda m, off=offset: cycle(off)
        res = run_reference(source, state, query, ds_docs, cli + ["--max_doc_len", "3000"])
        scenarios.append({"name": name, "options": opts, "docs": ds_docs, "prompts": state["prompts"],
                          "outputs": state["outputs"], "rerank": res["rerank"], "final": res["final"]})

    parse_table = []
    recorded = json.loads(Path(args.recorded).read_text()) if args.recorded else []
    cases = [(t, n) for n in (3, 20) for t in outputs_for(n)] + [(t, 20) for t in recorded]
    for text, n in cases:
        pdocs = [{"id": f"p{i}", "text": f"passage {i}", "score": 0.0} for i in range(1, n + 1)]
        state["group_sizes"] = [n]
        state["outputs_fn"] = lambda m, t=text: [t]
        res = run_reference(source, state, query, pdocs, ["--group_size", str(n), "--interval", str(n),
                                                          "--repeat_num", "1"], no_shuffle=True)
        parse_table.append({"output": text, "n": n, "rerank": res["rerank"]})

    fixture = {"repo": REPO, "commit": commit, "path": PATH, "generator": "tests/rerankers/goldens/make_grouprank.py",
               "tokenizer": "qwen2.5-coder-0.5b-instruct (packaged)", "query": query,
               "sampling": {k: v for k, v in state["sampling"].items()}, "scenarios": scenarios,
               "parse_table": parse_table}
    Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(scenarios)} scenarios, {len(parse_table)} parse cases, {REPO}@{commit[:8]}")


if __name__ == "__main__":
    main()
