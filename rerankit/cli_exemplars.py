"""`rerankit exemplars`: DQ-LoRe in-context exemplar selection from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["register"]


def register(main: click.Group) -> None:
    """Attach the `exemplars` command to the main CLI group."""

    @main.command("exemplars")
    @click.argument("questions", nargs=-1)
    @click.option("--questions-file", type=click.Path(exists=True, dir_okay=False),
                  help="one question per line (in addition to QUESTIONS)")
    @click.option("--model", default="Qwen/Qwen2.5-7B-Instruct", show_default=True,
                  help="LLM for the chain-of-thought query (Hugging Face id or local path)")
    @click.option("--engine", default="transformers", show_default=True, help="engine running the LLM")
    @click.option("--encoder", default="sentence-transformers/all-MiniLM-L6-v2", show_default=True,
                  help="embedding model of the exemplar retriever")
    @click.option("--pool", type=click.Path(exists=True, dir_okay=False),
                  help="exemplar pool JSONL {id, question, solution, answer}; default: the shipped arithmetic pool")
    @click.option("-k", "--k", "k", default=4, show_default=True, help="exemplars to select")
    @click.option("--candidates", "n_candidates", default=16, show_default=True,
                  help="second-query candidates re-ranked by the low-rank projection")
    @click.option("--components", "n_components", default=8, show_default=True, help="principal components kept")
    @click.option("--no-low-rank", is_flag=True, help="skip the PCA re-ranking (plain second-query retrieval)")
    @click.option("--max-tokens", default=192, show_default=True, help="generation budget of the CoT query")
    @click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of the few-shot prompts")
    def exemplars_cmd(questions: tuple[str, ...], questions_file: str | None, model: str, engine: str,
                      encoder: str, pool: str | None, k: int, n_candidates: int, n_components: int,
                      no_low_rank: bool, max_tokens: int, as_json: bool) -> None:
        """Select in-context exemplars for QUESTIONS with DQ-LoRe and print ready few-shot prompts.

        \b
        Example:
          rerankit exemplars "Mia buys 3 pens at $4 each. How much does she pay?" --model PATH -k 4
        """
        from rerankit.errors import RerankitError
        from rerankit.rerankers.dqlore import DQLoReSelector

        qs = list(questions)
        if questions_file:
            qs += [ln.strip() for ln in Path(questions_file).read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not qs:
            raise click.UsageError("give at least one question (as an argument or with --questions-file)")
        try:
            selector = DQLoReSelector(model, engine=engine, encoder=encoder, pool=pool, k=k,
                                      n_candidates=n_candidates, n_components=n_components,
                                      low_rank=not no_low_rank, max_tokens=max_tokens)
            selections = selector.select_many(qs)
        except RerankitError as exc:
            raise click.ClickException(str(exc)) from exc
        for sel in selections:
            if as_json:
                click.echo(json.dumps({"question": sel.question, "exemplars": [e.id for e in sel.exemplars],
                                       "scores": sel.scores, "reasoning": sel.reasoning, "prompt": sel.prompt},
                                      ensure_ascii=False))
            else:
                click.echo(f"# exemplars: {', '.join(e.id for e in sel.exemplars)}")
                click.echo(sel.prompt)
                click.echo()
