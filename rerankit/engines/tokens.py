"""Which token a label or answer word is: decided here, in context, for every engine.

A method asks for log-probabilities of words (``"yes"``, ``"A"``); the model scores tokens. The token that
counts is the one the model would write for the word *after other text*, not the word tokenised alone:
SentencePiece tokenizers (Llama, Mistral) turn a string that starts a text into a word-start piece (``"A"`` ->
``"▁A"``), which is not the token the model writes right after ``"["`` or a newline. So the word is tokenised
after a context character (``"["``, which ends a word piece in every tokenizer we know) and the context's tokens
are removed; when the context merges with the word (byte-level BPE may join ``"[A"`` into one token), the word
tokenised alone is used, which is then what follows a ``"["`` token in a prompt. A leading space in the word
(``" yes"``) is kept, as the model would write it. Every engine (transformers, vLLM, llama.cpp, an OpenAI-
compatible server with a local tokenizer) and FIRST's label-clash check call :func:`candidate_token_ids`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from rerankit.errors import InputError

__all__ = ["CANDIDATE_CONTEXT", "candidate_token", "candidate_token_ids"]

log = logging.getLogger(__name__)

CANDIDATE_CONTEXT = "["


def candidate_token(tokenize: Callable[[str], list[int]], candidate: str,
                    context: str = CANDIDATE_CONTEXT) -> tuple[int, ...]:
    """All token ids of `candidate` as written after `context` (see the module docstring); the first one is the
    token scored. `tokenize` must add no special tokens."""
    if not isinstance(candidate, str) or not candidate:
        raise InputError(f"a candidate must be a non-empty string, got {candidate!r}")
    prefix = tokenize(context)
    joined = tokenize(context + candidate)
    if joined[:len(prefix)] == prefix and len(joined) > len(prefix):
        ids = joined[len(prefix):]
    else:  # the context merged with the candidate: the candidate alone follows a context token
        ids = tokenize(candidate)
    if not ids:
        raise InputError(f"candidate {candidate!r} encodes to no tokens")
    return tuple(int(t) for t in ids)


def candidate_token_ids(tokenize: Callable[[str], list[int]], candidates: Sequence[str],
                        context: str = CANDIDATE_CONTEXT) -> list[int]:
    """The scored (first) token id of each candidate, in order. Multi-token candidates are scored by their first
    token (logged at debug level); use :func:`candidate_token` to see them whole."""
    out = []
    for c in candidates:
        ids = candidate_token(tokenize, c, context)
        if len(ids) > 1:
            log.debug("candidate %r is %d tokens in context; scoring its first token id %d", c, len(ids), ids[0])
        out.append(ids[0])
    return out
