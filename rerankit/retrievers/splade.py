"""Learned-sparse retrieval with SPLADE: MLM logits -> log(1 + ReLU) -> max over tokens -> an inverted index.

Each text becomes a vocabulary-sized vector w_j = max_i log(1 + ReLU(logit_ij)) over its (non-padding) tokens
(SPLADE v2 / SPLADE++, Formal et al. 2021, 2022); documents go into a :class:`SparseIndex` and queries are
scored by dot product. The saved index records the encoder and a fingerprint of it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.checks import positive_int
from rerankit.engines.exported import check_backend, export_module, output_of
from rerankit.errors import ConfigError, IndexMismatchError, InputError, MissingDependencyError, ModelNotFoundError
from rerankit.retrievers.base import IndexedRetriever, check_corpus, check_queries
from rerankit.retrievers.dense import torch_threads
from rerankit.retrievers.index_io import (
    load_documents,
    ranking_from_scores,
    read_manifest,
    save_documents,
    write_manifest,
)
from rerankit.retrievers.sparse_index import SparseIndex
from rerankit.types import Document, Query, Run

__all__ = ["SpladeEncoder", "SpladeRetriever", "DEFAULT_SPLADE_MODEL"]

log = logging.getLogger(__name__)

DEFAULT_SPLADE_MODEL = "naver/splade-cocondenser-ensembledistil"
_FORMAT = "rerankit-splade/1"
_INDEX_FILE = "postings.npz"
_PROBE = "rerankit encoder fingerprint: what causes the seasons on earth?"
RUNTIME_OPTIONS = ("show_progress", "batch_size", "device", "n_threads", "executor", "shard_size", "backend",
                   "quantize")


def splade_weights(logits: Any, inputs: Any) -> Any:
    """SPLADE max pooling: max over tokens of log(1 + ReLU(logits)), padding masked to zero -> (batch, vocabulary).
    In place, to keep peak memory at one logits tensor."""
    mask = inputs["attention_mask"].unsqueeze(-1).to(logits.dtype)
    return logits.relu_().log1p_().mul_(mask).amax(dim=1)


class SpladeEncoder:
    """A masked-LM checkpoint used as a SPLADE encoder: texts -> sparse (texts, vocabulary) scipy CSR matrix.

    `backend` ``onnx``/``openvino`` runs the model and the pooling on ONNX Runtime/OpenVINO (exported on first use,
    cached); `quantize` ``int8`` (with onnx) quantises it.
    """

    def __init__(self, model: str = DEFAULT_SPLADE_MODEL, max_length: int = 512, batch_size: int = 16,
                 device: str | None = None, n_threads: int | None = None, show_progress: bool = True,
                 backend: str = "torch", quantize: str | None = None) -> None:
        check_backend(backend, quantize, "the SPLADE encoder")
        try:
            import torch
            from transformers import AutoModelForMaskedLM, AutoTokenizer
        except ImportError:
            raise MissingDependencyError("transformers", "splade", "the SPLADE retriever") from None
        local = Path(model).expanduser()
        if model.startswith((".", "/", "~")) and not local.is_dir():
            raise ModelNotFoundError(f"the SPLADE encoder folder {model!r} does not exist")
        source = str(local) if local.is_dir() else model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForMaskedLM.from_pretrained(source)
        except OSError as exc:
            raise ModelNotFoundError(f"cannot load the SPLADE encoder {model!r}: {exc}. Give a local folder "
                                     "holding a masked-LM checkpoint or a Hugging Face id reachable online") from None
        self.device = torch.device(device or "cpu")
        self.model.to(self.device).eval()
        self.name, self.max_length, self.batch_size = model, int(max_length), int(batch_size)
        self.n_threads, self.show_progress = n_threads, show_progress
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self.backend, self.quantize = backend, quantize
        self._exported: Any = None
        if backend != "torch":
            if self.device.type != "cpu":
                raise ConfigError(f"backend={backend!r} runs on CPU; got device={device!r}")
            probe = self.tokenizer(["rerankit probe: what causes the seasons on earth?", "a passage"], padding=True,
                                   return_tensors="pt")
            self._exported = export_module(output_of(self.model, "logits", splade_weights), source, "splade-max",
                                           probe, backend, quantize, output="weights", n_threads=n_threads)
            self.model = None  # the export replaces it

    def _weights(self, enc: Any) -> Any:
        """(batch, vocabulary) SPLADE weights of a tokenised batch."""
        if self._exported is not None:
            return self._exported(**enc).weights
        return splade_weights(self.model(**enc).logits, enc)

    def encode(self, texts: Sequence[str], desc: str = "encode") -> Any:
        """Sparse SPLADE vectors, one row per text (only positive weights stored)."""
        import torch
        from scipy import sparse
        from tqdm.auto import tqdm

        n, bs = len(texts), self.batch_size
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        rows: list[Any] = [None] * n
        with torch.inference_mode(), torch_threads(self.n_threads), \
                tqdm(total=n, desc=desc, unit="doc", disable=not self.show_progress or n <= bs) as bar:
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                pooled = self._weights(enc).float().cpu().numpy()
                for j, i in enumerate(idx):
                    cols = np.flatnonzero(pooled[j] > 0)
                    rows[i] = (cols, pooled[j, cols])
                bar.update(len(idx))
        indptr = np.zeros(n + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r[0]) for r in rows])
        indices = np.concatenate([r[0] for r in rows]) if n else np.empty(0, dtype=np.int64)
        data = np.concatenate([r[1] for r in rows]) if n else np.empty(0, dtype=np.float32)
        return sparse.csr_matrix((data.astype(np.float32), indices, indptr), shape=(n, self.vocab_size))

    def terms(self, vector: Any, top: int = 20) -> list[tuple[str, float]]:
        """The `top` highest-weighted vocabulary terms of one encoded row, for inspecting expansions."""
        row = vector.tocsr()
        order = np.argsort(-row.data)[:top]
        tokens = self.tokenizer.convert_ids_to_tokens([int(row.indices[i]) for i in order])
        return [(t, float(row.data[i])) for t, i in zip(tokens, order)]


class SpladeRetriever(IndexedRetriever):
    """SPLADE retrieval: documents and queries encoded by the same masked LM, top-k by sparse dot product.

    Args:
        model: masked-LM SPLADE checkpoint (Hugging Face id or local folder).
        query_model: a separate query encoder for models trained with two (None: the same as `model`).
        max_length: token limit per text; batch_size, device, n_threads: encoding options.
        backend: ``"torch"`` (default), ``"onnx"`` or ``"openvino"`` (exported on first use and cached, see
            :mod:`rerankit.engines.exported`); quantize: ``"int8"`` with ``backend="onnx"``. An index built with a
            non-torch backend is keyed apart from the torch one.
        executor, shard_size: encode the corpus on an executor's workers (``"ray"``) in shards of `shard_size`
            documents when indexing, gathered in corpus order (the same index as one process).
    """

    name = "splade"

    def __init__(self, model: str = DEFAULT_SPLADE_MODEL, query_model: str | None = None, max_length: int = 512,
                 batch_size: int = 16, device: str | None = None, n_threads: int | None = None,
                 show_progress: bool = True, executor: Any = None, shard_size: int = 4096, backend: str = "torch",
                 quantize: str | None = None) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"model must be a Hugging Face id or a local folder, got {model!r}")
        check_backend(backend, quantize, "the SPLADE retriever")
        self.backend, self.quantize = backend, quantize
        if max_length < 1 or batch_size < 1:
            raise InputError(f"max_length and batch_size must be at least 1, got {max_length} and {batch_size}")
        self.model_name, self.query_model_name = model, query_model
        self.max_length, self.batch_size, self.device = int(max_length), int(batch_size), device
        self.n_threads, self.show_progress = n_threads, show_progress
        self.executor, self.shard_size = executor, int(shard_size)
        self._doc_encoder: SpladeEncoder | None = None
        self._query_encoder: SpladeEncoder | None = None
        self._index: SparseIndex | None = None
        self._docs: list[Document] = []

    def _encoder(self, name: str) -> SpladeEncoder:
        return SpladeEncoder(name, self.max_length, self.batch_size, self.device, self.n_threads, self.show_progress,
                             backend=self.backend, quantize=self.quantize)

    @property
    def document_encoder(self) -> SpladeEncoder:
        if self._doc_encoder is None:
            self._doc_encoder = self._encoder(self.model_name)
        return self._doc_encoder

    @property
    def query_encoder(self) -> SpladeEncoder:
        if self.query_model_name is None:
            return self.document_encoder
        if self._query_encoder is None:
            self._query_encoder = self._encoder(self.query_model_name)
        return self._query_encoder

    def index(self, documents: Iterable[Document]) -> SpladeRetriever:
        docs = check_corpus(documents)
        vectors = self._encode_corpus([d.full_text for d in docs])
        self._index, self._docs = SparseIndex.from_documents(vectors), docs
        log.info("SPLADE index (%s): %d documents, %d postings (%.1f terms a document), %.1f MB", self.model_name,
                 len(docs), self._index.nnz, self._index.nnz / len(docs), self._index.nbytes / 1e6)
        return self

    def encode_documents(self, texts: Sequence[str]) -> Any:
        """Sparse document vectors (a CSR matrix, one row a document)."""
        return self.document_encoder.encode(list(texts), "encode documents")

    def _encode_corpus(self, texts: list[str]) -> Any:
        if self.executor is None:
            return self.encode_documents(texts)
        from scipy import sparse

        from rerankit.executors import get_executor
        from rerankit.executors.sharded import map_shards

        parts = map_shards(get_executor(self.executor), self._worker_recipe, "encode_documents", texts,
                           self.shard_size, "encode documents", self.show_progress)
        return sparse.vstack(parts, format="csr") if parts else self.encode_documents([])

    @functools.cached_property
    def _worker_recipe(self) -> Any:
        from rerankit.executors.recipe import encoder_recipe

        return encoder_recipe(self)

    @property
    def sparse_index(self) -> SparseIndex:
        if self._index is None:
            raise InputError("the SPLADE index is empty: call index(documents) or SpladeRetriever.load(path) first")
        return self._index

    @property
    def num_docs(self) -> int:
        return len(self._docs)

    def search_many(self, queries: Sequence[Query | str], k: int = 100) -> Run:
        index = self.sparse_index
        k = positive_int(k, "k")
        qs = check_queries(queries)
        vectors = self.query_encoder.encode([q.text for q in qs], "encode queries")
        results = index.search(vectors, k)
        return {q.id: ranking_from_scores(q, self._docs, ids, scores, k) for q, (ids, scores) in zip(qs, results)}

    def config(self) -> dict:
        cfg = {"name": self.name, "model": self.model_name, "query_model": self.query_model_name,
               "max_length": self.max_length}
        if self.backend != "torch":  # a different encoder run: keyed apart (int8 encodes measurably differently)
            cfg.update(backend=self.backend, quantize=self.quantize)
        return cfg

    def _fingerprint(self) -> dict[str, Any]:
        vec = self.query_encoder.encode([_PROBE], "probe")
        return {"vocab_size": self.query_encoder.vocab_size, "terms": [int(i) for i in vec.indices],
                "weights": [round(float(w), 5) for w in vec.data]}

    def save(self, path: str | Path) -> None:
        index = self.sparse_index
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index.save(path / _INDEX_FILE)
        save_documents(path, self._docs)
        write_manifest(path, _FORMAT, self.config(), [_INDEX_FILE, "docs.jsonl"], num_docs=len(self._docs),
                       postings=index.nnz, encoder={"model": self.query_model_name or self.model_name,
                                                    "fingerprint": self._fingerprint()})

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, query_model: str | None = None, verify: bool = True,
             **options: Any) -> SpladeRetriever:
        """Load a saved index; a query encoder that encodes differently from the saved one raises
        IndexMismatchError (`model`/`query_model` may name the same encoder another way, e.g. a local copy)."""
        path = Path(path)
        meta = read_manifest(path, _FORMAT, verify=verify)
        unknown = set(options) - set(RUNTIME_OPTIONS)
        if unknown:
            raise ConfigError(f"cannot change {sorted(unknown)} when loading a SPLADE index (they shape the "
                              f"index); loading accepts model, query_model and {', '.join(RUNTIME_OPTIONS)}")
        cfg = {k: v for k, v in meta["config"].items() if k != "name"}
        if model is not None:
            cfg["model"] = model
        if query_model is not None:
            cfg["query_model"] = query_model
        self = cls(**{**cfg, **options})
        self._index = SparseIndex.load(path / _INDEX_FILE)
        self._docs = load_documents(path)
        if self._index.num_docs != len(self._docs) or len(self._docs) != meta.get("num_docs"):
            raise IndexMismatchError(f"{path}: the index holds {self._index.num_docs} documents but the document "
                                     f"store {len(self._docs)} (expected {meta.get('num_docs')}): it is corrupt")
        self._check_encoder(path, meta.get("encoder") or {})
        return self

    def _check_encoder(self, path: Path, saved: dict) -> None:
        built_with = saved.get("model", "?")
        mine = self._fingerprint()
        theirs = saved.get("fingerprint") or {}
        if mine["vocab_size"] != self._index.vocab_size or theirs.get("vocab_size") != mine["vocab_size"]:
            raise IndexMismatchError(f"{path} was built with encoder {built_with!r} (vocabulary "
                                     f"{self._index.vocab_size}); {self.query_encoder.name!r} has vocabulary "
                                     f"{mine['vocab_size']}: rebuild the index or load it with its own encoder")
        a = dict(zip(theirs.get("terms", []), theirs.get("weights", [])))
        b = dict(zip(mine["terms"], mine["weights"]))
        keys = sorted(set(a) | set(b))
        va, vb = np.array([a.get(t, 0.0) for t in keys]), np.array([b.get(t, 0.0) for t in keys])
        cos = float(va @ vb / max(np.linalg.norm(va) * np.linalg.norm(vb), 1e-12))
        if cos < 0.999:
            raise IndexMismatchError(f"{path} was built with encoder {built_with!r}, and "
                                     f"{self.query_encoder.name!r} encodes differently: searching it would give "
                                     "wrong rankings; rebuild the index or load it with its own encoder")
