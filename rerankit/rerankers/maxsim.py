"""Late-interaction (ColBERT) scoring: MaxSim of a query's token vectors against each document's token vectors.

``score(q, d) = sum over query tokens i of max over document tokens j of <q_i, d_j>`` (Khattab & Zaharia, 2020),
the same sum PyLate's ``pylate.scores.colbert_scores`` computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["maxsim", "maxsim_many"]


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """MaxSim of one query (``[q_tokens, dim]``) and one document (``[d_tokens, dim]``)."""
    if query.ndim != 2 or document.ndim != 2 or query.shape[1] != document.shape[1]:
        raise ValueError(f"maxsim needs [tokens, dim] arrays of one dim, got {query.shape} and {document.shape}")
    if len(document) == 0 or len(query) == 0:
        return 0.0
    return float((query @ document.T).max(axis=1).sum())


def maxsim_many(query: np.ndarray, documents: Sequence[np.ndarray]) -> list[float]:
    """MaxSim of one query against each document, in the documents' order."""
    return [maxsim(query, d) for d in documents]
