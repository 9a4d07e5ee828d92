"""Generate tests/rerankers/goldens/reasonrank.json by running ReasonRank's reference implementation (run once).

    python tests/rerankers/goldens/make_reasonrank.py --reference /path/to/8421BCD+ReasonRank/repo \
        --tokenizer $RERANKIT_MODELS/qwen2.5-coder-0.5b-instruct --data-dir ../shared/data

Runs, from a snapshot of 8421BCD/ReasonRank: ``RankListwiseOSLLM.create_prompt`` (prompt mode rank_GPT_reasoning,
``listwise_prompt_r1.toml``, ``utils.convert_doc_to_prompt_content`` with token truncation, ftfy) and
``RankLLM.receive_permutation`` (answer extraction and identifier parsing). The agent is created without its
constructor (which loads the model weights) and given the attributes those two methods read; ``toml``, ``dacite``,
``pyserini`` and vLLM are stand-ins (tomllib for toml). The fixture keeps prompts for a DL19 window (100 tokens) and
a BRIGHT-like window (512 tokens, titles, brackets, mojibake) and the window order for recorded and adversarial
outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import tomllib
from _reference import exec_source, head_commit, show, stub_module

REPO = "8421BCD/ReasonRank"

ADVERSARIAL = [
    "<think>Passage 3 is best, then 1.</think> <answer>[3] > [1] > [2]</answer>",
    "<THINK>upper case tags</THINK>\n<ANSWER>[2] > [3] > [1]</ANSWER>",
    "<think>I compare [4] and [2]. Passage [4] mentions the year 1999 and",  # cut off inside <think>
    "<think>short</think><answer>[2] > [1]",  # answer never closed
    "[3] > [2] > [1]",  # no tags at all
    "<answer>[1] > [1] > [3] > [9] > [0]</answer>",  # duplicates and out of range, no think
    "<think>a</think>\n\n<answer>[²] > [1]</answer>",  # a superscript digit: int() fails
    "<think>a</think><answer>[３] > [１]</answer>",  # full-width digits
    "<think>nothing useful</think><answer>none of them</answer>",
    "<think>x</think> <answer>[2]>[1]</answer> <answer>[3] > [1]</answer>",
    "",
]


def install_stubs(git_dir: str, commit: str) -> type:
    stub_module("toml", load=lambda path: tomllib.loads(Path(path).read_text()))
    stub_module("dacite", from_dict=lambda data_class, data: data_class(**data))
    stub_module("pyserini.search", JLuceneSearcherResult=object)
    stub_module("config", WORKSPACE_DIR="", PROJECT_DIR="")
    stub_module("vllm", LLM=None, SamplingParams=None)
    stub_module("vllm.lora.request", LoRARequest=object)
    if "faiss" not in sys.modules:
        try:
            import faiss  # noqa: F401
        except ImportError:
            stub_module("faiss")
    for name, path in [("data", "data.py"), ("rerank.rankllm", "rerank/rankllm.py"), ("utils", "utils.py"),
                       ("rerank.rank_listwise_os_llm", "rerank/rank_listwise_os_llm.py")]:
        stub_module("rerank")
        sys.modules[name] = exec_source(name, show(git_dir, commit, path), path)
    return sys.modules["rerank.rank_listwise_os_llm"].RankListwiseOSLLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="git directory of an 8421BCD/ReasonRank snapshot")
    ap.add_argument("--tokenizer", required=True, help="the packaged qwen2.5-coder-0.5b-instruct folder")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--recorded", default=str(Path(__file__).parents[1] / "data" / "llm_outputs.json"))
    ap.add_argument("--out", default=str(Path(__file__).with_name("reasonrank.json")))
    args = ap.parse_args()
    commit = head_commit(args.reference)
    agent_cls = install_stubs(args.reference, commit)
    data = sys.modules["data"]
    from transformers import AutoTokenizer

    agent = object.__new__(agent_cls)
    agent._tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    agent.prompt_mode = "rank_GPT_reasoning"
    agent.args = types.SimpleNamespace(prompt_mode="rank_GPT_reasoning")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(show(args.reference, commit, "listwise_prompt_r1.toml"))
    agent.prompt_info = tomllib.loads(Path(f.name).read_text())

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from rerankit.data import load_dataset

    ranking = next(iter(load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
                        .candidates("bm25").values()))
    dl19 = [{"id": h.doc.id, "title": "", "text": h.doc.text} for h in ranking.hits[:20]]
    tricky = [{"id": f"b{i}", "title": t, "text": x} for i, (t, x) in enumerate([
        ("Ocean tides", "Tides [3] are caused by the Moon.\n\nThe Sun [12] adds a smaller pull."),
        ("", "It doesnâ€™t matter: the â€œspringâ€\x9d tide is higher &amp; the neap tide lower."),
        ("Curly \u201cquotes\u201d", "  leading spaces and a list:\n- one\n- two  "),
        ("Long", " ".join(h.doc.text for h in ranking.hits[:12])),
    ])]
    scenarios = []
    for name, docs, qtext, maxlen in [("dl19", dl19, ranking.query.text, 100),
                                      ("bright_like", tricky, "why do [2] tides \u201crise\u201d twice?", 512)]:
        agent.max_passage_length = maxlen
        cands = [data.Candidate(docid=d["id"], score=1.0, doc=({"title": d["title"], "text": d["text"]}
                                                               if d["title"] else {"contents": d["text"]}))
                 for d in docs]
        result = data.Result(query=data.Query(qid="q", text=qtext), candidates=cands)
        prompt, _ = agent.create_prompt(result, 0, len(docs))
        scenarios.append({"name": name, "query": qtext, "max_passage_tokens": maxlen, "docs": docs, "prompt": prompt})

    recorded = [r for r in json.loads(Path(args.recorded).read_text()) if r["template"] == "reasonrank"]
    cases = [(r["output"], r["window_size"]) for r in recorded] + [(t, n) for t in ADVERSARIAL for n in (3, 5)]
    parse_table = []
    for text, n in cases:
        cands = [data.Candidate(docid=f"c{i}", score=float(n - i), doc={"contents": ""}) for i in range(n)]
        result = data.Result(query=data.Query(qid="q", text="q"), candidates=cands)
        out = agent.receive_permutation(result, text, 0, n)
        parse_table.append({"output": text, "n": n, "order": [int(c.docid[1:]) for c in out.candidates]})
    fixture = {"repo": REPO, "commit": commit, "generator": "tests/rerankers/goldens/make_reasonrank.py",
               "tokenizer": "qwen2.5-coder-0.5b-instruct (packaged)", "scenarios": scenarios,
               "parse_table": parse_table}
    Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(scenarios)} prompts, {len(parse_table)} parse cases, {REPO}@{commit[:8]}")


if __name__ == "__main__":
    main()
