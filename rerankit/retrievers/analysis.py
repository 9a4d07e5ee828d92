"""Text analysis that mirrors Anserini's default English analyzer, so our BM25 scores match Lucene's.

Anserini indexes with Lucene's StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter
(Lucene's 33-word English set) -> PorterStemFilter. We approximate UAX#29 word segmentation with a regular
expression that keeps inner apostrophes and dots ("don't", "3.14", "u.s") and use PyStemmer's original Porter
algorithm (not Snowball's Porter2, which differs on many words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["LUCENE_STOPWORDS", "Analyzer"]

LUCENE_STOPWORDS: frozenset[str] = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)
"""Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (the set Anserini uses by default)."""

_TOKEN = re.compile(r"\w+(?:[.'\u2019]\w+)*", re.UNICODE)
_POSSESSIVES = ("'s", "\u2019s")


@dataclass(frozen=True)
class Analyzer:
    """Turns text into index terms. All options are part of the index config (and so of its cache key)."""

    stemmer: str | None = "porter"
    stopwords: frozenset[str] | None = field(default=LUCENE_STOPWORDS)
    lowercase: bool = True

    @cached_property
    def _stem_words(self):  # PyStemmer is a core dependency; built lazily so the dataclass stays picklable
        if not self.stemmer:
            return None
        import Stemmer

        return Stemmer.Stemmer(self.stemmer).stemWords

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        tokens = [t[:-2] if t.endswith(_POSSESSIVES) else t for t in _TOKEN.findall(text)]
        stop = self.stopwords or frozenset()
        tokens = [t for t in tokens if t and t not in stop]
        stem_words = self._stem_words
        return stem_words(tokens) if stem_words and tokens else tokens

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(t) for t in texts]

    def config(self) -> dict:
        return {"stemmer": self.stemmer, "stopwords": sorted(self.stopwords) if self.stopwords else None,
                "lowercase": self.lowercase}
