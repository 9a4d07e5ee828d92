"""The `rerankit` command line: eval, search, index, datasets (and, with extras, serve and rag).

Results go to stdout (tables, JSON); progress bars and logs go to stderr, so stdout can be piped.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from rerankit.checks import check_output_file
from rerankit.errors import ConfigError, InputError, RerankitError

log = logging.getLogger("rerankit")

DATA_DIR_HELP = "local mirror root of datasets (laid out like shared/data); default $RERANKIT_DATA_DIR"


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("bm25s", "numba", "urllib3", "httpx", "transformers", "sentence_transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`-o key=value` pairs; values are read as YAML scalars (numbers, booleans, lists)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {pair!r} must look like key=value")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


class _Group(click.Group):
    """Turns rerankit errors into one clear line and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RerankitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="rerankit")
def main() -> None:
    """rerankit: retrieve, rerank and evaluate (and answer, with RAG).

    \b
    Quick start (the data mirror holds BEIR SciFact and TREC DL 2019):
      rerankit datasets --data-dir ../shared/data
      rerankit eval --dataset beir/scifact --data-dir ../shared/data
      rerankit eval --dataset dl19 --candidates bm25 --reranker yes-no --model PATH --depth 20
      rerankit search --dataset beir/scifact --data-dir ../shared/data "vitamin D and bone density"
    """


# ---- eval ------------------------------------------------------------------------------------------------------
@main.command("eval")
@click.option("--dataset", "dataset_id", required=True, help="dataset id (beir/scifact, dl19, bright/biology, ...) "
              "or a local folder in BEIR/TREC layout")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--retriever", default="bm25", show_default=True,
              help="first stage: bm25, dense, splade, lucene, hybrid (ignored with --candidates)")
@click.option("--candidates", help="use the dataset's shipped first-stage run instead of a retriever "
              "(TREC DL: bm25, splade)")
@click.option("--reranker", "rerankers", multiple=True, help="reranker name; repeat to chain, applied in order")
@click.option("--model", help="model id or path of the last stage named (the last reranker, else the retriever)")
@click.option("--engine", help="inference engine of the last reranker: auto (default: vllm where it imports and the "
              "method allows it, else transformers; $RERANKIT_ENGINE overrides), transformers, vllm, openai, llamacpp")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="extra option of the last stage named (repeatable), e.g. -o batch_size=16")
@click.option("--depth", type=click.IntRange(min=1), help="how many candidates each reranker sees (default: all "
              "retrieved)")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=100, show_default=True,
              help="documents retrieved per query")
@click.option("--queries", "n_queries", type=click.IntRange(min=1), help="only the first N judged queries (quick runs)")
@click.option("--metrics", default="ndcg@10,recall@100", show_default=True, help="comma-separated metrics")
@click.option("--output", type=click.Path(dir_okay=False), help="write the final run here (TREC format)")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as one JSON object on stdout, nothing else")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="where indexes and stage outputs are kept for reuse and resume (default ~/.cache/rerankit)")
@click.option("--no-cache", is_flag=True, help="recompute reranker outputs instead of resuming from the cache")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="where reranking runs: this process, or Ray workers (pip install 'rerankit[ray]')")
@click.option("--workers", type=click.IntRange(min=1), help="Ray workers (default: as many as the cluster fits)")
@click.option("--ray-address", help="join this Ray cluster (e.g. auto, host:6379); default: start a local one")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0, show_default=True,
              help="GPUs each Ray worker reserves (1: one model replica per GPU)")
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug logs on stderr")
def eval_cmd(dataset_id: str, data_dir: str | None, retriever: str, candidates: str | None,
             rerankers: tuple[str, ...], model: str | None, engine: str | None, options: tuple[str, ...],
             depth: int | None, k: int, n_queries: int | None, metrics: str, output: str | None, as_json: bool,
             cache_dir: str | None, no_cache: bool, executor: str, workers: int | None, ray_address: str | None,
             gpus_per_worker: float, verbose: int) -> None:
    """Evaluate a pipeline on a dataset and print a metrics table (one row per stage).

    \b
    Examples:
      rerankit eval --dataset beir/scifact --data-dir ../shared/data
      rerankit eval --dataset msmarco-passage/trec-dl-2019 --candidates splade --json
      rerankit eval --dataset dl19 --candidates bm25 --reranker cross-encoder --model PATH --depth 100
      rerankit eval --dataset dl19 --candidates bm25 --reranker yes-no --model PATH --executor ray --workers 2
    """
    _setup_logging(verbose)
    from rerankit.evaluation import evaluate, format_table, parse_metrics
    from rerankit.runner import EvalSpec, run_eval

    metric_list = parse_metrics(metrics)
    if output:
        check_output_file(output)
    spec = EvalSpec(dataset=dataset_id, data_dir=data_dir, retriever=retriever, candidates=candidates,
                    rerankers=list(rerankers), model=model, engine=engine, options=_parse_options(options),
                    depth=depth, k=k, n_queries=n_queries, cache_dir=cache_dir, use_cache=not no_cache,
                    executor=executor, executor_options=_executor_options(executor, workers, ray_address,
                                                                          gpus_per_worker))
    outcome = run_eval(spec, progress=not as_json or sys.stderr.isatty())
    for note in outcome.notes:
        click.echo(f"note: {note}", err=True)
    rows: dict[str, dict[str, float]] = {}
    for stage, run in outcome.stage_runs.items():
        rows[stage] = evaluate(run, outcome.qrels, metric_list, relevance_level=outcome.relevance_level)
    if as_json:
        final = rows[outcome.final_stage]
        click.echo(json.dumps({"dataset": outcome.dataset_id, "stage": outcome.final_stage,
                               "queries": len(outcome.final_run), "metrics": final,
                               "stages": rows, "seconds": outcome.seconds}, sort_keys=False))
    else:
        table_rows = {stage: {**vals, "s/query": outcome.seconds.get(stage, 0.0) / max(len(outcome.final_run), 1)}
                      for stage, vals in rows.items()}
        click.echo(f"{outcome.dataset_id}: {len(outcome.final_run)} queries, relevance level "
                   f"{outcome.relevance_level} for binary metrics")
        click.echo(format_table(table_rows))
    if output:  # after the table, so a failing write can never cost the results already computed
        from rerankit.runs import write_trec_run

        try:
            write_trec_run(outcome.final_run, output, tag=outcome.final_stage.replace(" ", "_"))
        except OSError as exc:
            raise InputError(f"could not write the run to {output} ({exc.strerror or exc}); the metrics above "
                             "are complete") from None
        click.echo(f"run written to {output}", err=True)


# ---- search ----------------------------------------------------------------------------------------------------
def _executor_options(executor: str, workers: int | None, address: str | None, gpus: float) -> dict[str, Any]:
    """RayExecutor options from the CLI flags; the flags mean nothing in-process, so they are refused there."""
    if executor != "ray":
        given = [flag for flag, v in (("--workers", workers), ("--ray-address", address),
                                      ("--gpus-per-worker", gpus or None)) if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)}: only with --executor ray")
        return {}
    return {k: v for k, v in {"workers": workers, "address": address, "num_gpus": gpus or 0,
                              "num_cpus": 0 if gpus else 1}.items() if v is not None}


@main.command("search")
@click.argument("query")
@click.option("--dataset", "dataset_id", help="dataset whose corpus to search (indexed once, then reused)")
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False),
              help="a saved index folder (from `rerankit index`)")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--retriever", default="bm25", show_default=True, help="retriever name (with --dataset)")
@click.option("--model", help="encoder of the retriever (dense, splade, hybrid)")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="how many hits to show")
@click.option("--json", "as_json", is_flag=True, help="print hits as JSON")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="index store (default ~/.cache/rerankit)")
@click.option("-v", "--verbose", count=True)
def search_cmd(query: str, dataset_id: str | None, index_dir: str | None, data_dir: str | None, retriever: str,
               model: str | None, k: int, as_json: bool, cache_dir: str | None, verbose: int) -> None:
    """Search one QUERY against an index and print the top hits.

    \b
    Examples:
      rerankit search --dataset beir/scifact "vitamin D and bone density"
      rerankit search --index ./scifact-bm25 -k 5 "vitamin D and bone density"
    """
    _setup_logging(verbose)
    from rerankit.indexes import load_index
    from rerankit.runner import open_retriever

    if bool(dataset_id) == bool(index_dir):
        raise click.UsageError("give exactly one of --dataset or --index")
    if index_dir:
        ret = load_index(index_dir)
    else:
        from rerankit.data import load_dataset

        ret = open_retriever(load_dataset(dataset_id, data_dir=data_dir), retriever, {"model": model}, cache_dir)
    ranking = ret.search(query, k)
    if as_json:
        click.echo(json.dumps([{"rank": r, "id": h.doc.id, "score": h.score, "title": h.doc.title,
                                "text": h.doc.text} for r, h in enumerate(ranking.hits, 1)]))
        return
    if not ranking.hits:
        click.echo("no document matches this query")
    for r, h in enumerate(ranking.hits, 1):
        snippet = " ".join(h.doc.full_text.split())[:160]
        click.echo(f"{r:>3}  {h.score:8.3f}  {h.doc.id}  {snippet}")


# ---- index -----------------------------------------------------------------------------------------------------
@main.command("index")
@click.option("--dataset", "dataset_id", required=True, help="dataset whose corpus to index")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--retriever", default="bm25", show_default=True, help="bm25, dense, splade, lucene, hybrid")
@click.option("--model", help="encoder of the retriever (dense, splade, hybrid)")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="retriever option (repeatable)")
@click.option("--output", required=True, type=click.Path(file_okay=False), help="folder to save the index in")
@click.option("-v", "--verbose", count=True)
def index_cmd(dataset_id: str, data_dir: str | None, retriever: str, model: str | None, options: tuple[str, ...],
              output: str, verbose: int) -> None:
    """Build an index over a dataset's corpus and save it to a folder (search it with `rerankit search --index`)."""
    _setup_logging(verbose)
    from rerankit.data import load_dataset
    from rerankit.indexes import is_replaceable, save_index
    from rerankit.registry import build
    from rerankit.retrievers.base import IndexedRetriever

    out = Path(output)
    if out.exists() and not (out.is_dir() and is_replaceable(out)):
        raise ConfigError(f"--output {output} exists and is not a rerankit index folder: refusing to overwrite it; "
                          "choose a new or empty folder")
    existing = next(p for p in [out.absolute(), *out.absolute().parents] if p.exists())
    if not os.access(existing if existing.is_dir() else existing.parent, os.W_OK):
        raise ConfigError(f"--output {output}: {existing} is not writable")
    ds = load_dataset(dataset_id, data_dir=data_dir)
    ret = build("retriever", retriever, model=model, **_parse_options(options))
    if not isinstance(ret, IndexedRetriever):
        raise ConfigError(f"retriever {retriever!r} has no index of its own to build")
    t0 = time.perf_counter()
    ret.index(ds.corpus.values())
    # Written beside the target and renamed into place: a kill leaves the previous index at --output intact.
    save_index(ret, out, {"dataset": ds.id, "corpus": ds.corpus_fingerprint()})
    click.echo(f"indexed {len(ds.corpus)} documents of {ds.id} with {retriever} in "
               f"{time.perf_counter() - t0:.1f}s -> {output}")


# ---- rerank ----------------------------------------------------------------------------------------------------
@main.command("rerank")
@click.option("--run", "run_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="first-stage run to rerank (TREC format)")
@click.option("--dataset", "dataset_id", required=True, help="dataset that holds the queries and document texts")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--reranker", "rerankers", multiple=True, required=True, help="reranker name; repeat to chain")
@click.option("--model", help="model id or path of the last reranker")
@click.option("--engine", help="inference engine of the last reranker (default auto: vllm where it imports, else "
              "transformers)")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="option of the last reranker")
@click.option("--depth", type=click.IntRange(min=1), help="how many candidates each reranker sees")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="reranked run (TREC format)")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="where stage outputs are kept for reuse and resume (default ~/.cache/rerankit)")
@click.option("--no-cache", is_flag=True, help="recompute reranker outputs: neither read nor write the stage cache")
@click.option("-v", "--verbose", count=True)
def rerank_cmd(run_file: str, dataset_id: str, data_dir: str | None, rerankers: tuple[str, ...], model: str | None,
               engine: str | None, options: tuple[str, ...], depth: int | None, output: str,
               cache_dir: str | None, no_cache: bool, verbose: int) -> None:
    """Rerank a TREC run file with document texts from a dataset and write the reranked run.

    \b
    Example:
      rerankit rerank --run bm25.trec --dataset beir/scifact --reranker yes-no --model PATH --depth 20 \\
        --output reranked.trec
    """
    _setup_logging(verbose)
    from rerankit.cache import default_cache_dir
    from rerankit.data import load_dataset
    from rerankit.pipeline import Pipeline
    from rerankit.runner import build_rerankers
    from rerankit.runs import read_trec_run, write_trec_run

    check_output_file(output)
    ds = load_dataset(dataset_id, data_dir=data_dir)
    run = read_trec_run(run_file, documents=_document_texts(ds), queries=ds.queries)
    unknown = [qid for qid in run if qid not in ds.queries]
    if unknown:
        raise ConfigError(f"{len(unknown)} queries of {run_file} are not queries of {ds.id} (e.g. {unknown[:3]}); "
                          "query text is needed to rerank")
    stages = build_rerankers(list(rerankers), dict(model=model, engine=engine, **_parse_options(options)))
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    pipe = Pipeline(rerankers=stages, depth=depth, cache_dir=None if no_cache else root / "stages")
    # Cached outputs are keyed by each ranking's content (query, candidate ids, texts, scores), not by the file.
    results = pipe.rerank_run(run, progress=True, upstream={"dataset": ds.id})
    write_trec_run(pipe.final_run(results), output, tag=stages[-1].name)
    click.echo(f"reranked {len(results)} queries with {' -> '.join(rerankers)} -> {output}", err=True)


def _document_texts(ds: Any) -> Any:
    """Document lookup for a dataset: its corpus, or else the texts its shipped candidates carry (TREC DL)."""
    from rerankit.errors import DataError

    if ds.has_corpus:
        return ds.corpus
    docs: dict[str, Any] = {}
    for name in ds.candidate_names:
        for ranking in ds.candidates(name).values():
            for hit in ranking.hits:
                docs.setdefault(hit.doc.id, hit.doc)
    if not docs:
        raise DataError(f"{ds.id} has neither a corpus nor candidates with text: no document text to rerank")
    return docs


# ---- datasets --------------------------------------------------------------------------------------------------
@main.command("datasets")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--local", "local_only", is_flag=True, help="only datasets available in the local mirror")
@click.option("--json", "as_json", is_flag=True)
def datasets_cmd(data_dir: str | None, local_only: bool, as_json: bool) -> None:
    """List the dataset ids rerankit knows, what the local mirror holds of each, and what that lets you run.

    \b
    "corpus + topics + qrels": retrieve, rerank and evaluate.
    "topics + qrels only": nothing runs locally unless a shipped run is listed; candidates "ids only" can be
    scored (`rerankit eval --dataset ID --candidates NAME`) but reranking them needs the corpus.
    """
    from rerankit.data import list_datasets

    infos = [i for i in list_datasets(data_dir) if i.available_locally or not local_only]
    if as_json:
        click.echo(json.dumps([{"id": i.id, "local": i.available_locally, "where": i.where,
                                "corpus": i.has_corpus, "candidates": dict(i.candidate_text),
                                "contents": i.contents, "usable_for": i.usable_for,
                                "description": i.description} for i in infos]))
        return
    width = max((len(i.id) for i in infos), default=10)
    for i in infos:
        if i.available_locally:
            click.echo(f"{i.id:<{width}}  local   {i.contents}  ->  {i.usable_for}")
        else:
            click.echo(f"{i.id:<{width}}  online  {i.where or 'not available offline'}")


def _register_optional_commands() -> None:
    """Commands whose modules belong to optional parts (server, RAG, exemplar selection) attach themselves here."""
    import importlib

    for module in ("rerankit.cli_serve", "rerankit.cli_exemplars"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(main)


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    main()

