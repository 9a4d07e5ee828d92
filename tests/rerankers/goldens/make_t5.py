"""monoT5/duoT5 goldens generated once by running the reference code (castorini/pygaggle @ 08339dd3).

pygaggle's own ``MonoT5.rescore`` and ``DuoT5.rescore`` (rerank/transformer.py) with its ``T5BatchTokenizer`` /
``T5DuoBatchTokenizer`` (model/tokenize.py: prompt patterns, truncation to 512) and ``greedy_decode``
(model/decode.py) score DL19 BM25 candidates with the tiny random-weight T5 of tests/rerankers/t5_tiny.py (no T5
checkpoint is available offline; the scores test mechanics and the scoring rule, not ranking quality). Imports the
files do not use here are stubbed (pyserini, spacy, the similarity module, the encode module); everything that
builds prompts, tokenizes, decodes and scores is the reference's. Recorded: the weights' sha256 (the test rebuilds
the same model), each passage's monoT5 score and each query's duoT5 scores. To regenerate:

    mkdir -p /tmp/refs/pygaggle && cd /tmp/refs/pygaggle
    for f in pygaggle/rerank/base.py pygaggle/rerank/transformer.py pygaggle/model/tokenize.py \\
             pygaggle/model/decode.py; do   # from a clone of castorini/pygaggle at 08339dd3
        mkdir -p $(dirname $f); git -C <clone> show 08339dd3:$f > $f; done
    python tests/rerankers/goldens/make_t5.py --ref /tmp/refs/pygaggle --data-dir ../shared/data

Read by tests/rerankers/test_t5.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "t5.json"
COMMIT = "08339dd31f58ef40fbaa109726402e164eeba125"
N_QUERIES, MONO_DEPTH, DUO_DEPTH = 2, 6, 4


class _Anything:
    """Stands in for spacy's English() at class-definition time (its word tokenizer is not used here)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        pass

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        return _Anything()

    def __getattr__(self, name: str):  # noqa: ANN204
        return _Anything()


class _Tokenizer4:
    """transformers 5 dropped ``batch_encode_plus``, which pygaggle calls; under 4.x it was ``tokenizer(strings, **kw)``
    for a list of strings. Everything else goes to the real tokenizer."""

    def __init__(self, tok) -> None:  # noqa: ANN001
        self.tok = tok

    def batch_encode_plus(self, strings, **kwargs):  # noqa: ANN001, ANN003, ANN201
        return self.tok(list(strings), **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.tok, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", type=Path, default=Path("/tmp/refs/pygaggle"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/ for the tiny-model builder
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from rerankers.t5_tiny import build_tiny_t5
    from rerankit.data import load_dataset

    from ._reference import exec_source, stub_module  # noqa: F401 (run as a module: python -m)

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    rankings = list(ds.candidates("bm25").values())[:N_QUERIES]
    texts = [r.query.text for r in rankings] + [h.doc.full_text for r in rankings for h in r.hits[:MONO_DEPTH]]
    folder = Path(tempfile.mkdtemp()) / "tiny-t5"
    digest = build_tiny_t5(folder, texts)

    stub_module("pyserini.search", JLuceneSearcherResult=object)
    stub_module("spacy.lang.en", English=_Anything)
    stub_module("sentence_transformers", CrossEncoder=object)
    stub_module("pygaggle.model.encode", SingleEncoderOutput=object)
    stub_module("pygaggle.rerank.similarity", SimilarityMatrixProvider=object)
    read = lambda p: (args.ref / p).read_text()  # noqa: E731
    base = exec_source("pygaggle.rerank.base", read("pygaggle/rerank/base.py"), "pygaggle/rerank/base.py")
    tok_mod = exec_source("pygaggle.model.tokenize", read("pygaggle/model/tokenize.py"), "pygaggle/model/tokenize.py")
    dec_mod = exec_source("pygaggle.model.decode", read("pygaggle/model/decode.py"), "pygaggle/model/decode.py")
    stub_module("pygaggle.model", **{k: getattr(tok_mod, k) for k in tok_mod.__all__},
                greedy_decode=dec_mod.greedy_decode, LongBatchEncoder=object,
                SpecialTokensCleaner=object)
    tr = exec_source("pygaggle.rerank.transformer", read("pygaggle/rerank/transformer.py"),
                     "pygaggle/rerank/transformer.py")

    tokenizer = _Tokenizer4(AutoTokenizer.from_pretrained(folder))
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    mono = tr.MonoT5(model=model, tokenizer=tok_mod.T5BatchTokenizer(tokenizer, batch_size=8),
                     token_false="▁false", token_true="▁true")
    duo = tr.DuoT5(model=model, tokenizer=tok_mod.T5DuoBatchTokenizer(tokenizer, batch_size=8))
    queries = []
    for r in rankings:
        docs = [base.Text(h.doc.full_text, {"docid": h.doc.id}, 0) for h in r.hits[:MONO_DEPTH]]
        mono_scores = {t.metadata["docid"]: t.score for t in mono.rescore(base.Query(r.query.text), docs)}
        duo_scores = {t.metadata["docid"]: t.score for t in duo.rescore(base.Query(r.query.text), docs[:DUO_DEPTH])}
        queries.append({"query": r.query.text, "docs": [{"docid": h.doc.id, "text": h.doc.full_text}
                                                        for h in r.hits[:MONO_DEPTH]],
                        "monot5": mono_scores, "duot5": duo_scores})
    args.out.write_text(json.dumps({
        "generated_by": "tests/rerankers/goldens/make_t5.py",
        "reference": f"castorini/pygaggle rerank/transformer.py MonoT5, DuoT5 @ {COMMIT}",
        "weights_sha256": digest, "duo_depth": DUO_DEPTH, "queries": queries}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
