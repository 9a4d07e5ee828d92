"""Dense retrieval: a sentence-transformers bi-encoder embeds documents into a faiss index searched by inner product.

Query/document prefixes and task instructions (e5, bge, Qwen3-Embedding) are options; documents are encoded in
length-sorted batches; the saved index records its encoder and a fingerprint of it (the embedding of a fixed probe
sentence), and loading it with a different encoder raises :class:`~rerankit.errors.IndexMismatchError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.checks import positive_int
from rerankit.engines.exported import check_backend
from rerankit.errors import ConfigError, IndexMismatchError, InputError, MissingDependencyError, ModelNotFoundError
from rerankit.retrievers.base import IndexedRetriever, check_corpus, check_queries
from rerankit.retrievers.index_io import (
    load_documents,
    ranking_from_scores,
    rankings_from_score_rows,
    read_manifest,
    save_documents,
    search_past_the_tie,
    write_manifest,
)
from rerankit.types import Document, Query, Ranking, Run

__all__ = ["DenseRetriever", "DEFAULT_DENSE_MODEL", "INDEX_TYPES"]

log = logging.getLogger(__name__)

DEFAULT_DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INDEX_TYPES = ("flat", "hnsw", "ivf")
_FORMAT = "rerankit-dense/1"
_INDEX_FILE = "index.faiss"
PROBE_TEXT = "rerankit encoder fingerprint: what causes the seasons on earth?"
_PROBE_MIN_COSINE = 0.999
RUNTIME_OPTIONS = ("show_progress", "batch_size", "device", "n_threads", "ef_search", "nprobe", "executor",
                   "shard_size", "backend", "quantize")


class DenseRetriever(IndexedRetriever):
    """Bi-encoder retrieval over a faiss index.

    Args:
        model: sentence-transformers model (Hugging Face id or local folder).
        query_prefix, document_prefix: text put before each query/document (e.g. "query: " / "passage: " for
            e5). None uses the model's own "query"/"document" prompts (empty for most models).
        instruction: a task instruction for instruction-following embedders; queries get
            ``instruction_template.format(instruction=...)`` before them (Qwen3-Embedding's format by default).
        normalize: L2-normalise embeddings so inner product is cosine similarity (off for dot-product models).
        index_type: "flat" (exact inner product), "hnsw" (graph, approximate) or "ivf" (clustered, approximate).
        hnsw_m, ef_construction, ef_search: HNSW graph degree and search breadth.
        nlist, nprobe: IVF clusters (default about 4*sqrt(N)) and clusters visited per query.
        batch_size, max_length, device: encoding batch size, token limit (model default when None), torch device.
        n_threads: torch threads while encoding (unchanged when None); with another backend, its session's threads.
        backend: ``"torch"`` (default), ``"onnx"`` (ONNX Runtime) or ``"openvino"``: the encoder's transformer is
            exported on first use and cached (:mod:`rerankit.engines.exported`); fp32 embeddings match torch's within
            1e-4. quantize: ``"int8"`` (with ``backend="onnx"``) for int8 dynamic quantisation (slightly different
            embeddings: an index built with it is stored apart from the fp32 one).
        executor: where documents are encoded when indexing: this process (None) or ``"ray"`` / a RayExecutor,
            whose workers each load the encoder and encode shards of `shard_size` documents; the embeddings are
            gathered in corpus order into one faiss index (the same index as one process).
    """

    name = "dense"

    def __init__(self, model: str = DEFAULT_DENSE_MODEL, query_prefix: str | None = None,
                 document_prefix: str | None = None, instruction: str | None = None,
                 instruction_template: str = "Instruct: {instruction}\nQuery:", normalize: bool = True,
                 index_type: str = "flat", hnsw_m: int = 32, ef_construction: int = 200, ef_search: int = 128,
                 nlist: int | None = None, nprobe: int = 16, batch_size: int = 32, max_length: int | None = None,
                 device: str | None = None, n_threads: int | None = None, show_progress: bool = True,
                 executor: Any = None, shard_size: int = 4096, backend: str = "torch",
                 quantize: str | None = None) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"model must be a Hugging Face id or a local folder, got {model!r}")
        check_backend(backend, quantize, "the dense retriever")
        if index_type not in INDEX_TYPES:
            raise InputError(f"unknown index_type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        if query_prefix is not None and instruction is not None:
            raise InputError("give either query_prefix or instruction, not both (an instruction is a query prefix)")
        if instruction is not None and "{instruction}" not in instruction_template:
            raise InputError("instruction_template must contain '{instruction}'")
        for opt, value in (("batch_size", batch_size), ("hnsw_m", hnsw_m), ("ef_construction", ef_construction),
                           ("ef_search", ef_search), ("nprobe", nprobe)):
            if int(value) < 1:
                raise InputError(f"{opt} must be at least 1, got {value}")
        if nlist is not None and nlist < 1:
            raise InputError(f"nlist must be at least 1, got {nlist}")
        if max_length is not None and max_length < 1:
            raise InputError(f"max_length must be at least 1, got {max_length}")
        self.model_name = model
        self.query_prefix, self.document_prefix = query_prefix, document_prefix
        self.instruction, self.instruction_template = instruction, instruction_template
        self.normalize, self.index_type = bool(normalize), index_type
        self.hnsw_m, self.ef_construction, self.ef_search = int(hnsw_m), int(ef_construction), int(ef_search)
        self.nlist, self.nprobe = nlist, int(nprobe)
        self.batch_size, self.max_length, self.device = int(batch_size), max_length, device
        self.n_threads, self.show_progress = n_threads, show_progress
        self.executor, self.shard_size = executor, int(shard_size)
        self.backend, self.quantize = backend, quantize
        self._model: Any = None
        self._index: Any = None
        self._docs: list[Document] = []

    # ---- encoder --------------------------------------------------------------------------------------------
    @property
    def encoder(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            self._model = load_sentence_transformer(self.model_name, self.device, self.backend, self.quantize,
                                                    self.n_threads)
            if self.max_length is not None:
                self._model.max_seq_length = int(self.max_length)
        return self._model

    def _prompt(self, role: str) -> str:
        if role == "query":
            if self.query_prefix is not None:
                return self.query_prefix
            if self.instruction is not None:
                return self.instruction_template.format(instruction=self.instruction)
        elif self.document_prefix is not None:
            return self.document_prefix
        prompts = getattr(self.encoder, "prompts", None) or {}
        if role == "document":
            return prompts.get("document", prompts.get("passage", "")) or ""
        return prompts.get("query", "") or ""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings (float32, one row a query), with the query prefix or instruction applied."""
        return self._encode(texts, self._prompt("query"), "encode queries")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Document embeddings (float32, one row a document), with the document prefix applied."""
        return self._encode(texts, self._prompt("document"), "encode documents")

    def _encode(self, texts: Sequence[str], prompt: str, desc: str) -> np.ndarray:
        from tqdm.auto import tqdm

        model = self.encoder
        n, bs = len(texts), self.batch_size
        # Longest first, as sentence-transformers does inside one call: batches pad to similar lengths, and the
        # progress bar over batches shows real progress on large corpora.
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        out: np.ndarray | None = None
        with torch_threads(self.n_threads), tqdm(total=n, desc=desc, unit="doc",
                                                 disable=not self.show_progress or n <= bs) as bar:
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                emb = model.encode([texts[i] for i in idx], prompt=prompt or None, batch_size=bs,
                                   convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False)
                emb = np.asarray(emb, dtype=np.float32)
                if out is None:
                    out = np.empty((n, emb.shape[1]), dtype=np.float32)
                out[idx] = emb
                bar.update(len(idx))
        if out is None:
            return np.empty((0, self.dimension), dtype=np.float32)
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    @property
    def dimension(self) -> int:
        model = self.encoder
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def fingerprint(self) -> list[float]:
        """The normalised embedding of a fixed probe sentence: two encoders agree on it only if they are the same."""
        v = self._encode([PROBE_TEXT], "", "probe")[0].astype(np.float64)
        return (v / max(np.linalg.norm(v), 1e-12)).round(6).tolist()

    # ---- indexing and search --------------------------------------------------------------------------------
    def index(self, documents: Iterable[Document]) -> DenseRetriever:
        docs = check_corpus(documents)
        emb = self._encode_corpus([d.full_text for d in docs])
        self._index = build_faiss_index(emb, self.index_type, self.hnsw_m, self.ef_construction, self.nlist)
        self._docs = docs
        log.info("dense index (%s, %s): %d documents, dimension %d", self.model_name, self.index_type, len(docs),
                 emb.shape[1])
        return self

    def _encode_corpus(self, texts: list[str]) -> np.ndarray:
        if self.executor is None:
            return self.encode_documents(texts)
        from rerankit.executors import get_executor
        from rerankit.executors.sharded import map_shards

        parts = map_shards(get_executor(self.executor), self._worker_recipe, "encode_documents", texts,
                           self.shard_size, "encode documents", self.show_progress)
        return np.vstack(parts) if parts else np.empty((0, self.dimension), dtype=np.float32)

    @functools.cached_property
    def _worker_recipe(self) -> Any:
        from rerankit.executors.recipe import encoder_recipe

        return encoder_recipe(self)

    @property
    def num_docs(self) -> int:
        return len(self._docs)

    def search_many(self, queries: Sequence[Query | str], k: int = 100) -> Run:
        if self._index is None:
            raise InputError("the dense index is empty: call index(documents) or DenseRetriever.load(path) first")
        k = positive_int(k, "k")
        qs = check_queries(queries)
        emb = self.encode_queries([q.text for q in qs])
        self._set_search_params()
        k = min(k, len(self._docs))
        if self.index_type != "flat":  # approximate: its results depend on the depth asked for (ef_search >= k)
            scores, ids = self._index.search(emb, k)
            rankings = rankings_from_score_rows(qs, self._docs, ids, scores)
        else:
            rankings = self._exact_rankings(qs, emb, k)
        return {q.id: r for q, r in zip(qs, rankings)}

    def _exact_rankings(self, qs: Sequence[Query], emb: np.ndarray, k: int) -> list[Ranking]:
        """Per query: the flat index's k best, where every document tied with the k-th score was considered, so
        that which tied documents make the cut is decided by document id (trec_eval's order), not by faiss. One
        extra result shows whether a tie crosses the cut; only such queries are searched deeper (doubling)."""
        n = len(self._docs)
        fetch = min(k + 1, n)
        scores, ids = self._index.search(emb, fetch)
        rankings = rankings_from_score_rows(qs, self._docs, ids, scores, k)
        if k < fetch < n:  # (fetch == n: every document is in hand already)
            for r in np.flatnonzero((scores[:, k] == scores[:, k - 1]) & (ids[:, k] >= 0)).tolist():
                deeper = functools.partial(self._search_one, emb[r:r + 1])
                rankings[r] = ranking_from_scores(qs[r], self._docs,
                                                  *search_past_the_tie(deeper, float(scores[r, k - 1]), fetch, n), k)
        return rankings

    def _search_one(self, emb: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(emb, depth)
        return ids[0], scores[0]

    def _set_search_params(self) -> None:
        import faiss

        if self.index_type == "hnsw":
            faiss.downcast_index(self._index).hnsw.efSearch = self.ef_search
        elif self.index_type == "ivf":
            faiss.extract_index_ivf(self._index).nprobe = self.nprobe

    # ---- persistence ----------------------------------------------------------------------------------------
    def config(self) -> dict:
        cfg = {"name": self.name, "model": self.model_name, "query_prefix": self.query_prefix,
               "document_prefix": self.document_prefix, "instruction": self.instruction,
               "instruction_template": self.instruction_template, "normalize": self.normalize,
               "index_type": self.index_type, "max_length": self.max_length}
        if self.backend != "torch":  # a different encoder run: keyed apart (int8 embeds measurably differently)
            cfg.update(backend=self.backend, quantize=self.quantize)
        if self.index_type == "hnsw":
            cfg.update(hnsw_m=self.hnsw_m, ef_construction=self.ef_construction)
        elif self.index_type == "ivf":
            cfg.update(nlist=self.nlist)
        return cfg

    def save(self, path: str | Path) -> None:
        import faiss

        if self._index is None:
            raise InputError("nothing to save: the dense index is empty")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(path / _INDEX_FILE))
        save_documents(path, self._docs)
        write_manifest(path, _FORMAT, self.config(), [_INDEX_FILE, "docs.jsonl"], num_docs=len(self._docs),
                       encoder={"model": self.model_name, "dimension": self.dimension,
                                "fingerprint": self.fingerprint()})

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, verify: bool = True,
             **options: Any) -> DenseRetriever:
        """Load a saved index. `model` may name the same encoder another way (a local copy of the hub model); an
        encoder that embeds differently from the one that built the index raises IndexMismatchError."""
        import faiss

        path = Path(path)
        meta = read_manifest(path, _FORMAT, verify=verify)
        unknown = set(options) - set(RUNTIME_OPTIONS)
        if unknown:
            raise ConfigError(f"cannot change {sorted(unknown)} when loading a dense index (they shape the index); "
                              f"loading accepts model and {', '.join(RUNTIME_OPTIONS)}")
        cfg = {k: v for k, v in meta["config"].items() if k != "name"}
        saved = meta.get("encoder") or {}
        if model is not None:
            cfg["model"] = model
        self = cls(**{**cfg, **options})
        try:
            self._index = faiss.read_index(str(path / _INDEX_FILE))
        except RuntimeError as exc:
            raise IndexMismatchError(f"{path}: cannot read the faiss index ({str(exc).splitlines()[0]})") from None
        self._docs = load_documents(path)
        if self._index.ntotal != meta.get("num_docs") or len(self._docs) != self._index.ntotal:
            raise IndexMismatchError(f"{path}: the faiss index holds {self._index.ntotal} vectors but the document "
                                     f"store {len(self._docs)} (expected {meta.get('num_docs')}): it is corrupt")
        self._check_encoder(path, saved)
        return self

    def _check_encoder(self, path: Path, saved: dict) -> None:
        built_with = saved.get("model", "?")
        if self.dimension != self._index.d or saved.get("dimension") != self._index.d:
            raise IndexMismatchError(f"{path} was built with encoder {built_with!r} ({self._index.d}-d vectors); "
                                     f"{self.model_name!r} gives {self.dimension}-d vectors: rebuild the index "
                                     "or load it with its own encoder")
        probe = np.asarray(saved.get("fingerprint") or [], dtype=np.float64)
        mine = np.asarray(self.fingerprint(), dtype=np.float64)
        if probe.shape != mine.shape or float(probe @ mine) < _PROBE_MIN_COSINE:
            raise IndexMismatchError(f"{path} was built with encoder {built_with!r}, and {self.model_name!r} "
                                     "embeds differently: searching it would give wrong rankings; rebuild the "
                                     "index or load it with its own encoder")


def build_faiss_index(emb: np.ndarray, index_type: str, hnsw_m: int = 32, ef_construction: int = 200,
                      nlist: int | None = None) -> Any:
    """A faiss inner-product index over `emb`: exact (flat), HNSW graph, or IVF with trained centroids."""
    faiss = _faiss()
    n, d = emb.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(d)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    elif index_type == "ivf":
        # faiss wants about 39 training points per centroid; 4*sqrt(N) centroids is the usual rule of thumb.
        lists = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        if lists > n:
            raise InputError(f"an IVF index with nlist={lists} needs at least that many documents, got {n}")
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(emb)
    else:
        raise InputError(f"unknown index_type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
    index.add(emb)
    return index


def load_sentence_transformer(model: str, device: str | None = None, backend: str = "torch",
                              quantize: str | None = None, n_threads: int | None = None) -> Any:
    """A SentenceTransformer from a Hugging Face id or a local folder, with clear errors when neither works; with
    `backend` onnx/openvino its transformer runs there (exported and cached on first use)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingDependencyError("sentence-transformers", "dense", "the dense retriever") from None
    local = Path(model).expanduser()
    if (model.startswith((".", "/", "~")) or local.exists()) and not local.is_dir():
        raise ModelNotFoundError(f"the encoder folder {model!r} does not exist")
    if backend != "torch" and device not in (None, "cpu"):
        raise ConfigError(f"backend={backend!r} runs on CPU; got device={device!r}")
    try:
        st = SentenceTransformer(str(local) if local.is_dir() else model, device=device)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load the encoder {model!r}: {exc}. Give a local model folder or a "
                                 "Hugging Face id reachable online") from None
    if backend == "torch":
        return st
    from rerankit.engines.exported import export_sentence_transformer

    return export_sentence_transformer(st, _st_source(st, local if local.is_dir() else model), backend, quantize,
                                       n_threads)


def _st_source(st: Any, model: str | Path) -> str | Path:
    """The local folder a SentenceTransformer was loaded from (a hub id's cached snapshot), else the id."""
    if Path(model).is_dir():
        return model
    try:
        from rerankit.engines.models import resolve_model

        return resolve_model(str(model))
    except Exception:  # no local folder: the export is keyed by the weights
        return model


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("faiss-cpu", "dense", "the dense retriever") from None
    return faiss


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` torch threads (unchanged when None), restoring the previous count after."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
