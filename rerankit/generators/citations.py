"""Numbered citations in generated text: find the markers ([1], [1, 3], [2-4], [Document 2]) and map them to passages.

Numbers outside 1..n (n = passages in the context) cannot point at a passage: they are dropped from the citations
and reported, never silently kept or silently lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CitationParse", "parse_citations"]

# A bracket group whose whole content is a list of numbers, optionally prefixed ("Document 2", "doc 2, 3").
_GROUP = re.compile(r"\[([^\[\]\n]{1,60})\]")
_PREFIX = r"(?:(?:doc(?:ument)?|passage|source|ref(?:erence)?|result|search result)\s*#?\s*)?"
_ITEM = rf"{_PREFIX}\d+(?:\s*[-\u2013]\s*\d+)?"
_LIST = re.compile(rf"^\s*{_ITEM}(?:\s*(?:,|;|and|&)\s*{_ITEM})*\s*$", re.IGNORECASE)
_RANGE = re.compile(r"(\d+)\s*[-\u2013]\s*(\d+)|(\d+)")
_MAX_RANGE = 20  # "[1-3]" expands; a span wider than this is read as its two ends only


@dataclass(frozen=True)
class CitationParse:
    """What the markers in a text cite.

    `numbers`: valid passage numbers (1-based) in order of first citation, unique. `dropped`: out-of-range numbers
    in order of first appearance, unique. `markers`: how many bracket groups were read as citations.
    `dropped_mentions`: how many times an out-of-range number was cited in all.
    """

    numbers: tuple[int, ...]
    dropped: tuple[int, ...]
    markers: int
    dropped_mentions: int

    def ids(self, passage_ids: Sequence[str]) -> tuple[str, ...]:
        """Document ids of the cited passages (unique, in order of first citation)."""
        out: list[str] = []
        for n in self.numbers:
            pid = passage_ids[n - 1]
            if pid not in out:
                out.append(pid)
        return tuple(out)


def _numbers(content: str) -> list[int]:
    out: list[int] = []
    for m in _RANGE.finditer(content):
        if m.group(3) is not None:
            out.append(int(m.group(3)))
            continue
        a, b = int(m.group(1)), int(m.group(2))
        if a <= b and b - a <= _MAX_RANGE:
            out.extend(range(a, b + 1))
        else:
            out.extend((a, b))
    return out


def parse_citations(text: str, n_passages: int) -> CitationParse:
    """Read the citation markers of `text` against `n_passages` numbered passages (numbered from 1)."""
    valid: list[int] = []
    dropped: list[int] = []
    markers = dropped_mentions = 0
    for group in _GROUP.finditer(text or ""):
        content = group.group(1)
        if not _LIST.match(content):
            continue
        markers += 1
        for n in _numbers(content):
            if 1 <= n <= n_passages:
                if n not in valid:
                    valid.append(n)
            else:
                dropped_mentions += 1
                if n not in dropped:
                    dropped.append(n)
    return CitationParse(tuple(valid), tuple(dropped), markers, dropped_mentions)
