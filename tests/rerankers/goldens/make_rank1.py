"""Generate tests/rerankers/goldens/rank1.json by running Rank1's reference implementation (run once).

    python tests/rerankers/goldens/make_rank1.py --reference /path/to/orionw+rank1/repo \
        --tokenizer $RERANKIT_MODELS/qwen2.5-coder-0.5b-instruct --data-dir ../shared/data

The reference class ``rank1`` of orionw/rank1 ``rank1.py`` runs its own ``predict``: prompt building
(``return_prompt``), the generation settings, the check for a readable answer, the forced-answer fallback
(``_fix_incomplete_responses``) and the score. Stand-ins replace what cannot run here: mteb's base class and
vLLM's ``LLM``, whose ``generate`` plays scripted model outputs (the text a model wrote, cut at the stop strings as
vLLM cuts it) and log-probabilities derived from a hash of the text they condition on. The fixture keeps the
inputs, the reference's prompts, forced prompts, sampling settings and scores, and the log-probability table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from _reference import exec_source, head_commit, show, stub_module

REPO = "orionw/rank1"
PATH = "rank1.py"


def fake_logprobs(text: str) -> tuple[float, float]:
    """Deterministic (log P(true), log P(false)) for a conditioning text."""
    h = hashlib.sha256(text.encode("utf-8")).digest()
    return -0.05 - h[0] / 40.0, -0.05 - h[1] / 40.0


# What the model writes in full (no stop strings), and how its generation ended.
OUTPUTS = [
    ("The passage says the Moon's gravity raises the oceans. That answers the query.</think> true", "stop"),
    ("The passage is about bread, not the query</think> false", "stop"),
    ("Let me think. The passage mentions tides. But it does not say", "stop"),  # EOS before </think>
    ("no sentence ever ends here", "stop"),
    ("Step one. Step two! Step three? Then the budget ran out in the middle of", "length"),
    ("   Padded reasoning ends.   ", "stop"),
    ("Is it relevant? Yes.\n</think> true", "stop"),
]
STOPS = ("</think> true", "</think> false")


class Lp:
    def __init__(self, logprob: float) -> None:
        self.logprob = logprob


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="git directory of an orionw/rank1 snapshot")
    ap.add_argument("--tokenizer", required=True, help="the packaged qwen2.5-coder-0.5b-instruct folder")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default=str(Path(__file__).with_name("rank1.json")))
    args = ap.parse_args()
    commit = head_commit(args.reference)
    source = show(args.reference, commit, PATH)
    state: dict = {"calls": [], "table": {}}

    class LLM:
        def __init__(self, model: str, **kwargs: object) -> None:
            state["llm"] = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str))}

        def generate(self, prompts, params):
            tok = state["tok"]
            outs = []
            if params.kwargs.get("max_tokens") == 1:  # the forced-answer call
                state["forced_params"] = dict(params.kwargs)
                state["forced"] = list(prompts)
                for p in prompts:
                    lt, lf = fake_logprobs(p)
                    state["table"][p] = [lt, lf]
                    outs.append(_out(" true", [7], [{tok["true"]: Lp(lt), tok["false"]: Lp(lf)}]))
                return outs
            state["params"] = dict(params.kwargs)
            state["prompts"] = list(prompts)
            for p, (full, _) in zip(prompts, OUTPUTS):
                hit = [(full.find(s), s) for s in STOPS if s in full]
                if hit:  # vLLM cuts the output before the stop string; the answer token's logprobs are the last
                    at, _s = min(hit)
                    text = full[:at]
                    cond = p + text + "</think>"
                    lt, lf = fake_logprobs(cond)
                    state["table"][cond] = [lt, lf]
                    outs.append(_out(text, [1, 2], [{5: Lp(-1.0)}, {tok["true"]: Lp(lt), tok["false"]: Lp(lf)}]))
                else:  # EOS or the budget: the last position offers no true/false
                    outs.append(_out(full, [1, 2], [{5: Lp(-1.0)}, {6: Lp(-0.1)}]))
            return outs

    class SamplingParams:
        def __init__(self, **kwargs: object) -> None:
            self.kwargs = kwargs

    class RerankerWrapper:
        def __init__(self, *a: object, **k: object) -> None:
            pass

    stub_module("mteb", MTEB=object)
    stub_module("mteb.encoder_interface", Encoder=object)
    stub_module("mteb.evaluation.evaluators.RetrievalEvaluator", DenseRetrievalExactSearch=object)
    stub_module("mteb.model_meta", ModelMeta=object)
    stub_module("mteb.models.rerankers_custom", RerankerWrapper=RerankerWrapper)
    stub_module("vllm", LLM=LLM, SamplingParams=SamplingParams)
    mod = exec_source("rank1_reference", source, PATH)

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from rerankit.data import load_dataset

    ranking = next(iter(load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
                        .candidates("bm25").values()))
    passages = [h.doc.full_text for h in ranking.hits[:len(OUTPUTS)]]
    model = mod.rank1(model_name_or_path=args.tokenizer)
    state["tok"] = {"true": model.true_token, "false": model.false_token}
    scores = model.predict([(ranking.query.text, p) for p in passages])
    prompts_mod = exec_source("rank1_prompts", show(args.reference, commit, "prompts.py"), "prompts.py")
    names = [*prompts_mod.PROMPT_DICT, "BrightRetrieval_biology"]
    query_prompts = {}
    for name in names:
        task, _, sub = name.partition("_")
        text = prompts_mod.get_prompt(task, sub or None) if task == "BrightRetrieval" else prompts_mod.get_prompt(name)
        query_prompts[name] = model.return_prompt(ranking.query.text, passages[0], text)
    fixture = {"repo": REPO, "commit": commit, "path": PATH, "generator": "tests/rerankers/goldens/make_rank1.py",
               "tokenizer": "qwen2.5-coder-0.5b-instruct (packaged)",
               "defaults": {"max_output_tokens": model.max_output_tokens, "context_size": model.context_size},
               "sampling": {k: v for k, v in state["params"].items() if k != "logprobs"},
               "forced_sampling": {k: v for k, v in state["forced_params"].items() if k != "allowed_token_ids"},
               "query": ranking.query.text, "passages": passages,
               "outputs": [o for o, _ in OUTPUTS], "finish": [f for _, f in OUTPUTS],
               "prompts": state["prompts"], "forced_prompts": state["forced"], "scores": list(scores),
               "logprobs": state["table"], "query_prompts": query_prompts}
    Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(scores)} scores, {len(state['forced'])} forced, {REPO}@{commit[:8]}")


def _out(text: str, ids: list[int], logprobs: list[dict]) -> object:
    o = type("O", (), {"text": text, "token_ids": ids, "logprobs": logprobs})()
    return type("R", (), {"outputs": [o]})()


if __name__ == "__main__":
    main()
