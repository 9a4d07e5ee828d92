"""Search order, offline errors, list_datasets, and the ir_datasets path (run against a local ir_datasets home)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from rerankit.data import data_dir_from_env, list_datasets, load_dataset
from rerankit.errors import DatasetNotFoundError


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("RERANKIT_DATA_DIR", raising=False)
    monkeypatch.delenv("RERANKIT_OFFLINE", raising=False)
    return monkeypatch


def test_offline_error_names_every_place(clean_env, tmp_path):
    clean_env.setenv("RERANKIT_OFFLINE", "1")
    clean_env.setenv("RERANKIT_DATA_DIR", str(tmp_path / "env-root"))
    (tmp_path / "env-root").mkdir()
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("beir/scifact", data_dir=tmp_path / "given")
    msg = str(e.value)
    assert f"{tmp_path}/given/ (the mirror root does not exist)" in msg
    assert f"{tmp_path}/env-root/beir/scifact/ (does not exist)" in msg
    assert f"{tmp_path}/env-root/beir/topics-qrels/topics.beir-v1.0.0-scifact.test.tsv.gz" in msg
    assert "ir_datasets 'beir/scifact/test': not tried (RERANKIT_OFFLINE=1)" in msg
    assert "--data-dir ROOT or set RERANKIT_DATA_DIR=ROOT" in msg and "go online" in msg


def test_online_false_without_any_mirror(clean_env):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("bright/pony", online=False)
    msg = str(e.value)
    assert "no local mirror (neither a data_dir / --data-dir nor $RERANKIT_DATA_DIR is set)" in msg
    assert "ir_datasets 'bright/pony': not tried (online=False)" in msg


def test_not_redistributed_sets_say_so(clean_env, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ir_datasets: beir/signal1m is not distributed through ir_datas"):
        load_dataset("beir/signal1m", data_dir=tmp_path, online=True)


def test_data_dir_from_env(clean_env, tmp_path):
    assert data_dir_from_env() is None
    clean_env.setenv("RERANKIT_DATA_DIR", str(tmp_path))
    assert data_dir_from_env() == tmp_path


def test_list_datasets(clean_env, shared_data):
    infos = {i.id: i for i in list_datasets(shared_data)}
    assert len(infos) >= 44 and {"beir/scifact", "msmarco-passage/trec-dl-2020", "bright/aops"} <= set(infos)
    sci = infos["beir/scifact"]
    assert sci.available_locally and sci.has_corpus and sci.location == str(shared_data / "beir" / "scifact")
    assert sci.online_id == "beir/scifact/test" and "BEIR" in sci.description
    dl19 = infos["msmarco-passage/trec-dl-2019"]
    assert dl19.available_locally and dl19.candidate_names == ("bm25", "splade") and not dl19.has_corpus
    assert not infos["msmarco-passage/trec-dl-2020"].available_locally
    assert infos["msmarco-passage/trec-dl-2020"].location is None
    covid = infos["beir/trec-covid"]
    assert covid.available_locally and not covid.has_corpus and covid.candidate_names == ()
    assert covid.location == str(shared_data / "beir" / "topics-qrels")
    assert not infos["beir/robust04"].available_locally  # topics but no qrels in the mirror
    assert infos["bright/biology"].available_locally and not infos["bright/biology"].has_corpus
    assert not any(i.available_locally for i in list_datasets())  # no root at all


def _run_python(code: str, irds_home, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "IR_DATASETS_HOME": str(irds_home), "TQDM_DISABLE": "1"}
    env.pop("RERANKIT_OFFLINE", None)
    env.pop("RERANKIT_DATA_DIR", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def test_import_does_not_import_ir_datasets(tmp_path):
    out = _run_python("import sys, rerankit.data; print('ir_datasets' in sys.modules)", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert not any(tmp_path.iterdir())  # nothing created under IR_DATASETS_HOME


def test_online_path_through_ir_datasets(shared_data, tmp_path):
    """ir_datasets really loads beir/scifact/test: its download is pre-placed from the mirror (no network needed)."""
    home = tmp_path / "irds"
    (home / "beir" / "scifact").mkdir(parents=True)
    src = shared_data / "beir" / "scifact"
    with zipfile.ZipFile(home / "beir" / "scifact" / "source.zip", "w") as z:
        for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            z.write(src / name, f"scifact/{name}")
    code = (
        "from rerankit.data import load_dataset\n"
        f"ds = load_dataset('beir/scifact/test', data_dir={str(tmp_path / 'empty')!r})\n"
        "print(ds.source, len(ds.queries), sum(len(d) for d in ds.qrels.values()), len(ds.corpus),\n"
        "      list(ds.queries)[:2], ds.candidate_names)\n"
        "print(ds.corpus['4983'].title[:40])\n"
    )
    out = _run_python(code, home)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "ir_datasets:beir/scifact/test 300 339 5183 ['1', '3'] []"
    assert lines[1] == "Microstructural development of human new"


def test_online_failure_is_reported(tmp_path):
    """ir_datasets is tried; its failure (here a corrupt download) ends up in the one not-found message."""
    home = tmp_path / "irds"
    (home / "beir" / "scifact").mkdir(parents=True)
    (home / "beir" / "scifact" / "source.zip").write_bytes(b"not a zip file")
    code = (
        "from rerankit.data import load_dataset\n"
        "from rerankit.errors import DatasetNotFoundError\n"
        "try:\n"
        f"    load_dataset('beir/scifact', data_dir={str(tmp_path)!r})\n"
        "except DatasetNotFoundError as e:\n"
        "    print(e)\n"
    )
    out = _run_python(code, home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "dataset 'beir/scifact' is not available" in out.stdout
    assert "ir_datasets: ir_datasets 'beir/scifact/test' failed: BadZipFile" in out.stdout
    assert f"{tmp_path}/beir/scifact/ (does not exist)" in out.stdout


@pytest.mark.parametrize("args, message", [
    ((123,), "dataset id must be a non-empty string"),
    (("",), "dataset id must be a non-empty string"),
    (("beir/scifact", 5), "data_dir must be a folder path"),
])
def test_wrong_argument_types_are_input_errors(args, message):
    from rerankit.errors import InputError

    with pytest.raises(InputError, match=message):
        load_dataset(*args)


def test_a_relative_data_dir_is_resolved_when_read(shared_data, tmp_path, monkeypatch):
    """RERANKIT_DATA_DIR=../shared/data means the folder beside the directory the user ran the command in."""
    monkeypatch.chdir(shared_data.parent.parent)
    monkeypatch.setenv("RERANKIT_DATA_DIR", os.path.relpath(shared_data))
    root = data_dir_from_env()
    assert root.is_absolute() and root == shared_data.resolve()
    assert load_dataset("beir/scifact").id == "beir/scifact"
