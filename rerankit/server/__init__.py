"""HTTP service for RAG backends (FastAPI + uvicorn, the ``server`` extra): search, rerank, rag, health, ready.

``rerankit serve --config pipeline.yaml`` runs it; :func:`create_app` gives the ASGI app for any ASGI server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rerankit.errors import MissingDependencyError, RerankitError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from rerankit.pipeline import Pipeline
    from rerankit.server.service import ServerSettings

__all__ = ["create_app", "app_from_config", "serve", "ServerSettings"]

log = logging.getLogger(__name__)


def _check_deps() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "fastapi", "server", "the HTTP service") from None


def __getattr__(name: str) -> Any:
    if name == "ServerSettings":
        from rerankit.server.service import ServerSettings

        return ServerSettings
    raise AttributeError(name)


def create_app(pipeline: Pipeline | Any, settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI app serving a pipeline (or a zero-argument factory that builds one in the background)."""
    _check_deps()
    from rerankit.server.app import create_app as _create

    return _create(pipeline, settings)


def resolve_spec(config: str | Path) -> dict[str, Any]:
    """Read a pipeline spec; a relative ``retriever.index`` path is taken relative to the config file."""
    from rerankit.config import load_spec

    path = Path(config)
    spec = load_spec(path)
    r = spec.get("retriever")
    if isinstance(r, dict) and "index" in r:
        index = Path(str(r["index"])).expanduser()
        if not index.is_absolute() and not index.exists() and (path.parent / index).exists():
            spec["retriever"] = {**r, "index": str((path.parent / index).resolve())}
    return spec


def app_from_config(config: str | Path, settings: ServerSettings | None = None) -> FastAPI:
    """The app for a pipeline YAML/TOML file; the spec is checked now, models load after startup."""
    from rerankit.config import pipeline_from_spec

    spec = resolve_spec(config)
    return create_app(lambda: pipeline_from_spec(spec), settings)


def serve(config: str | Path, host: str = "127.0.0.1", port: int = 8000,
          settings: ServerSettings | None = None, log_level: str = "info") -> None:
    """Run the service until SIGINT/SIGTERM; in-flight requests finish (up to settings.shutdown_timeout_s).

    Logs where it listens once the port is open. If the pipeline cannot load, the server shuts down and this
    raises the load error (``rerankit serve`` then exits non-zero with it) instead of staying up unable to serve.
    """
    _check_deps()
    import uvicorn

    from rerankit.server.service import ServerSettings

    settings = settings or ServerSettings()
    app = app_from_config(config, settings)
    server = _server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                                    timeout_graceful_shutdown=int(settings.shutdown_timeout_s)), str(config))
    app.state.on_load_failure = server.exit_soon
    server.run()
    failure = app.state.service.load_exception
    if failure is not None:
        if isinstance(failure, RerankitError):
            raise failure
        raise RerankitError(f"the pipeline in {config} failed to load: {type(failure).__name__}: {failure}") \
            from failure


def _server(config: Any, config_path: str) -> Any:
    """A uvicorn server that logs where it listens, and that a failed pipeline load can stop."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            for srv in getattr(self, "servers", []):
                for sock in srv.sockets or ():
                    host, port = sock.getsockname()[:2]
                    host = f"[{host}]" if ":" in str(host) else host
                    log.info("rerankit serve listening on http://%s:%s (config %s); models load in the "
                             "background: GET /ready says when they are in", host, port, config_path)

        def exit_soon(self) -> None:
            """Shut down as after SIGTERM (used when the pipeline failed to load)."""
            self.should_exit = True

    return Server(config)
