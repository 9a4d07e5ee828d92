"""`rerankit serve` (the HTTP service) and `rerankit rag` (one answer with citations), attached to the main CLI."""

from __future__ import annotations

import json
import logging
import sys

import click

from rerankit.errors import ConfigError

__all__ = ["register"]

log = logging.getLogger("rerankit")

_DATA_DIR_HELP = "local mirror root of datasets (laid out like shared/data); default $RERANKIT_DATA_DIR"


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@click.command("serve")
@click.option("--config", "config", required=True, type=click.Path(exists=True, dir_okay=False),
              help="pipeline spec (YAML/TOML): retriever, rerankers, generator; see examples/pipeline.yaml")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port")
@click.option("--max-body-bytes", default=1_048_576, show_default=True, type=int, help="largest request body (413)")
@click.option("--max-candidates", default=100, show_default=True, type=int,
              help="most passages per /rerank request and largest k of /search and /rag (422)")
@click.option("--max-batch", default=32, show_default=True, type=int, help="most requests batched into one call")
@click.option("--max-wait-ms", default=5.0, show_default=True, type=float,
              help="how long a lone request waits for others to batch with")
@click.option("--max-queue", default=256, show_default=True, type=int,
              help="most /search, /rerank, /rag requests queued or running at once; more get 503 + Retry-After")
@click.option("--no-warmup", is_flag=True, help="report ready without a warm-up call through each model")
@click.option("--shutdown-timeout", default=30.0, show_default=True, type=float,
              help="seconds in-flight requests get to finish on SIGTERM/SIGINT")
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug logs on stderr")
def serve_cmd(config: str, host: str, port: int, max_body_bytes: int, max_candidates: int, max_batch: int,
              max_wait_ms: float, max_queue: int, no_warmup: bool, shutdown_timeout: float, verbose: int) -> None:
    """Serve a pipeline over HTTP: POST /search, /rerank, /rag; GET /health, /ready, /stats, /docs.

    \b
    Example:
      rerankit index --dataset beir/scifact --output examples/indexes/scifact-bm25
      rerankit serve --config examples/pipeline.yaml --port 8000
      curl -s localhost:8000/search -H 'content-type: application/json' -d '{"query": "vitamin D", "k": 3}'

    If the pipeline cannot load (a missing index, an unloadable model), the server stops and the command exits
    with status 2 and the error.
    """
    _setup_logging(verbose)
    if verbose == 0:  # a server says where it listens, when it is ready and why it stopped, even without -v
        logging.getLogger("rerankit.server").setLevel(logging.INFO)
    from rerankit.server import serve
    from rerankit.server.service import ServerSettings

    settings = ServerSettings(max_body_bytes=max_body_bytes, max_candidates=max_candidates, max_batch=max_batch,
                              max_wait_ms=max_wait_ms, max_queue=max_queue, warmup=not no_warmup,
                              shutdown_timeout_s=shutdown_timeout)
    serve(config, host=host, port=port, settings=settings,
          log_level={0: "warning", 1: "info"}.get(verbose, "debug"))


@click.command("rag")
@click.option("--dataset", "dataset_id", required=True, help="dataset whose corpus to answer from (beir/scifact, ...)")
@click.option("--query", "query", required=True, help="the question")
@click.option("--data-dir", envvar="RERANKIT_DATA_DIR", type=click.Path(file_okay=False), help=_DATA_DIR_HELP)
@click.option("--retriever", default="bm25", show_default=True, help="first stage (indexed once, then reused)")
@click.option("--reranker", "reranker", help="optional reranker name applied before answering (e.g. cross-encoder)")
@click.option("--reranker-model", help="model id or path of the reranker")
@click.option("--depth", type=click.IntRange(min=1), default=20, show_default=True,
              help="candidates the reranker sees")
@click.option("--model", help="generator model id or path (default Qwen/Qwen2.5-0.5B-Instruct)")
@click.option("--engine", default="auto", show_default=True,
              help="generator engine: auto (vllm where it imports, else transformers), transformers, vllm, openai, "
              "llamacpp")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="extra option of the generator's engine (repeatable), e.g. -o base_url=http://localhost:8001/v1")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=20, show_default=True, help="documents retrieved")
@click.option("--max-passages", type=click.IntRange(min=1), default=5, show_default=True,
              help="passages put into the context")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="answer length limit")
@click.option("--context-budget", type=int, help="most prompt tokens (default: the model's context - answer)")
@click.option("--json", "as_json", is_flag=True, help="print the answer, citations and meta as JSON")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="index store (default ~/.cache/rerankit)")
@click.option("-v", "--verbose", count=True)
def rag_cmd(dataset_id: str, query: str, data_dir: str | None, retriever: str, reranker: str | None,
            reranker_model: str | None, depth: int, model: str | None, engine: str, options: tuple[str, ...], k: int,
            max_passages: int, max_new_tokens: int, context_budget: int | None, as_json: bool,
            cache_dir: str | None, verbose: int) -> None:
    """Answer one question from a dataset's corpus and print the answer with its citations.

    \b
    Example:
      rerankit rag --dataset beir/scifact --query "Does vitamin D affect bone density?" \\
          --model qwen2.5-coder-0.5b-instruct --max-passages 3
    """
    _setup_logging(verbose)
    from tqdm.auto import tqdm

    from rerankit.cli import _parse_options
    from rerankit.data import load_dataset
    from rerankit.pipeline import Pipeline
    from rerankit.progress import engine_progress
    from rerankit.registry import build
    from rerankit.runner import open_retriever

    if not query.strip():
        raise ConfigError("--query is empty: give a question")
    ds = load_dataset(dataset_id, data_dir=data_dir)
    ret = open_retriever(ds, retriever, {}, cache_dir)
    rerankers = [build("reranker", reranker, model=reranker_model, depth=depth)] if reranker else []
    gen_opts = {"engine": engine, "engine_options": _parse_options(options), "max_passages": max_passages,
                "max_new_tokens": max_new_tokens, "context_budget": context_budget}
    if model:
        gen_opts["model"] = model
    generator = build("generator", "rag", **gen_opts)
    show = not as_json or sys.stderr.isatty()
    with tqdm(total=3, desc="rag: load the generator", unit="step", disable=not show, leave=False) as steps:
        generator.load()
        steps.update(1)
        steps.set_description("rag: retrieve" + (" and rerank" if rerankers else ""))
        pipe = Pipeline(ret, rerankers, k=k)
        ranking = pipe.run_many([query], progress=show)[0].ranking
        steps.update(1)
        steps.set_description("rag: generate the answer")
        with engine_progress(generator, show):
            answer = generator.generate_many([ranking])[0]
        steps.update(1)
    assert answer is not None
    if as_json:
        click.echo(json.dumps({"query": query, "answer": answer.text, "citations": list(answer.citations),
                               "passages_used": [d.id for d in answer.passages_used], "meta": answer.meta}))
        return
    click.echo(answer.text or "(no answer)")
    click.echo("")
    numbers = answer.meta.get("citation_numbers", [])
    if not numbers:
        click.echo("Citations: none (the model cited no passage)")
    else:
        click.echo("Citations:")
        for n in numbers:
            doc = answer.passages_used[n - 1]
            click.echo(f"  [{n}] {doc.id}  {' '.join(doc.title.split())[:100]}")
    if answer.meta.get("dropped_citations"):
        dropped = ", ".join(f"[{n}]" for n in answer.meta["dropped_citations"])
        click.echo(f"Dropped citations (no such passage in the context): {dropped}")
    click.echo(f"Context: {len(answer.passages_used)} passages, {answer.meta.get('prompt_tokens')} prompt tokens",
               err=True)


def register(main: click.Group) -> None:
    """Attach `serve` and `rag` to the main `rerankit` command group."""
    main.add_command(serve_cmd)
    main.add_command(rag_cmd)
