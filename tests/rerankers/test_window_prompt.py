"""Golden prompts: each listwise / setwise template renders exactly the published format for a fixed input.

The expected texts are written out here by hand from the original code (RankGPT rank_gpt.py, rank_llm's
RankZephyr template and RankVicuna prompt, FIRST's rank_listwise_os_llm.py, ReasonRank's utils.py, Rank-R1's
prompt_setwise-R1.toml), so a typo in a YAML file fails a test.
"""

from __future__ import annotations

import pytest

from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.templates import load_template
from rerankit.rerankers.window_prompt import WindowPrompt, clean_passage

QUERY = "what is [2] foo"
PASSAGES = ["Foo is a  bar.", "Baz [1]\nqux."]


def test_rankgpt_multi_turn():
    got = WindowPrompt.load("rankgpt").build(QUERY, PASSAGES, max_words=300)
    assert got == [
        {"role": "system", "content": "You are RankGPT, an intelligent assistant that can rank passages based on "
                                      "their relevancy to the query."},
        {"role": "user", "content": "I will provide you with 2 passages, each indicated by number identifier []. \n"
                                    "Rank the passages based on their relevance to query: what is [2] foo."},
        {"role": "assistant", "content": "Okay, please provide the passages."},
        {"role": "user", "content": "[1] Foo is a bar."},
        {"role": "assistant", "content": "Received passage [1]."},
        {"role": "user", "content": "[2] Baz [1] qux."},
        {"role": "assistant", "content": "Received passage [2]."},
        {"role": "user", "content": "Search Query: what is [2] foo. \nRank the 2 passages above based on their "
                                    "relevance to the search query. The passages should be listed in descending order "
                                    "using identifiers. The most relevant passages should be listed first. The output "
                                    "format should be [] > [], e.g., [1] > [2]. Only response the ranking results, do "
                                    "not say any word or explain."},
    ]


RANKLLM_SYSTEM = ("You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the "
                  "query")


def test_rankzephyr_single_turn():
    """The 2023 wording the checkpoint was trained on; the 2025 wording is `rankzephyr-2025` (byte-for-byte goldens
    against rank_llm itself: test_listwise_goldens.py)."""
    got = WindowPrompt.load("rankzephyr").build(QUERY, PASSAGES)
    assert got == [
        {"role": "system", "content": RANKLLM_SYSTEM},
        {"role": "user", "content":
            "I will provide you with 2 passages, each indicated by a numerical identifier []. Rank the passages based "
            "on their relevance to the search query: what is [2] foo.\n\n"
            "[1] Foo is a bar.\n[2] Baz (1) qux.\n"
            "Search Query: what is [2] foo.\nRank the 2 passages above based on their relevance to the search query. "
            "All the passages should be included and listed using identifiers, in descending order of relevance. The "
            "output format should be [] > [], e.g., [2] > [1], Only respond with the ranking results, do not say any "
            "word or explain."},
    ]
    got = WindowPrompt.load("rankzephyr-2025").build(QUERY, PASSAGES)
    assert got[1]["content"].startswith("I will provide you with 2 passages, each indicated by a numerical identifier "
                                        "[]. Rank the passages based on their relevance to the search query: what is "
                                        "(2) foo.\n[1] Foo is a bar.\n")
    assert got[1]["content"].endswith("e.g., [2] > [1], Answer concisely and directly and only respond with the "
                                      "ranking results, do not say any word or explain.")


def test_rankvicuna_raw_conversation():
    got = WindowPrompt.load("rankvicuna").build(QUERY, PASSAGES)
    assert got == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: I will provide you with 2 passages, each "
        "indicated by a numerical identifier []. Rank the passages based on their relevance to the search query: "
        "what is [2] foo.\n\n[1] Foo is a bar.\n[2] Baz (1) qux.\nSearch Query: what is [2] foo.\nRank the 2 passages "
        "above based on their relevance to the search query. All the passages should be included and listed using "
        "identifiers, in descending order of relevance. The output format should be [] > [], e.g., [4] > [2], Only "
        "respond with the ranking results, do not say any word or explain. ASSISTANT:")


def test_first_alphabetical_and_primed():
    wp = WindowPrompt.load("first")
    got = wp.build(QUERY, PASSAGES, answer_prefix=True)
    assert got[0] == {"role": "system", "content": RANKLLM_SYSTEM}
    assert got[1]["content"] == (
        "I will provide you with 2 passages, each indicated by a alphabetical identifier []. Rank the passages based "
        "on their relevance to the search query: what is [2] foo.\n\n[A] Foo is a bar.\n[B] Baz [1] qux.\n"
        "Search Query: what is [2] foo.\nRank the 2 passages above based on their relevance to the search query. "
        "All the passages should be included and listed using identifiers, in descending order of relevance. The "
        "output format should be [] > [], e.g., [B] > [A], Only respond with the ranking results, do not say any "
        "word or explain.")
    assert got[2] == {"role": "assistant", "content": "["} and len(got) == 3
    assert len(wp.build(QUERY, PASSAGES)) == 2  # not primed unless asked


def test_reasonrank_reasoning_prompt():
    wp = WindowPrompt.load("reasonrank")
    got = wp.build(QUERY, PASSAGES)
    assert wp.output == "think_answer"
    assert got[0]["content"] == (
        "You are RankLLM, an intelligent assistant that can rank passages based on their relevance to the query. "
        "Given a query and a passage list, you first thinks about the reasoning process in the mind and then "
        "provides the answer (i.e., the reranked passage list). The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
        "<answer> answer here </answer>.")
    assert got[1]["content"] == (
        "I will provide you with 2 passages, each indicated by a numerical identifier []. Rank the passages based on "
        "their relevance to the search query: what is (2) foo.\n\n[1] Foo is a bar.\n[2] Baz (1) qux.\nSearch Query: "
        "what is (2) foo.\nRank the 2 passages above based on their relevance to the search query. All the passages "
        "should be included and listed using identifiers, in descending order of relevance. The format of the answer "
        "should be [] > [], e.g., [2] > [1].")


def test_rank_r1_setwise_prompt():
    t = load_template("rank-r1")
    docs = "\n".join(t.extra["passage"].format(id=i + 1, text=p) for i, p in enumerate(["alpha", "beta"]))
    got = t.fill(query="q?", docs=docs)
    assert got[0]["content"].startswith("A conversation between User and Assistant. The user asks a question, and "
                                        "the Assistant solves it.")
    assert got[1]["content"] == (
        'Given the query: "q?", which of the following documents is most relevant?\n[1] alpha\n[2] beta\nAfter '
        "completing the reasoning process, please provide only the label of the most relevant document to the "
        "query, enclosed in square brackets, within the answer tags. For example, if the third document is the most "
        "relevant, the answer should be: <think> reasoning process here </think> <answer>[3]</answer>.")


def test_every_listwise_template_cites_its_source():
    for name in ("rankgpt", "rankzephyr", "rankzephyr-2025", "rankvicuna", "first", "reasonrank", "rank-r1"):
        assert "arXiv" in load_template(name).source, name


def test_passages_cut_to_words_and_escaped():
    assert clean_passage(" a  b\tc d ", 3) == "a b c"
    assert clean_passage("see [12] and [B]", None, escape=True, identifiers="alpha") == "see (12) and (B)"
    assert clean_passage("see [12] and [B]", None, escape=True) == "see (12) and [B]"


def test_bad_templates(tmp_path):
    with pytest.raises(InputError):
        WindowPrompt.load("rankzephyr").build("q", [])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsource: me\nformat: raw\ntemplate: '{passages}'\npassage_turns:\n"
                   "  - {role: user, content: x}\n")
    with pytest.raises(ConfigError, match="format: chat"):
        WindowPrompt.load(str(bad))
    roman = tmp_path / "roman.yaml"  # another file: load_template caches by path
    roman.write_text("name: bad\nsource: me\nformat: raw\ntemplate: '{passages}'\nidentifiers: roman\n")
    with pytest.raises(ConfigError, match="identifiers"):
        WindowPrompt.load(str(roman))


@pytest.mark.slow
def test_rendered_with_the_model_chat_template(smollm_engine):
    """The engine renders RankZephyr's messages with the model's chat template (SmolLM2: ChatML)."""
    wp = WindowPrompt.load("rankzephyr")
    text = smollm_engine.render(wp.build(QUERY, PASSAGES))
    assert text.startswith(f"<|im_start|>system\n{RANKLLM_SYSTEM}<|im_end|>\n<|im_start|>user\nI will provide you")
    assert text.endswith("do not say any word or explain.<|im_end|>\n<|im_start|>assistant\n")
    primed = smollm_engine.render(WindowPrompt.load("first").build(QUERY, PASSAGES, answer_prefix=True))
    assert primed.endswith("word or explain.<|im_end|>\n<|im_start|>assistant\n[")


def test_first_folds_the_system_message_into_the_user_turn_without_a_system_role(smollm):
    """FIRST's code: with a chat template that has no system role, the message becomes "<system>\\n <user>"."""
    from .golden_engines import TokenizerEngine

    no_system = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"
    engine = TokenizerEngine(smollm, no_system)
    wp = WindowPrompt.load("first")
    text = wp.render(engine, wp.build(QUERY, PASSAGES, answer_prefix=True), answer_prefix=True)
    assert text.startswith(f"<user>{RANKLLM_SYSTEM}\n I will provide you with 2 passages")
    assert text.endswith("<assistant>[") and "<system>" not in text
    with_system = TokenizerEngine(smollm)
    assert wp.render(with_system, wp.build(QUERY, PASSAGES)).startswith(
        f"<|im_start|>system\n{RANKLLM_SYSTEM}<|im_end|>")
