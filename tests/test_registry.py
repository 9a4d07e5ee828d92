"""Registry: names build configured stages; unknown names and bad options are clear errors."""

from __future__ import annotations

import pytest

from rerankit.errors import ConfigError
from rerankit.registry import build, names, register, resolve
from rerankit.retrievers.bm25 import BM25Retriever


def test_build_with_defaults_and_overrides():
    r = build("retriever", "BM25", k1=1.2, model=None)
    assert isinstance(r, BM25Retriever) and r.k1 == 1.2 and r.b == 0.4


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError, match="unknown retriever 'nope'.*bm25"):
        resolve("retriever", "nope")
    with pytest.raises(ConfigError, match="unknown stage kind"):
        resolve("stage", "bm25")


def test_bad_options_name_the_stage():
    with pytest.raises(ConfigError, match="cannot build retriever 'bm25'"):
        build("retriever", "bm25", colour="red")


def test_aliases_and_plugins_register():
    register("retriever", "bm25-robertson", "rerankit.retrievers.bm25:BM25Retriever",
             defaults={"method": "robertson"}, aliases=("okapi",))
    assert build("retriever", "okapi").method == "robertson"
    assert "bm25-robertson" in names("retriever")


def test_only_a_signature_mismatch_becomes_a_config_error():
    """A TypeError raised inside a constructor is a bug and must not be reported as a bad option."""
    register("retriever", "broken-inside", "tests.test_registry:_BrokenInside")
    with pytest.raises(TypeError, match="unsupported operand"):
        build("retriever", "broken-inside", width=3)
    with pytest.raises(ConfigError, match="cannot build retriever 'broken-inside'.*accepts width"):
        build("retriever", "broken-inside", height=3)


class _BrokenInside:
    def __init__(self, width: int = 1) -> None:
        self.width = width + "px"  # a bug: TypeError from inside the constructor


def test_option_values_of_the_wrong_type_are_config_errors():
    """Values from `-o key=value` or a config file are checked against the constructor's simple annotations."""
    with pytest.raises(ConfigError, match="option n_threads='x' of retriever 'bm25' must be an integer"):
        build("retriever", "bm25", n_threads="x")
    with pytest.raises(ConfigError, match="option show_progress='yes' .* must be true or false"):
        build("retriever", "bm25", show_progress="yes")
    with pytest.raises(ConfigError, match="option k1='big' .* must be a number"):
        build("retriever", "bm25", k1="big")
    assert build("retriever", "bm25", k1=1, b=0.5, show_progress=False).k1 == 1.0  # an int is a fine float
