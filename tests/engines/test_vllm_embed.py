"""vLLM's pooling runner (task="embed", for E²Rank-style methods) on the packaged all-MiniLM-L6-v2 (BERT).

vLLM reads the sentence-transformers folder's pooling config (mean pooling, normalised); the vectors must match
sentence-transformers' own on the same texts.
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.engines import Capability, get_engine
from rerankit.errors import CapabilityError

pytestmark = [pytest.mark.slow, pytest.mark.llm]

TEXTS = ["what causes the seasons on earth",
         "The tilt of Earth's axis makes the sunlight hitting each hemisphere vary over the year.",
         "Pasta is cooked in boiling salted water until al dente."]


def test_vllm_embeddings_match_sentence_transformers(minilm, vllm_installed):
    from sentence_transformers import SentenceTransformer

    want = SentenceTransformer(str(minilm), device="cpu").encode(TEXTS, normalize_embeddings=True)
    engine = get_engine("vllm", str(minilm), task="embed", kv_cache_gib=1)
    try:
        assert engine.supports(Capability.EMBED) and not engine.supports(Capability.GENERATE)
        got = engine.embed(TEXTS)
        assert got.shape == want.shape == (3, 384)
        cos = (got * want).sum(1)
        assert cos.min() > 0.999, f"cosine to sentence-transformers per text: {cos}"
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        with pytest.raises(CapabilityError, match="generate"):
            engine.generate(["hi"])
    finally:
        engine.close()
