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
