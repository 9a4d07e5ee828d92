"""Prompt templates shipped as data files: golden prompts, sources, errors."""

from __future__ import annotations

import pytest

from rerankit.errors import ConfigError
from rerankit.rerankers.templates import load_template, template_names


def test_every_shipped_template_loads_and_cites_a_source():
    assert {"yes-no", "qwen3-reranker", "rank1"} <= set(template_names())
    for name in template_names():
        t = load_template(name)
        assert t.source and ("arXiv" in t.source or "http" in t.source)


def test_rank1_prompt_is_the_papers_format():
    prompt = load_template("rank1").fill(query="what causes tides", document="The moon pulls the oceans.")
    assert prompt == ("Determine if the following passage is relevant to the query. Answer only with 'true' or "
                      "'false'.\nQuery: what causes tides\nPassage: The moon pulls the oceans.\n<think>")
    assert load_template("rank1").label("positive") == " true"


def test_yes_no_prompt_is_rg_yn_as_chat():
    prompt = load_template("yes-no").fill(query="q?", document="d.")
    assert prompt == [{"role": "user", "content": 'For the following query and document, judge whether they are '
                       'relevant. Output "Yes" or "No".\nQuery: q?\nDocument: d.\nOutput:'}]


def test_qwen3_reranker_prompt_fills_the_default_instruction():
    t = load_template("qwen3-reranker")
    text = t.fill(query="q", document="{braces} stay literal")
    assert "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n<Query>: q\n" \
           "<Document>: {braces} stay literal<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n" in text
    assert "<Instruct>: mine" in t.fill(query="q", document="d", instruction="mine")


def test_bad_templates_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown prompt template 'nope'"):
        load_template("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: raw\ntemplate: 'x {query}'\n")
    with pytest.raises(ConfigError, match="cite its 'source'"):
        load_template(str(bad))
    ok = tmp_path / "ok.yaml"
    ok.write_text("format: raw\nsource: test\ntemplate: 'x {query} {missing}'\n")
    with pytest.raises(ConfigError, match="needs the field 'missing'"):
        load_template(str(ok)).fill(query="q", document="d")
