"""A tiny random-weight T5 with a word-level tokenizer, built the same way every time (no T5 checkpoint is available
offline). It exercises monoT5/duoT5 mechanics only: its scores say nothing about ranking quality.

The vocabulary puts "▁true" at id 1176 and "▁false" at 6136, the ids of the real T5 vocabulary that pygaggle's
DuoT5 hard-codes, so the reference code and rerankit read the same two logits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

VOCAB_SIZE = 6200
TRUE_ID, FALSE_ID = 1176, 6136


def build_tiny_t5(folder: Path, texts: Iterable[str], seed: int = 1234) -> str:
    """Write the model and tokenizer to `folder`; returns a sha256 of the weights (to prove a rebuild is the same)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    words = {w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())}
    words = sorted((words | {"query", "document", "document0", "document1", "relevant"}) - {"true", "false"})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    pool = iter([f"▁{w}" for w in words] + [f"▁filler{i}" for i in range(VOCAB_SIZE)])
    for i in range(3, VOCAB_SIZE):
        vocab[{TRUE_ID: "▁true", FALSE_ID: "▁false"}.get(i) or next(pool)] = i
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(r"\w+|[^\w\s]", "isolated"),
                                                 pre_tokenizers.Metaspace()])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    from tokenizers import normalizers

    tok.normalizer = normalizers.Lowercase()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=VOCAB_SIZE, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().numpy().tobytes())
    return digest.hexdigest()
