"""Loading from the real mirror (shared data) and from folders written by the tests."""

from __future__ import annotations

import json

import pytest

from rerankit.data import load_dataset
from rerankit.data.readers import read_topics
from rerankit.errors import DataError, DatasetNotFoundError, FormatError, InputError
from rerankit.runs import read_trec_run, run_to_dict


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("RERANKIT_OFFLINE", "1")
    monkeypatch.delenv("RERANKIT_DATA_DIR", raising=False)


def test_scifact_full(shared_data):
    ds = load_dataset("beir/scifact", data_dir=shared_data)
    assert ds.id == "beir/scifact" and ds.relevance_level == 1
    assert len(ds.queries) == 300 and sum(len(d) for d in ds.qrels.values()) == 339
    assert list(ds.queries)[:3] == ["1", "3", "5"]  # topic-file order
    assert ds.queries["1"].text == "0-dimensional biomaterials show inductive properties."
    assert ds.has_corpus and len(ds.corpus) == 5183
    assert ds.candidate_names == []
    assert ds.stats(corpus=True) == {"queries": 300, "qrels": 339, "docs": 5183}
    assert ds.card.counts["docs"] == 5183 and ds.card.licence == "CC BY-NC 2.0"
    assert any(r["system"] == "bm25-flat" and r["scores"]["nDCG@10"] == 0.6789 for r in ds.card.reference_scores)
    # every judged document is in the corpus
    assert all(d in ds.corpus for docs in ds.qrels.values() for d in docs)


def test_dl19_with_candidates(shared_data):
    ds = load_dataset("dl19", data_dir=shared_data)
    assert ds.id == "msmarco-passage/trec-dl-2019" and ds.relevance_level == 2
    assert len(ds.queries) == 43 and sum(len(d) for d in ds.qrels.values()) == 9260
    assert not ds.has_corpus
    assert ds.candidate_names == ["bm25", "splade"]
    folder = shared_data / "msmarco-passage" / "trec-dl-2019"
    shipped = json.loads((folder / "retrieve_results_dl19_top100.bm25.rank_llm_data.json").read_text())
    topics = read_topics(folder / "topics.dl19-passage.txt")
    for name, run_file in (("bm25", "run.bm25.dl19.top100.rank_llm_data.trec"),
                           ("splade", "run.splade_pp_ed.dl19.top100.rank_llm_data.trec")):
        run = ds.candidates(name)
        assert list(run) == [q for q in ds.queries if q in run] and len(run) == 43
        assert sum(len(r) for r in run.values()) == 4300
        assert all(h.doc.text.strip() for r in run.values() for h in r)
        assert all(r.query.text == topics[qid] for qid, r in run.items())
        # same ids, scores and order as the shipped TREC run, read independently
        trec = read_trec_run(folder / run_file)
        assert run_to_dict(run) == run_to_dict(trec)
        assert all(ranking.ids() == trec[qid].ids() for qid, ranking in run.items())
    first = {h["docid"]: h["content"] for h in shipped[0]["hits"]}
    bm25 = ds.candidates("bm25")[str(shipped[0]["hits"][0]["qid"])]
    assert bm25.hits[0].doc.text == first[bm25.hits[0].doc.id] and bm25.hits[0].meta["rank"] == 1
    with pytest.raises(InputError, match=r"no candidate run 'colbert'; it has: 'bm25', 'splade'"):
        ds.candidates("colbert")


def test_dl19_candidates_score_like_the_trec_file(shared_data):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=shared_data)
    evaluator = pytrec_eval.RelevanceEvaluator(ds.qrels, {"ndcg_cut.10"})
    trec = read_trec_run(shared_data / "msmarco-passage/trec-dl-2019/run.splade_pp_ed.dl19.top100.rank_llm_data.trec")
    ours = evaluator.evaluate(run_to_dict(ds.candidates("splade")))
    theirs = evaluator.evaluate(run_to_dict(trec))
    assert ours == theirs and len(ours) == 43


def test_dl20_missing_names_where_it_looked(shared_data, tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("dl20", data_dir=shared_data)
    msg = str(e.value)
    assert "'msmarco-passage/trec-dl-2020' is not available" in msg
    assert f"{shared_data}/msmarco-passage/trec-dl-2020/ (does not exist)" in msg
    assert "ir_datasets 'msmarco-passage/trec-dl-2020/judged': not tried (RERANKIT_OFFLINE=1)" in msg
    assert "--data-dir" in msg and "RERANKIT_DATA_DIR" in msg and "go online" in msg


def test_beir_topics_qrels_only(shared_data):
    ds = load_dataset("beir/trec-covid", data_dir=shared_data)
    assert len(ds.queries) == 50 and sum(len(d) for d in ds.qrels.values()) == 66334
    assert not ds.has_corpus
    with pytest.raises(DataError, match=r"has no corpus here: looked for .*beir/trec-covid/corpus.jsonl"):
        _ = ds.corpus
    assert ds.candidate_names == [] and ds.all_candidate_names == ["bm25"]
    with pytest.raises(DataError, match=r"run.bm25.covid.top100.rank_llm_data.trec\) has document ids and scores but "
                                        r"no text"):
        ds.candidates("bm25")
    run = ds.candidates("bm25", with_text=False)
    assert len(run) == 50 and sum(len(r) for r in run.values()) == 5000
    cqa = load_dataset("beir/cqadupstack-android", data_dir=shared_data)
    assert cqa.id == "beir/cqadupstack/android" and len(cqa.queries) == 699


def test_bright(shared_data):
    ds = load_dataset("bright/biology", data_dir=shared_data)
    assert len(ds.queries) == 103 and sum(len(d) for d in ds.qrels.values()) == 372
    assert not ds.has_corpus and ds.candidate_names == []
    with pytest.raises(DataError, match=r"looked for .*bright/biology/corpus.jsonl.*ir_datasets 'bright/biology'"):
        _ = ds.corpus
    assert ds.card.licence == "CC BY 4.0" and ds.card.counts["judged_queries"] == 103
    leet = load_dataset("bright/leetcode", data_dir=shared_data)
    assert len(leet.queries) == 142 and sum(len(v) for v in leet.excluded_ids.values()) > 0
    assert not any(d in leet.excluded_ids.get(q, ()) for q, docs in leet.qrels.items() for d in docs)


def _beir_folder(root, queries=None, qrels_lines=None):
    root.mkdir(parents=True)
    docs = [{"_id": "a", "title": "Apples", "text": "Apples are red."},
            {"_id": "b", "title": "", "text": "Bananas are yellow."},
            {"_id": "c", "title": "Cherries", "text": "Cherries are small."}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = queries or [{"_id": "q2", "text": "yellow fruit"}, {"_id": "q1", "text": "red fruit"},
                          {"_id": "q9", "text": "unjudged"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    lines = qrels_lines or ["query-id\tcorpus-id\tscore", "q1\ta\t1", "q2\tb\t1", "q2\tc\t0"]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_local_beir_folder_path(tmp_path):
    folder = _beir_folder(tmp_path / "fruit")
    (folder / "run.bm25.trec").write_text("q1 Q0 a 1 2.0 x\nq1 Q0 c 2 1.0 x\nq2 Q0 b 1 3.0 x\nq9 Q0 a 1 1.0 x\n")
    ds = load_dataset(str(folder))
    assert ds.id == str(folder) and ds.relevance_level == 1
    assert list(ds.queries) == ["q2", "q1"]  # judged only, file order
    assert ds.qrels == {"q1": {"a": 1}, "q2": {"b": 1, "c": 0}}
    assert [d.id for d in ds.corpus.values()] == ["a", "b", "c"]
    assert ds.candidate_names == ["bm25"]
    run = ds.candidates("bm25")
    assert list(run) == ["q2", "q1"] and run["q1"].ids() == ["a", "c"]  # topic order; unjudged q9 dropped
    assert run["q1"].hits[0].doc.text == "Apples are red." and run["q1"].query.text == "red fruit"
    assert load_dataset(folder, relevance_level=2).relevance_level == 2


def test_trec_folder_path(tmp_path):
    folder = tmp_path / "trec"
    folder.mkdir()
    (folder / "topics.test.tsv").write_text("1\tfirst query\n2\tsecond query\n")
    (folder / "qrels.test.txt").write_text("1 0 d1 2\n1 0 d2 0\n")
    ds = load_dataset(str(folder))
    assert list(ds.queries) == ["1"] and not ds.has_corpus
    with pytest.raises(DataError, match=r"looked for .*trec/corpus.jsonl"):
        _ = ds.corpus


def test_mirror_root_with_beir_folder_and_env(tmp_path, monkeypatch):
    _beir_folder(tmp_path / "mirror" / "beir" / "scifact")
    monkeypatch.setenv("RERANKIT_DATA_DIR", str(tmp_path / "mirror"))
    ds = load_dataset("beir/scifact")
    assert ds.source == f"local:{tmp_path / 'mirror' / 'beir' / 'scifact'}" and len(ds.corpus) == 3
    # an explicit data_dir is searched before the environment variable
    _beir_folder(tmp_path / "first" / "beir" / "scifact", queries=[{"_id": "q1", "text": "red"}],
                 qrels_lines=["q1\ta\t1"])
    assert list(load_dataset("beir/scifact", data_dir=tmp_path / "first").queries) == ["q1"]


def test_malformed_files_name_file_and_line(tmp_path):
    folder = _beir_folder(tmp_path / "bad", qrels_lines=["query-id\tcorpus-id\tscore", "q1\ta\t1", "q2 b"])
    with pytest.raises(FormatError, match=r"bad/qrels/test.tsv:3: .*q2 b"):
        load_dataset(folder)
    trec = tmp_path / "trec"
    trec.mkdir()
    (trec / "topics.tsv").write_text("1\tok\n2 no tab here\n")
    (trec / "qrels.txt").write_text("1 0 d1 1\n")
    with pytest.raises(FormatError, match=r"topics.tsv:2: a topics line needs 'qid<TAB>text'"):
        load_dataset(trec)


def test_duplicate_doc_ids_in_corpus(tmp_path):
    folder = _beir_folder(tmp_path / "dup")
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "b", "text": "again"}) + "\n")
    ds = load_dataset(folder)
    with pytest.raises(FormatError, match=r"corpus.jsonl:4: document id 'b' appears twice \(first at line 2\)"):
        _ = ds.corpus


def test_not_a_dataset_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="is not a dataset folder.*BEIR layout"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "nowhere"))
