"""Progress during slow model work: while a pipeline stage runs for a terminal, its engine shows per-batch bars."""

from __future__ import annotations

from rerankit.engines.openai import OpenAIEngine
from rerankit.pipeline import Pipeline
from rerankit.progress import engine_progress, engines_of
from rerankit.rerankers.base import Reranker
from rerankit.types import Document, Hit, Query, Ranking


class RecordsEngineProgress(Reranker):
    """Keeps the input order and records whether its engine was asked to show progress during each call."""

    name = "records-progress"

    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine
        self.seen: list[bool] = []

    def _rerank_batch(self, rankings):
        self.seen.append(self.engine.progress)
        return list(rankings)


def _rankings():
    return [Ranking(Query(f"q{i}", "tides"), (Hit(Document("d", "text"), 1.0),)) for i in range(3)]


def test_a_stage_engine_shows_progress_only_while_the_pipeline_runs_with_progress():
    engine = OpenAIEngine("some-model", base_url="http://127.0.0.1:9/v1")  # never called: no request is made
    stage = RecordsEngineProgress(engine)
    assert engines_of(stage) == [engine] and engine.progress is False
    Pipeline(rerankers=[stage]).rerank_run(_rankings(), progress=True)
    assert stage.seen == [True] and engine.progress is False  # switched back off afterwards
    Pipeline(rerankers=[stage]).rerank_run(_rankings(), progress=False)
    assert stage.seen == [True, False]


def test_an_engine_that_shows_progress_already_keeps_it():
    engine = OpenAIEngine("some-model", base_url="http://127.0.0.1:9/v1")
    engine.progress = True
    with engine_progress(RecordsEngineProgress(engine), True):
        assert engine.progress is True
    assert engine.progress is True
