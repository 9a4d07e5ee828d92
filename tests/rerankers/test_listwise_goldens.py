"""Listwise prompts and answer parsing against the reference implementations, byte for byte.

tests/rerankers/goldens/make_listwise.py ran the references themselves (rank_llm 0.12.8 + FastChat for
RankZephyr/RankVicuna as the checkpoints were trained, rank_llm 0.25.7 for the 2025 RankZephyr wording and the
parser, sunnweiwei/RankGPT, gangiswag/llm-reranker for FIRST) on DL19 candidates and adversarial texts, rendering and
counting tokens with the packaged tokenizers. Here rerankit's rerankers build the prompt of the same window (same
budget, same passage shortening) and parse the same answers; everything must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.listwise import ListwiseReranker, WindowRequest
from rerankit.rerankers.permutation import parse_reference_permutation
from rerankit.types import Document, Hit, Query

from .golden_engines import TokenizerEngine

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "listwise.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
FIXTURES = {"qwen2.5-coder-0.5b-instruct": "qwen", "smollm2-135m-instruct": "smollm"}
# castorini/rank_zephyr_7b_v1_full ships Zephyr's chat template, which renders as FastChat's "zephyr" conversation
# (rank_llm 0.12.8 formats with FastChat); the packaged tokenizer stands in for counting tokens.
ZEPHYR_TEMPLATE = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '</s>\n' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")


@pytest.fixture(scope="module")
def engines(request):
    loaded: dict[tuple[str, str | None], TokenizerEngine] = {}

    def get(tok: str, chat_template: str | None = None) -> TokenizerEngine:
        if (tok, chat_template) not in loaded:
            loaded[tok, chat_template] = TokenizerEngine(request.getfixturevalue(FIXTURES[tok]), chat_template)
        return loaded[tok, chat_template]
    return get


def _request(case: dict) -> WindowRequest:
    hits = tuple(Hit(Document(d["docid"], d["text"], d["title"]), 0.0) for d in case["docs"])
    return WindowRequest(0, Query("q", case["query"]), hits, (0, len(hits)), 0)


def _keys(method: str) -> list[str]:
    return sorted(GOLDEN["prompts"][method])


@pytest.mark.parametrize("key", _keys("rankzephyr"))
def test_rankzephyr_is_rank_llm_0_12_8_with_fastchat(engines, key):
    tok, case = key.split("/")
    engine = engines(tok, ZEPHYR_TEMPLATE)
    rr = ListwiseReranker(engine=engine, template="rankzephyr", context_size=CASES[case]["context"], progress=False)
    golden = GOLDEN["prompts"]["rankzephyr"][key]
    assert rr._max_tokens(len(CASES[case]["docs"])) == golden["answer_tokens"]
    assert engine.render(rr.prompt_for(_request(CASES[case]))) == golden["prompt"]


@pytest.mark.parametrize("key", _keys("rankvicuna"))
def test_rankvicuna_is_rank_llm_0_12_8_with_fastchat(engines, key):
    tok, case = key.split("/")
    engine = engines(tok)
    rr = ListwiseReranker(engine=engine, template="rankvicuna", context_size=CASES[case]["context"], progress=False)
    prompt = rr.prompt_for(_request(CASES[case]))
    assert prompt == GOLDEN["prompts"]["rankvicuna"][key]["prompt"]
    assert engine.input_length(prompt) == GOLDEN["prompts"]["rankvicuna"][key]["tokens"]


@pytest.mark.parametrize("key", _keys("rankzephyr-2025"))
def test_rankzephyr_2025_is_rank_llm_0_25_7(engines, key):
    tok, case = key.split("/")
    engine = engines(tok)
    rr = ListwiseReranker(engine=engine, template="rankzephyr-2025", context_size=CASES[case]["context"],
                          progress=False)
    assert engine.render(rr.prompt_for(_request(CASES[case]))) == GOLDEN["prompts"]["rankzephyr-2025"][key]["prompt"]


@pytest.mark.parametrize("case", sorted(GOLDEN["prompts"]["rankgpt"]))
def test_rankgpt_messages_are_rank_gpt_py(engines, case):
    rr = ListwiseReranker(engine=engines("smollm2-135m-instruct"), template="rankgpt", progress=False)
    assert rr.prompt_for(_request(CASES[case])) == GOLDEN["prompts"]["rankgpt"][case]["messages"]


@pytest.mark.parametrize("key", _keys("first"))
def test_first_prompt_is_llm_reranker(engines, key):
    tok, case = key.split("/")
    engine = engines(tok)
    rr = FirstReranker(engine=engine, context_size=CASES[case]["context"], progress=False)
    assert engine.render(rr.prompt_for(_request(CASES[case]))) == GOLDEN["prompts"]["first"][key]["prompt"]


def test_parser_reads_every_answer_as_rank_llm_does():
    records = GOLDEN["parse"]["rank_llm_0.25.7"]
    assert len(records) > 50 and {r["source"] for r in records} == {"recorded", "adversarial"}
    for r in records:
        got, _ = parse_reference_permutation(r["text"], r["size"], r["identifiers"])
        assert got == r["permutation"], r


def test_parser_reads_answers_as_rankgpt_does_where_rankgpt_reads_them():
    # RankGPT's parser crashes on digits int() cannot read ("¹") and knows neither </think> nor rank_llm's look-alike
    # digit table; rerankit follows rank_llm there. Everything else must agree.
    skip = ("</think>", "🄂", "🄁")
    checked = 0
    for r in GOLDEN["parse"]["RankGPT"]:
        if isinstance(r["permutation"], str) or any(s in r["text"] for s in skip):
            continue
        got, _ = parse_reference_permutation(r["text"], r["size"], r["identifiers"])
        assert got == r["permutation"], r
        checked += 1
    assert checked > 40
