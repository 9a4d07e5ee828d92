"""The `rerankit` CLI as a user runs it, on the real data mirror: numbers, JSON output, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rerankit.cli import main


@pytest.fixture()
def cli(shared_data, tmp_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args], env={"RERANKIT_DATA_DIR": str(shared_data),
                                                  "RERANKIT_CACHE": str(tmp_path / "cache")})
    return invoke


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_dl19_shipped_candidates_reproduce_published_scores(cli):
    bm25 = _json(cli("eval", "--dataset", "msmarco-passage/trec-dl-2019", "--candidates", "bm25", "--json"))
    assert round(bm25["metrics"]["ndcg@10"], 4) == 0.5058
    assert bm25["queries"] == 43
    splade = _json(cli("eval", "--dataset", "dl19", "--candidates", "splade", "--json"))
    assert round(splade["metrics"]["ndcg@10"], 4) == 0.7308


@pytest.mark.slow
def test_scifact_bm25_eval_table_and_json(cli, tmp_path):
    out = _json(cli("eval", "--dataset", "beir/scifact", "--json", "--output", str(tmp_path / "run.trec")))
    assert 0.676 <= out["metrics"]["ndcg@10"] <= 0.681
    assert abs(out["metrics"]["recall@100"] - 0.9253) < 0.01
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert len(lines) > 29000 and lines[0].split()[1] == "Q0"
    table = cli("eval", "--dataset", "beir/scifact", "--queries", "10", "--metrics", "ndcg@10,map")
    assert table.exit_code == 0, table.output
    assert "nDCG@10" in table.stdout and "bm25" in table.stdout and "10 queries" in table.stdout


def test_search_and_index_commands(cli, tmp_path):
    res = cli("search", "--dataset", "beir/scifact", "-k", "3", "--json", "vitamin D bone density")
    hits = _json(res) if False else json.loads(res.stdout)
    assert res.exit_code == 0 and len(hits) == 3 and hits[0]["rank"] == 1
    built = cli("index", "--dataset", "beir/scifact", "--output", str(tmp_path / "idx"))
    assert built.exit_code == 0, built.output
    again = cli("search", "--index", str(tmp_path / "idx"), "-k", "3", "--json", "vitamin D bone density")
    assert [h["id"] for h in json.loads(again.stdout)] == [h["id"] for h in hits]


def test_datasets_lists_local_mirror(cli):
    out = json.loads(cli("datasets", "--json").stdout)
    by_id = {d["id"]: d for d in out}
    assert by_id["beir/scifact"]["local"] is True
    assert by_id["msmarco-passage/trec-dl-2019"]["local"] is True


@pytest.mark.parametrize("args, message", [
    (["eval", "--dataset", "beir/no-such-set"], "no-such-set"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "--metrics", "ndcg@ten"], "metric"),
    (["eval", "--dataset", "dl19", "--candidates", "nope"], "nope"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "--queries", "0"], "--queries"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "--reranker", "nonexistent"], "unknown reranker"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "-o", "novalue"], "key=value"),
    (["search", "--dataset", "beir/scifact", "   "], "empty"),
])
def test_bad_input_is_one_clear_error_line(cli, args, message):
    res = cli(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_rerank_command_rejects_unknown_reranker_and_foreign_queries(cli, tmp_path, shared_data):
    run = shared_data / "msmarco-passage/trec-dl-2019/run.bm25.dl19.top100.rank_llm_data.trec"
    res = cli("rerank", "--run", str(run), "--dataset", "dl19", "--reranker", "nope", "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and "unknown reranker 'nope'" in res.output
    foreign = tmp_path / "foreign.trec"
    docid = run.read_text().split()[2]
    foreign.write_text(f"999999 Q0 {docid} 1 10.0 x\n")
    res = cli("rerank", "--run", str(foreign), "--dataset", "dl19", "--reranker", "yes-no", "--output",
              str(tmp_path / "o"))
    assert res.exit_code == 2 and "not queries of" in res.output
    foreign.write_text("156493 Q0 no-such-doc 1 10.0 x\n")
    res = cli("rerank", "--run", str(foreign), "--dataset", "dl19", "--reranker", "yes-no", "--output",
              str(tmp_path / "o"))
    assert res.exit_code == 2 and "document 'no-such-doc' of the run is not in the corpus" in res.output


@pytest.mark.parametrize("args, message", [
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "--depth", "0"], "--depth"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "--depth", "-5"], "--depth"),
    (["eval", "--dataset", "dl19", "--candidates", "bm25", "-k", "0"], "-k"),
    (["eval", "--dataset", "beir/scifact", "-o", "stemmer=klingon"], "unknown stemmer 'klingon'"),
    (["eval", "--dataset", "beir/scifact", "-o", "method=bm99"], "unknown BM25 method"),
    (["eval", "--dataset", "beir/scifact", "-o", "colour=red"], "cannot build retriever 'bm25'"),
])
def test_bad_values_fail_before_the_work(cli, args, message):
    res = cli(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_output_that_cannot_be_written_fails_before_the_run(cli, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    res = cli("eval", "--dataset", "dl19", "--candidates", "bm25", "--output", str(folder))
    assert res.exit_code == 2 and "is a directory" in res.output and "nDCG" not in res.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("eval", "--dataset", "dl19", "--candidates", "bm25", "--output", str(blocker / "run.trec"))
    assert res.exit_code == 2 and "is a file" in res.output
    res = cli("rerank", "--run", str(blocker), "--dataset", "dl19", "--reranker", "yes-no", "--output", str(folder))
    assert res.exit_code == 2 and "is a directory" in res.output


def test_output_file_gets_the_final_run_and_the_table_is_printed(cli, tmp_path):
    out = tmp_path / "deep" / "run.trec"
    res = cli("eval", "--dataset", "dl19", "--candidates", "bm25", "--output", str(out))
    assert res.exit_code == 0, res.output
    assert "nDCG@10" in res.stdout and len(out.read_text().splitlines()) == 4300


def test_bad_files_are_one_error_naming_the_file(cli, tmp_path, shared_data):
    import gzip

    good = shared_data / "msmarco-passage/trec-dl-2019/run.bm25.dl19.top100.rank_llm_data.trec"
    latin1 = tmp_path / "latin1.trec"
    latin1.write_bytes(good.read_bytes()[:200] + "\n156493 Q0 caf\xe9 1 1.0 x\n".encode("latin-1"))
    res = cli("rerank", "--run", str(latin1), "--dataset", "dl19", "--reranker", "yes-no", "--output",
              str(tmp_path / "o"))
    assert res.exit_code == 2 and "not UTF-8" in res.output and "latin1.trec:" in res.output
    nan = tmp_path / "nan.trec"
    nan.write_text("156493 Q0 7187158 1 nan x\n")
    res = cli("rerank", "--run", str(nan), "--dataset", "dl19", "--reranker", "yes-no", "--output",
              str(tmp_path / "o"))
    assert res.exit_code == 2 and "not a finite number" in res.output
    folder = tmp_path / "ds"
    folder.mkdir()
    data = gzip.compress((shared_data / "msmarco-passage/trec-dl-2019/topics.dl19-passage.txt").read_bytes())
    (folder / "topics.tsv.gz").write_bytes(data[: len(data) // 2])
    (folder / "qrels.txt").write_bytes((shared_data / "msmarco-passage/trec-dl-2019/qrels.dl19-passage.txt")
                                       .read_bytes())
    res = cli("eval", "--dataset", str(folder))
    assert res.exit_code == 2 and "truncated or corrupt" in res.output and "Aborted" not in res.output


def test_id_only_shipped_runs_are_scored_and_say_reranking_needs_the_corpus(cli):
    res = cli("eval", "--dataset", "beir/trec-covid", "--candidates", "bm25", "--json")
    assert res.exit_code == 0, res.output
    assert round(json.loads(res.stdout)["metrics"]["ndcg@10"], 4) == 0.5947  # rank_llm_data / pyserini BM25 flat
    assert "reranking it needs the corpus" in res.stderr


def test_datasets_say_what_each_local_copy_holds(cli):
    by_id = {d["id"]: d for d in json.loads(cli("datasets", "--json").stdout)}
    assert by_id["beir/scifact"]["contents"] == "corpus + topics + qrels"
    assert by_id["beir/trec-covid"]["candidates"] == {"bm25": False}
    assert "reranking needs the corpus" in by_id["beir/trec-covid"]["usable_for"]
    assert by_id["msmarco-passage/trec-dl-2019"]["candidates"] == {"bm25": True, "splade": True}
    assert by_id["bright/biology"]["contents"] == "topics + qrels only (no corpus)"
    text = cli("datasets").stdout
    assert "beir/trec-covid" in text and "bm25 (ids only)" in text
