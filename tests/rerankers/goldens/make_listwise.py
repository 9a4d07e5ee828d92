"""Listwise goldens generated once by running the reference implementations themselves (not our templates).

References (each recorded in the output file with its version or commit):

- rank_llm 0.12.8 (PyPI wheel, the last release with the 2023 RankZephyr/RankVicuna prompt) with FastChat 0.2.36
  (PyPI ``fschat``): ``RankListwiseOSLLM.create_prompt`` with ZephyrReranker / VicunaReranker defaults;
- rank_llm 0.25.7 (PyPI wheel): ``create_prompt`` with ``rank_zephyr_template.yaml`` (the 2025 wording), and
  ``ListwiseRankLLM.receive_permutation`` (the answer parser);
- sunnweiwei/RankGPT ``rank_gpt.py`` @ 0d62bc38: ``create_permutation_instruction`` and ``receive_permutation``;
- gangiswag/llm-reranker ``scripts/utils/rank_listwise_os_llm.py`` @ 2d7cba42 (FIRST): ``create_prompt`` with
  ``use_alpha=True`` and the system message of ``llm_util.py``, primed with "[" as its ``run_llm`` does.

Each reference runs in its own interpreter (two rank_llm versions cannot share one) with only its prompt code
called; ``vllm`` (and rank_llm's unrelated FiD module) are replaced by empty stub modules (no model is loaded).
Inputs: DL19 BM25 candidates from the data mirror plus adversarial texts (brackets, titles, mojibake, HTML
entities, a 2,000-word passage), rendered and counted with the packaged tokenizers. To regenerate:

    mkdir -p /tmp/refs && cd /tmp/refs
    for p in rank-llm==0.12.8 rank-llm==0.25.7 fschat==0.2.36; do pip download --no-deps "$p" -d wheels; done
    for w in wheels/*.whl; do d=$(basename "${w%.whl}"); mkdir -p "$d" && unzip -qo "$w" -d "$d"; done
    git clone https://github.com/sunnweiwei/RankGPT && git -C RankGPT checkout 0d62bc38
    git clone https://github.com/gangiswag/llm-reranker && git -C llm-reranker checkout 2d7cba42
    # a venv with the shared site-packages plus ftfy, dacite, psutil, python-dotenv, openai, tiktoken
    python tests/rerankers/goldens/make_listwise.py --refs /tmp/refs --data-dir ../shared/data

The output (tests/rerankers/goldens/listwise.json) is read by tests/rerankers/test_listwise_goldens.py.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent / "listwise.json"
TOKENIZERS = tuple(os.environ.get("GOLDEN_TOKENIZERS", "qwen2.5-coder-0.5b-instruct,smollm2-135m-instruct").split(","))
RANKLLM_SYSTEM = ("You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the "
                  "query")
REFS = {
    "rank_llm_0.12.8": "rank_llm-0.12.8-py3-none-any",
    "rank_llm_0.25.7": "rank_llm-0.25.7-py3-none-any",
    "fschat_0.2.36": "fschat-0.2.36-py3-none-any",
    "RankGPT": "RankGPT",
    "llm-reranker": "llm-reranker",
}

ADVERSARIAL_OUTPUTS = [
    "[2] > [1] > [3]", "[3] > [3] > [1]", "2 > 1", "The ranking is [2] > [1] because passage 3 is off topic.",
    "[25] > [1]", "", "I cannot rank these passages.", "[¹] > [²]", "<think>[1] > [2]</think>[2] > [1]",
    "[2]>[1]>[4]>[3]", "[0] > [2]", "１ > ２ > ３", "🄂 > 🄁", "[02] > [1]", "[3] > [1] > [2] > [3] > [1]",
    "٣ > ١", "[2] > [1] > [3] > [4] > [5] > [6] > [7] > [8] > [9] > [10] > [11] > [12] > [13] > [14] > [15]",
]
ADVERSARIAL_ALPHA = ["[B] > [A] > [C]", "B > A", "The answer: [C] > [A]", "[AB] > [a]", "[C] > [C] > [B]", ""]


# ---- the inputs -----------------------------------------------------------------------------------------------
def _cases(data_dir: str | None) -> list[dict]:
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=data_dir)
    rankings = list(ds.candidates("bm25").values())[:2]
    dl = [{"query": r.query.text, "docs": [{"docid": h.doc.id, "title": h.doc.title, "text": h.doc.text}
                                           for h in r.hits[:20]]} for r in rankings]
    long = " ".join(f"word{i} [{i % 30}]" for i in range(1000))
    adv_docs = [
        {"docid": "t1", "title": "Foo [3] Bar", "text": "The title has brackets; so does [12] the text."},
        {"docid": "t2", "title": "", "text": "Mojibake: donâ€™t panic, it’s “quoted” – fine. [B] stays."},
        {"docid": "t3", "title": "", "text": "Tom &amp; Jerry &lt;3 and an [abc] word."},
        {"docid": "t4", "title": "HTML", "text": "<b>bold</b> &amp; after a tag\nnew line\ttab   spaces"},
        {"docid": "t5", "title": "", "text": long},
        {"docid": "t6", "title": "", "text": "   "},
        {"docid": "t7", "title": "", "text": "ﬁnal ligature and full-width ＡＢＣ１２３"},
    ]
    adv_q = "what is [2] “foo” &amp; bar?"
    return [
        {"name": "dl19-q1-w20-ctx4096", **dl[0], "context": 4096},
        {"name": "dl19-q2-w20-ctx1200", **dl[1], "context": 1200},
        {"name": "dl19-q1-w7-ctx4096", "query": dl[0]["query"], "docs": dl[0]["docs"][:7], "context": 4096},
        {"name": "adversarial-w7-ctx4096", "query": adv_q, "docs": adv_docs, "context": 4096},
        {"name": "adversarial-w7-ctx900", "query": adv_q, "docs": adv_docs, "context": 900},
    ]


def _outputs(llm_outputs: Path) -> list[dict]:
    recorded = json.loads(llm_outputs.read_text())
    out = [{"text": r["output"], "size": r["window_size"], "identifiers": "numeric", "source": "recorded"}
           for r in recorded if r["template"] != "reasonrank"]
    out += [{"text": t, "size": 10, "identifiers": "numeric", "source": "adversarial"} for t in ADVERSARIAL_OUTPUTS]
    out += [{"text": t, "size": 5, "identifiers": "numeric", "source": "adversarial"} for t in ADVERSARIAL_OUTPUTS]
    out += [{"text": t, "size": 5, "identifiers": "alpha", "source": "adversarial"} for t in ADVERSARIAL_ALPHA]
    return out


# ---- workers (run in a subprocess with one reference on sys.path) -----------------------------------------------
class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


# Modules replaced by empty stubs: vLLM (no model is loaded) and rank_llm's FiD reranker (imported by its package
# __init__; its T5 code needs an older transformers), neither of which the prompt or parse code calls.
STUBS = ("vllm", "rank_llm.rerank.listwise.rank_fid")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes the STUBS modules (and their submodules) importable as empty stubs: only prompt code is called."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if any(fullname == s or fullname.startswith(s + ".") for s in STUBS):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return _StubModule(spec.name)

    def exec_module(self, module):  # noqa: ANN001, ANN201
        module.__path__ = []


def _tokenizer(name: str):  # noqa: ANN202
    from transformers import AutoTokenizer

    root = Path(os.environ.get("RERANKIT_MODELS", Path.home() / ".cache" / "rerankit-models"))
    return AutoTokenizer.from_pretrained(str(root / name))


def _worker_rankllm012(cases: list[dict], outputs: list[dict]) -> dict:
    from rank_llm.data import Candidate, Query, Result
    from rank_llm.rerank.rank_listwise_os_llm import RankListwiseOSLLM

    out: dict = {"rankzephyr": {}, "rankvicuna": {}}
    for tok_name in TOKENIZERS:
        tok = _tokenizer(tok_name)
        for method, model, system, variable in (("rankzephyr", "castorini/rank_zephyr_7b_v1_full", RANKLLM_SYSTEM,
                                                 True), ("rankvicuna", "castorini/rank_vicuna_7b_v1", None, False)):
            for c in cases:
                agent = RankListwiseOSLLM.__new__(RankListwiseOSLLM)
                agent._model, agent._context_size, agent._num_few_shot_examples = model, c["context"], 0
                agent._tokenizer, agent._system_message, agent._variable_passages = tok, system, variable
                agent._window_size, agent._output_token_estimate = 20, None
                result = Result(Query(c["query"], "q"), [Candidate(d["docid"], 1.0, {"text": d["text"],
                                                                                      "title": d["title"]})
                                                         for d in c["docs"]])
                prompt, n = agent.create_prompt(result, 0, len(c["docs"]))
                out[method][f"{tok_name}/{c['name']}"] = {"prompt": prompt, "tokens": n,
                                                          "answer_tokens": agent.num_output_tokens(len(c["docs"]))}
    return out


def _worker_rankllm025(cases: list[dict], outputs: list[dict]) -> dict:
    from importlib.resources import files

    import yaml
    from rank_llm.data import Candidate, Query, Result
    from rank_llm.rerank.listwise.listwise_rankllm import ListwiseRankLLM
    from rank_llm.rerank.listwise.rank_listwise_os_llm import RankListwiseOSLLM
    from rank_llm.rerank.listwise.singleturn_listwise_inference_handler import SingleTurnListwiseInferenceHandler

    templates = files("rank_llm.rerank.prompt_templates")
    handlers = {kind: SingleTurnListwiseInferenceHandler(yaml.safe_load((templates / f).read_text()))
                for kind, f in (("numeric", "rank_zephyr_template.yaml"), ("alpha", "rank_zephyr_alpha_template.yaml"))}
    out: dict = {"rankzephyr-2025": {}, "parse": []}
    for tok_name in TOKENIZERS:
        tok = _tokenizer(tok_name)
        for c in cases:
            agent = RankListwiseOSLLM.__new__(RankListwiseOSLLM)
            agent._context_size, agent._num_few_shot_examples, agent._examples = c["context"], 0, []
            agent._tokenizer, agent._inference_handler, agent._use_alpha = tok, handlers["numeric"], False
            agent._is_thinking, agent._window_size, agent._output_token_estimate = False, 20, None
            result = Result(Query(c["query"], "q"), [Candidate(d["docid"], 1.0, {"text": d["text"],
                                                                                  "title": d["title"]})
                                                     for d in c["docs"]])
            prompt, n = agent.create_prompt(result, 0, len(c["docs"]))
            out["rankzephyr-2025"][f"{tok_name}/{c['name']}"] = {
                "prompt": prompt, "tokens": n, "answer_tokens": agent.num_output_tokens(len(c["docs"]))}
    for o in outputs:
        agent = ListwiseRankLLM.__new__(RankListwiseOSLLM)
        agent._use_alpha = o["identifiers"] == "alpha"
        agent._inference_handler = handlers[o["identifiers"]]
        result = Result(Query("q", "q"), [Candidate(str(i), 1.0, {"text": ""}) for i in range(o["size"])])
        got = agent.receive_permutation(result, o["text"], 0, o["size"])
        out["parse"].append({**o, "permutation": [int(c.docid) for c in got.candidates]})
    return out


def _worker_rankgpt(cases: list[dict], outputs: list[dict]) -> dict:
    spec = importlib.util.spec_from_file_location("rank_gpt", os.environ["REF_FILE"])
    rank_gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rank_gpt)
    out: dict = {"rankgpt": {}, "parse": []}
    for c in cases:
        hits = []
        for d in c["docs"]:  # run_retriever's content
            content = f"Title: {d['title']} Content: {d['text']}" if d["title"] else d["text"]
            hits.append({"content": " ".join(content.split())})
        out["rankgpt"][c["name"]] = {"messages": rank_gpt.create_permutation_instruction(
            {"query": c["query"], "hits": hits}, 0, len(hits))}
    for o in outputs:
        if o["identifiers"] != "numeric":
            continue
        item = {"query": "q", "hits": [{"content": str(i)} for i in range(o["size"])]}
        try:
            got = [int(h["content"]) for h in rank_gpt.receive_permutation(item, o["text"], 0, o["size"])["hits"]]
        except ValueError as exc:
            got = f"error: {exc}"
        out["parse"].append({**o, "permutation": got})
    return out


def _worker_first(cases: list[dict], outputs: list[dict]) -> dict:
    from utils.rank_listwise_os_llm import RankListwiseOSLLM
    from utils.result import Result

    out: dict = {"first": {}}
    for tok_name in TOKENIZERS:
        tok = _tokenizer(tok_name)
        for c in cases:
            agent = RankListwiseOSLLM.__new__(RankListwiseOSLLM)
            agent._context_size, agent._num_few_shot_examples, agent._tokenizer = c["context"], 0, tok
            agent.system_message_supported = "system" in tok.chat_template
            agent._system_message, agent._variable_passages, agent._window_size = RANKLLM_SYSTEM, True, 20
            agent._output_token_estimate, agent._rerank_type, agent._code_prompt_type = None, "text", "docstring"
            hits = [{"content": f"{d['title']} {d['text']}".strip() if d["title"] else d["text"]} for d in c["docs"]]
            prompt, n = agent.create_prompt(Result(c["query"], hits), True, 0, len(hits))
            out["first"][f"{tok_name}/{c['name']}"] = {"prompt": prompt + "[", "tokens": n}
    return out


WORKERS = {"rank_llm_0.12.8": _worker_rankllm012, "rank_llm_0.25.7": _worker_rankllm025,
           "RankGPT": _worker_rankgpt, "llm-reranker": _worker_first}


def _run_worker(name: str, refs: Path, cases: list[dict], outputs: list[dict]) -> dict:
    paths = {"rank_llm_0.12.8": [refs / REFS["rank_llm_0.12.8"], refs / REFS["fschat_0.2.36"]],
             "rank_llm_0.25.7": [refs / REFS["rank_llm_0.25.7"]],
             "RankGPT": [], "llm-reranker": [refs / "llm-reranker" / "scripts", refs / REFS["fschat_0.2.36"]]}[name]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
           "REF_FILE": str(refs / "RankGPT" / "rank_gpt.py")}
    with tempfile.TemporaryDirectory() as tmp:
        inp, res = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps({"cases": cases, "outputs": outputs}))
        subprocess.run([sys.executable, __file__, "--worker", name, "--io", str(inp), str(res)], env=env, check=True)
        return json.loads(res.read_text())


def _commit(path: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", type=Path, default=Path("/tmp/refs"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--worker")
    ap.add_argument("--io", nargs=2)
    args = ap.parse_args()
    if args.worker:
        sys.meta_path.insert(0, _StubFinder())
        data = json.loads(Path(args.io[0]).read_text())
        Path(args.io[1]).write_text(json.dumps(WORKERS[args.worker](data["cases"], data["outputs"])))
        return
    cases = _cases(args.data_dir)
    outputs = _outputs(Path(__file__).resolve().parents[1] / "data" / "llm_outputs.json")
    golden: dict = {"generated_by": "tests/rerankers/goldens/make_listwise.py", "references": {
        "rank_llm_0.12.8": "PyPI rank-llm 0.12.8 (no-deps wheel) + fschat 0.2.36",
        "rank_llm_0.25.7": "PyPI rank-llm 0.25.7 (no-deps wheel)",
        "RankGPT": f"sunnweiwei/RankGPT rank_gpt.py @ {_commit(args.refs / 'RankGPT')}",
        "llm-reranker": f"gangiswag/llm-reranker scripts/utils @ {_commit(args.refs / 'llm-reranker')}"},
        "tokenizers": list(TOKENIZERS), "cases": cases, "prompts": {}, "parse": {}}
    for name in WORKERS:
        res = _run_worker(name, args.refs, cases, outputs)
        for key, value in res.items():
            if key == "parse":
                golden["parse"][name] = value
            else:
                golden["prompts"][key] = value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    logging.getLogger(__name__).info("wrote %s", args.out)


if __name__ == "__main__":
    main()
