"""ERank: the prompt against the model card's reference text (goldens/make_erank.py), the answer parse and the
s x P(s) score, and the method end to end on the packaged Qwen model (mechanics only: it is not trained for this)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from rerankit.engines.base import Generation, GenerationParams, Prompt
from rerankit.errors import InputError
from rerankit.rerankers.erank import ERankReranker, parse_erank
from rerankit.types import Document, Hit, Query, Ranking

from .golden_engines import TokenizerEngine

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "erank.json").read_text())


class _Scripted(TokenizerEngine):
    """The real Qwen tokenizer and chat template; generation answers from a script, log-probs from a table."""

    def __init__(self, path: str, outputs: dict[str, str], logprobs: dict[str, float]) -> None:
        super().__init__(path)
        self.outputs, self.logprobs, self.seen, self.scored = outputs, logprobs, [], []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        out = []
        for p in prompts:
            self.seen.append(p)
            doc = p[-1]["content"].split("Here is the document:\n", 1)[1].split("\n\nAfter thinking", 1)[0]
            out.append(Generation(self.outputs[doc], "stop"))
        return out

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        self.scored.extend(prompts)
        return [{c: self.logprobs[c] for c in candidates} for _ in prompts]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["doc"][:20])
def test_prompt_equals_the_model_cards(case, qwen):
    engine = TokenizerEngine(str(qwen))
    rr = ERankReranker(engine=engine, instruction=case["instruction"], progress=False)
    prompts, _ = rr._pairs([Ranking(Query("q", case["query"]), [Hit(Document("d", case["doc"]), 0.0)])],
                           instruction=rr.instruction)
    assert [dict(m) for m in prompts[0]] == case["messages"]
    assert engine.render(prompts[0]) == case["rendered"]


def test_the_golden_names_its_reference():
    assert "c2e0fef" in GOLDEN["reference"] and "ERank" in GOLDEN["reference"] and len(GOLDEN["cases"]) == 4


@pytest.mark.parametrize("text,value", [
    ("<think>about cats</think><answer>7</answer>", 7),
    ("<think>x</think><answer> 10 </answer>", 10),
    ("<think>the format is <answer>3</answer>, so</think><answer>0</answer>", 0),  # the last answer counts
    ("<think>cut off, no answer", None),
    ("<think>x</think><answer>11</answer>", None),  # outside 0..10
    ("<think>x</think><answer>7.5</answer>", None),
    ("<think>x</think><answer>seven</answer>", None),
    ("<think>x</think><answer>4", 4),  # generation stopped before the closing tag
    ("<think>x</think><answer>", None),
])
def test_answer_parse(text, value):
    got, at = parse_erank(text)
    assert got == value
    if value is not None:
        assert text[at:].startswith(str(value))


def test_score_is_the_integer_times_its_probability(qwen):
    docs = ["alpha passage", "beta passage", "gamma passage"]
    outputs = {"alpha passage": "<think>a</think><answer>3</answer>",
               "beta passage": "<think>b</think><answer>8</answer>", "gamma passage": "<think>rambling"}
    logprobs = {"3": math.log(0.9), "8": math.log(0.25)}
    engine = _Scripted(str(qwen), outputs, logprobs)
    rr = ERankReranker(engine=engine, progress=False)
    out = rr.rerank(Ranking(Query("q1", "which passage"), [Hit(Document(str(i), t), 0.0) for i, t in enumerate(docs)]))
    assert out.ids() == ["0", "1", "2"]  # 3 x 0.9 = 2.7 > 8 x 0.25 = 2.0 > unparsed 0
    assert [h.score for h in out.hits] == pytest.approx([2.7, 2.0, 0.0])
    assert out.meta["erank"]["unparsed"] == 1 and out.hits[2].meta["answer"] is None
    # P(s) is read right after the model's own "<answer>", on the rendered prompt plus its output
    assert all(s.endswith("<answer>") and "<|im_start|>assistant\n<think>" in s for s in engine.scored)


def test_bad_options_fail_before_the_model_loads():
    with pytest.raises(InputError, match="instruction"):
        ERankReranker(model="x", instruction=" ")
    with pytest.raises(InputError, match="max_new_tokens"):
        ERankReranker(model="x", max_new_tokens=0)


@pytest.mark.slow
@pytest.mark.llm
def test_erank_end_to_end_on_qwen(qwen, dl19):
    """Mechanics on the packaged Qwen2.5-Coder-0.5B with a small budget (not an ERank checkpoint: no quality)."""
    from rerankit.engines import get_engine

    _, run = dl19
    ranking = list(run.values())[0]
    engine = get_engine("transformers", str(qwen), batch_size=4)
    rr = ERankReranker(engine=engine, depth=3, max_new_tokens=8, max_passage_tokens=48, progress=False)
    out = rr.rerank(ranking)
    assert sorted(out.ids()[:3]) == sorted(ranking.ids()[:3]) and out.ids()[3:] == ranking.ids()[3:]
    for h in out.hits[:3]:
        assert h.meta["capped"] in (True, False) and isinstance(h.meta["reasoning"], str)
        assert (h.meta["answer"] is None) == (h.meta["answer_prob"] is None)
    assert 0 <= out.meta["erank"]["unparsed"] <= 3
