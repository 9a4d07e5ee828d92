"""Ray executor: each worker is a Ray actor that builds its own copy of a stage once and runs batches on it.

Why actors and not Ray Data: a stage holds a loaded model, and batches are lists of Python rankings. An actor per
worker keeps one loaded engine (one vLLM replica per GPU with ``num_gpus=1``) and takes our rankings as they are;
Ray Data would turn them into Arrow blocks and back, for no gain at this granularity. Ray restarts a worker that
dies and retries its batch (``max_restarts``/``max_task_retries``); an error raised by the stage itself comes back
as the same rerankit error as in one process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from rerankit.errors import ConfigError, InputError, MissingDependencyError, RerankitError
from rerankit.executors.base import Executor
from rerankit.executors.recipe import Recipe, RemoteStage, recipe_of

__all__ = ["RayExecutor", "ExecutorError"]

log = logging.getLogger(__name__)


class ExecutorError(RerankitError):
    """Workers that could not run a stage (died more often than they may be restarted, or failed to start)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "ray", "the ray executor") from None
    return ray


class _Worker:
    """The body of one Ray actor: a stage built from its recipe, called by method name."""

    def __init__(self, recipe: Recipe) -> None:
        # A stage that cannot be built (bad option, missing model) is reported on first use, as the stage's own
        # error: an exception here would only tell the driver that the actor died.
        self.stage: Any = None
        self.error: Exception | None = None
        try:
            self.stage = recipe.build()
        except Exception as exc:  # noqa: BLE001 - re-raised on every call
            self.error = exc

    def _ready(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.stage

    def call(self, i: int, method: str, args: tuple) -> tuple[int, Any]:
        return i, getattr(self._ready(), method)(*args)

    def config(self) -> dict:
        return self._ready().config()

    def pid(self) -> int:
        return os.getpid()


class RayExecutor(Executor):
    """Shard batches over `workers` Ray actors.

    Args:
        workers: actors per stage (default: what the cluster's CPUs, or GPUs with `num_gpus`, allow).
        address: a running cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); None starts a local
            instance (or joins the one this process already started).
        num_cpus, num_gpus: resources each worker reserves (``num_gpus=1``: one model replica per GPU).
        max_restarts, max_task_retries: how often Ray restarts a dead worker and retries its batch.
        init_options: more keyword arguments for ``ray.init`` (e.g. ``num_cpus`` of a local instance,
            ``runtime_env``).
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, num_cpus: float = 1,
                 num_gpus: float = 0, max_restarts: int = 3, max_task_retries: int = 3,
                 init_options: dict[str, Any] | None = None) -> None:
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise InputError(f"workers must be a positive integer, got {workers!r}")
        if num_cpus < 0 or num_gpus < 0 or (num_cpus == 0 and num_gpus == 0):
            raise InputError(f"each worker needs some CPUs or GPUs, got num_cpus={num_cpus}, num_gpus={num_gpus}")
        if max_restarts < 0 or max_task_retries < 0:
            raise InputError("max_restarts and max_task_retries must be >= 0")
        self.ray = _ray()
        self.workers, self.address = workers, address
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.max_restarts, self.max_task_retries = max_restarts, max_task_retries
        self.init_options = dict(init_options or {})
        self._pools: dict[int, list[Any]] = {}
        self._keep: dict[int, Any] = {}

    # ---- cluster and workers ------------------------------------------------------------------------------
    def _init(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        opts = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                **self.init_options}
        try:
            ray.init(address=self.address, **opts)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ExecutorError(f"cannot start or join the Ray cluster (address={self.address!r}): {exc}") from None
        log.info("ray: cluster with %s", ray.cluster_resources())

    def _n_workers(self) -> int:
        if self.workers:
            return self.workers
        res = self.ray.cluster_resources()
        by = [res.get("GPU", 0) / self.num_gpus] if self.num_gpus else []
        by += [res.get("CPU", 0) / self.num_cpus] if self.num_cpus else []
        n = int(min(by)) if by else 1
        if n < 1:
            raise ExecutorError(f"the Ray cluster ({res}) has no room for one worker with num_cpus={self.num_cpus}, "
                                f"num_gpus={self.num_gpus}")
        return n

    def _pool(self, stage: Any) -> list[Any]:
        key = id(stage)
        if key in self._pools:
            return self._pools[key]
        recipe = recipe_of(stage)
        self._init()
        # One stage's workers at a time: a pipeline's stages run one after the other, and the workers of a finished
        # stage would otherwise hold the resources the next stage's workers wait for.
        self.close()
        actor = self.ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=self.max_restarts,
                                max_task_retries=self.max_task_retries)(_Worker)
        n = self._n_workers()
        log.info("ray: starting %d worker(s) for %s", n, recipe.describe())
        try:
            ref = self.ray.put(recipe)
        except TypeError as exc:  # an option that cannot be pickled, e.g. a loaded Engine object
            raise ConfigError(f"the options of {recipe.describe()} cannot be sent to Ray workers ({exc}): give "
                              "engines and models by name or path") from None
        pool = [actor.remote(ref) for _ in range(n)]
        # keep the stage (its id keys the pool) and the recipe's object: Ray needs it again to restart a worker
        self._pools[key], self._keep[key] = pool, (stage, ref)
        return pool

    def worker_pids(self, stage: Any) -> list[int]:
        """Process ids of the stage's workers (to watch or kill them)."""
        return self._get([a.pid.remote() for a in self._pool(stage)])

    def close(self) -> None:
        for pool in self._pools.values():
            for a in pool:
                self.ray.kill(a)
        self._pools.clear()
        self._keep.clear()

    # ---- work -----------------------------------------------------------------------------------------------
    def config_of(self, stage: Any) -> dict:
        if isinstance(stage, RemoteStage):
            return self._get(self._pool(stage)[0].config.remote())
        return stage.config()

    def imap(self, stage: Any, method: str, batches: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        if not batches:
            return
        pool = self._pool(stage)
        ray = self.ray
        pending: dict[Any, int] = {}
        idle = list(pool)
        todo = list(enumerate(batches))
        todo.reverse()
        busy: dict[Any, Any] = {}
        while todo or pending:
            while idle and todo:
                i, args = todo.pop()
                a = idle.pop()
                ref = a.call.remote(i, method, tuple(args))
                pending[ref], busy[ref] = i, a
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            pending.pop(ref)
            idle.append(busy.pop(ref))
            yield self._get(ref)

    def _get(self, ref: Any) -> Any:
        """ray.get, with a stage's own error raised as itself and worker deaths as one ExecutorError."""
        exc_mod = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exc_mod.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, exc_mod.RayError):
                raise cause from None
            raise ExecutorError(f"a Ray worker failed: {str(exc).splitlines()[0]}") from None
        except exc_mod.RayActorError as exc:
            raise ExecutorError(f"a Ray worker died more than max_restarts={self.max_restarts} times (last: "
                                f"{str(exc).splitlines()[0]}); see the Ray logs") from None

