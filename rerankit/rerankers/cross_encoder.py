"""Cross-encoder reranker: (query, passage) pairs through a sequence-classification model.

Any Hugging Face sequence-classification checkpoint works (sentence-transformers CrossEncoder models such as
``cross-encoder/ms-marco-MiniLM-L6-v2``, ``BAAI/bge-reranker-*``). Pairs of all queries are sorted by length
and batched (little padding), then scores are put back in input order. Pairs longer than `max_length` tokens
lose the end of the passage (``truncation="only_second"``); a query too long to leave the passage any room is cut
together with it (``longest_first``). Each cut is reported in the hit's meta (``truncated``, ``query_truncated``) and
counted in the ranking's meta. A checkpoint without trained classification weights is refused unless
``allow_untrained_head=True``.

``backend="onnx"`` / ``"openvino"`` runs the same model on ONNX Runtime / OpenVINO (exported on first use and cached,
see :mod:`rerankit.engines.exported`); ``quantize="int8"`` adds ONNX Runtime's int8 dynamic quantisation.
"""

from __future__ import annotations

import logging
from typing import Any

from tqdm.auto import tqdm

from rerankit.engines.exported import check_backend, export_module, output_of, weights_digest
from rerankit.engines.models import model_load_error, resolve_model
from rerankit.errors import ConfigError, InputError, MissingDependencyError
from rerankit.rerankers.base import Reranker
from rerankit.types import Ranking

__all__ = ["CrossEncoderReranker", "ACTIVATIONS"]

log = logging.getLogger(__name__)

ACTIVATIONS = ("auto", "identity", "sigmoid", "softmax")


class CrossEncoderReranker(Reranker):
    """Scores pairs with a sequence-classification head.

    `activation`: ``identity`` keeps the raw logit (for two labels: logit[1] − logit[0]); ``sigmoid`` maps a
    single logit to (0, 1); ``softmax`` gives the probability of the last (relevant) class; ``auto`` is sigmoid for
    one label and softmax otherwise (what sentence-transformers' CrossEncoder does). Rankings do not depend on it.

    `backend`: ``torch`` (default), ``onnx`` (ONNX Runtime) or ``openvino``, on CPU; fp32 exports give the torch
    scores within 1e-4. `quantize`: ``int8`` (with ``backend="onnx"``) for dynamic int8 quantisation, which changes
    scores slightly. `n_threads`: threads of the ONNX Runtime / OpenVINO session (their default when None).
    `optimize` (``backend="onnx"``): fuse the exported graph with ONNX Runtime's transformer optimiser (attention,
    LayerNorm, GELU) before saving it and before int8 quantisation; scores stay within 1e-4 of torch (checked).
    """

    name = "cross-encoder"

    def __init__(self, model: str = "cross-encoder/ms-marco-MiniLM-L6-v2", depth: int | None = None,
                 batch_size: int = 32, max_length: int | None = 512, activation: str = "auto",
                 device: str = "auto", dtype: str = "auto", progress: bool = True,
                 trust_remote_code: bool = False, engine: str | None = None,
                 engine_options: dict[str, Any] | None = None, allow_untrained_head: bool = False,
                 backend: str = "torch", quantize: str | None = None, n_threads: int | None = None,
                 optimize: bool = True) -> None:
        super().__init__(depth)
        check_backend(backend, quantize, "the cross-encoder reranker")
        if engine not in (None, "transformers", "hf", "huggingface"):
            raise ConfigError(f"the cross-encoder runs its classification model with transformers; engine "
                              f"{engine!r} is not supported (use the yes-no reranker for LLM engines)")
        opts = dict(engine_options or {})
        device, dtype = opts.pop("device", device), opts.pop("dtype", dtype)
        if opts:
            raise ConfigError(f"cross-encoder engine_options take device and dtype only, got {sorted(opts)}")
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("transformers", "llm", "the cross-encoder reranker") from exc
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        path = resolve_model(model)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "float16" if self.device.startswith("cuda") else "float32"
        torch_dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else None
        if not isinstance(torch_dtype, torch.dtype):
            raise ConfigError(f"dtype must be a torch dtype name such as float32, float16 or bfloat16, got {dtype!r}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            self.model, info = AutoModelForSequenceClassification.from_pretrained(
                path, dtype=torch_dtype, trust_remote_code=trust_remote_code, output_loading_info=True)
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        config = self.model.config
        missing = sorted((info or {}).get("missing_keys") or [])
        if missing and not allow_untrained_head:
            names = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
            raise ConfigError(
                f"{model} is not a trained cross-encoder: {len(missing)} weight(s) of its classification model are "
                f"not in the checkpoint and would be random ({names}), so its scores would change from load to load. "
                "Use a cross-encoder checkpoint (e.g. "
                "cross-encoder/ms-marco-MiniLM-L6-v2), or pass allow_untrained_head=True "
                "(-o allow_untrained_head=true) to test mechanics only.")
        if missing:
            log.warning("cross-encoder %s: %d weights are randomly initialised (%s): its scores measure nothing",
                        model, len(missing), ", ".join(missing[:6]))
        self.untrained_head = bool(missing)
        self.model.to(self.device).eval()
        self.model_path = path
        self.backend, self.quantize = backend, quantize
        self.optimize = bool(optimize) and backend == "onnx"
        if backend != "torch":
            if self.device != "cpu" or torch_dtype != torch.float32:
                raise ConfigError(f"backend={backend!r} runs float32 on CPU; got device={self.device!r}, "
                                  f"dtype={dtype!r}")
            probe = self.tokenizer(["what causes the seasons", "a query"], ["the tilt of the axis", "a passage"],
                                   padding=True, return_tensors="pt")
            # A randomly initialised head is not in the model files: its weights key the export too.
            extra = {"random_weights": weights_digest(self.model, missing)} if missing else None
            self.model = export_module(output_of(self.model, "logits"), path, "sequence-classification", probe,
                                       backend, quantize, output="logits", n_threads=n_threads, extra_key=extra,
                                       optimize=optimize)
            self.model.config = config
        limit = min(int(getattr(config, "max_position_embeddings", 512) or 512),
                    int(self.tokenizer.model_max_length or 512))
        if max_length is not None and max_length < 8:
            raise InputError(f"max_length must be at least 8 tokens, got {max_length}")
        self.max_length = min(max_length or limit, limit)
        self.batch_size = batch_size
        self.activation = activation
        self.progress = progress

    def predict(self, pairs: list[tuple[str, str]]) -> tuple[list[float], list[bool]]:
        """Scores of (query, passage) pairs in input order, and whether each pair was truncated."""
        import torch

        if not pairs:
            return [], []
        qs, ps = [q for q, _ in pairs], [p for _, p in pairs]
        full = self.tokenizer(qs, ps, truncation=False, verbose=False)["input_ids"]
        cut = [len(ids) > self.max_length for ids in full]
        enc = self._encode(qs, ps)
        order = sorted(range(len(pairs)), key=lambda i: -len(enc["input_ids"][i]))
        scores: list[float] = [0.0] * len(pairs)
        starts = range(0, len(order), self.batch_size)
        for s in tqdm(starts, desc="cross-encoder", leave=False, disable=not self.progress or len(starts) < 2):
            idx = order[s:s + self.batch_size]
            batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc.keys()}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                logits = self.model(**batch).logits.float()
            for i, v in zip(idx, self._activate(logits).cpu().tolist()):
                scores[i] = float(v)
        return scores, cut

    def long_queries(self, queries: list[str]) -> set[str]:
        """Queries too long to leave a passage any room within `max_length` tokens (they get truncated too)."""
        unique = list(dict.fromkeys(queries))
        budget = self.max_length - self.tokenizer.num_special_tokens_to_add(pair=True)
        lengths = self.tokenizer(unique, add_special_tokens=False, verbose=False)["input_ids"]
        return {q for q, ids in zip(unique, lengths) if len(ids) >= budget}

    def _encode(self, qs: list[str], ps: list[str]) -> dict[str, list]:
        """Token ids of each pair: the passage's end is cut to fit (only_second), and where the query alone leaves no
        room, query and passage are cut together (longest_first, as sentence-transformers does for every pair)."""
        long = self.long_queries(qs)
        groups = {"only_second": [i for i, q in enumerate(qs) if q not in long],
                  "longest_first": [i for i, q in enumerate(qs) if q in long]}
        out: dict[str, list] = {}
        for strategy, idx in groups.items():
            if not idx:
                continue
            part = self.tokenizer([qs[i] for i in idx], [ps[i] for i in idx], truncation=strategy,
                                  max_length=self.max_length)
            for key in part.keys():
                column = out.setdefault(key, [None] * len(qs))
                for i, value in zip(idx, part[key]):
                    column[i] = value
        return out

    def _activate(self, logits: Any) -> Any:
        import torch

        one = logits.shape[-1] == 1
        act = ("sigmoid" if one else "softmax") if self.activation == "auto" else self.activation
        if act == "identity":
            return logits[:, 0] if one else logits[:, -1] - logits[:, 0]
        if act == "sigmoid":
            return torch.sigmoid(logits[:, 0] if one else logits[:, -1] - logits[:, 0])
        if one:
            raise ConfigError("activation 'softmax' needs a model with two or more labels; this one has one")
        return torch.softmax(logits, dim=-1)[:, -1]

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        pairs = [(r.query.text, h.doc.full_text) for r in rankings for h in r.hits]
        scores, cut = self.predict(pairs)
        n_cut = sum(cut)
        if n_cut:
            log.info("cross-encoder: %d of %d pairs truncated to %d tokens", n_cut, len(cut), self.max_length)
        long = self.long_queries([r.query.text for r in rankings])
        for r in rankings:
            if r.query.text in long:
                log.warning("cross-encoder: query %r is longer than max_length (%d tokens): the query is truncated "
                            "too", r.query.id, self.max_length)
        out, k = [], 0
        for r in rankings:
            n = len(r.hits)
            q_cut = {"query_truncated": True} if r.query.text in long else {}
            metas = [{**h.meta, **({"truncated": True, **q_cut} if cut[k + i] else {})} for i, h in enumerate(r.hits)]
            out.append(r.sorted_by(scores[k:k + n], metas, reranker=self.name, truncated=sum(cut[k:k + n]),
                                   **q_cut))
            k += n
        return out

    def config(self) -> dict:
        return {**super().config(), "model": self.model_path, "max_length": self.max_length,
                "activation": self.activation, **({"untrained_head": True} if self.untrained_head else {}),
                **({"backend": self.backend} if self.backend != "torch" else {}),
                **({"quantize": self.quantize} if self.quantize else {}),
                **({"optimize": False} if self.backend == "onnx" and not self.optimize else {})}
