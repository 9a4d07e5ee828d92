"""The shared label-token rule: the token a model writes for a word after other text, on real tokenizers."""

from __future__ import annotations

import pytest

from rerankit.engines.hf import render_chat
from rerankit.engines.tokens import candidate_token, candidate_token_ids
from rerankit.errors import InputError

LABELS = [chr(ord("A") + i) for i in range(20)]


@pytest.fixture(scope="module", params=["qwen", "smollm", "gemma"])
def tokenize(request):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(request.getfixturevalue(request.param)))
    return lambda text: list(tok(text, add_special_tokens=False).input_ids), tok


def test_labels_are_the_tokens_written_after_the_answer_bracket(tokenize):
    """A FIRST prompt primed with "[" continues "A] > [B] ...": the label token there is the one we score."""
    encode, tok = tokenize
    chat = [{"role": "user", "content": "Rank the passages [A] to [T]."}, {"role": "assistant", "content": "["}]
    prompt = render_chat(tok, chat) if tok.chat_template else "Rank the passages.\n["
    base = encode(prompt)
    ids = candidate_token_ids(encode, LABELS)
    assert len(set(ids)) == len(LABELS)  # FIRST's label-clash check relies on this
    for label, want in zip(LABELS, ids):
        assert tok.decode([want]) == label  # the letter itself, no word-start space
        written = encode(prompt + label + "] > [B]")
        if written[:len(base)] == base:  # "[" stays a token: the next one is what the model writes
            assert written[len(base)] == want, f"label {label!r}: scored {want}, written {written[len(base)]}"


def test_answer_words_keep_their_leading_space(tokenize):
    encode, _ = tokenize
    plain, spaced = candidate_token(encode, "yes"), candidate_token(encode, " yes")
    assert plain != spaced
    assert encode("Answer:" + " yes")[-len(spaced):] == list(spaced)


def test_word_start_pieces_are_not_scored():
    """A SentencePiece tokenizer with a dummy prefix encodes "A" alone as "▁A" (3), "[A" as "[" (1) + "A" (2).

    No such tokenizer is packaged here; this imitates its rule: the scored token is 2, the one after "[".
    """
    pieces = {"A": [3], "[": [1], "[A": [1, 2], "yes": [4], "[yes": [5]}

    assert candidate_token_ids(pieces.__getitem__, ["A"]) == [2]
    assert candidate_token_ids(pieces.__getitem__, ["yes"]) == [4]  # "[yes" merged: the word alone


def test_bad_candidates_are_clear_errors():
    with pytest.raises(InputError, match="non-empty"):
        candidate_token(lambda t: [1], "")
    with pytest.raises(InputError, match="no tokens"):
        candidate_token(lambda t: [] if t == "x" else [9], "x")
