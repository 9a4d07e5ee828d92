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
from itertools import chain

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
        """``[self(t) for t in texts]``, but each distinct word is normalised (possessive, stopword, stem) once."""
        raw = self._words(texts)
        terms = self._term_of(raw)
        return [[term for w in words if (term := terms[w]) is not None] for words in raw]

    def many_ids(self, texts: Iterable[str], vocab: dict[str, int], grow: bool) -> list[list[int]]:
        """Each text's terms as ids of `vocab` (term -> id), in text order, as :meth:`many` gives them.

        With `grow`, a term not yet in `vocab` is added with the next id (``len(vocab)``, in order of first
        occurrence); without, terms unknown to `vocab` are left out (as an index ignores words it never saw).
        """
        raw = self._words(texts)
        terms = self._term_of(raw)
        ids: dict[str, int] = {}
        for word, term in terms.items():
            if term is None:
                ids[word] = -1
            elif grow:
                ids[word] = vocab.setdefault(term, len(vocab))
            else:
                ids[word] = vocab.get(term, -1)
        return [[i for w in words if (i := ids[w]) >= 0] for words in raw]

    def _words(self, texts: Iterable[str]) -> list[list[str]]:
        if self.lowercase:
            return [_TOKEN.findall(t.lower()) for t in texts]
        return [_TOKEN.findall(t) for t in texts]

    def _term_of(self, raw: list[list[str]]) -> dict[str, str | None]:
        """Distinct word -> its index term (None for a stopword or an empty word; Porter stems "s" to "", which
        stays a term as it does in :meth:`__call__`)."""
        words = list(dict.fromkeys(chain.from_iterable(raw)))
        stripped = [w[:-2] if w.endswith(_POSSESSIVES) else w for w in words]
        stop = self.stopwords or frozenset()
        kept = [i for i, w in enumerate(stripped) if w and w not in stop]
        stem_words = self._stem_words
        stems = stem_words([stripped[i] for i in kept]) if stem_words and kept else [stripped[i] for i in kept]
        terms: dict[str, str | None] = dict.fromkeys(words)
        for i, stem in zip(kept, stems):
            terms[words[i]] = stem
        return terms

    def config(self) -> dict:
        return {"stemmer": self.stemmer, "stopwords": sorted(self.stopwords) if self.stopwords else None,
                "lowercase": self.lowercase}
