"""Turn an LLM's ranking text ("[2] > [1] > [3]") into a full permutation, counting every repair it needed.

LLMs, small ones especially, repeat identifiers, skip some, invent out-of-range ones or answer in prose. Like
rank_llm's response analysis, the parser keeps the first mention of each valid identifier, drops the rest, and
appends the unmentioned ones in their original order; :class:`RepairCounts` says how often each fix was needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from rerankit.errors import InputError

if TYPE_CHECKING:
    from rerankit.types import Ranking

__all__ = ["RepairCounts", "parse_permutation", "parse_reference_permutation", "extract_answer", "identifier",
           "identifier_index", "normalize_digits", "total_repairs"]

# Look-alike digits models sometimes emit (superscripts, subscripts, circled, full-width) mapped to ASCII.
_FAKE_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉０１２３４５６７８９①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾",
                             "012345678901234567890123456789123456789123456789")
# rank_llm's own table (listwise_inference_handler._clean_response): also the parenthesised digits 🄀-🄉.
_RANKLLM_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾０１２３４５６７８９🄀🄁🄂🄃🄄🄅🄆🄇🄈🄉",
                                "0123456789012345678912345678912345678901234567890123456789")
_BRACKETED = {"numeric": re.compile(r"\[\s*(\d+)\s*\]"), "alpha": re.compile(r"\[\s*([A-Za-z])\s*\]")}
_BARE = {"numeric": re.compile(r"\d+"), "alpha": re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")}
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)


@dataclass
class RepairCounts:
    """How many model outputs needed which fix. Add two with ``+``; :meth:`as_dict` for reports and ranking meta."""

    outputs: int = 0       # model outputs parsed
    clean: int = 0         # outputs that were a complete, valid answer as they stood
    loose: int = 0         # identifiers found only without their brackets / answer tags (prose, "2 > 1")
    duplicates: int = 0    # repeated identifiers removed
    missing: int = 0       # identifiers the output left out, appended in their original order
    out_of_range: int = 0  # identifiers outside the window (e.g. [25] in a window of 20), dropped
    unparseable: int = 0   # outputs with no identifier at all: the window keeps its order
    truncated: int = 0     # outputs cut off at the token limit

    def __add__(self, other: RepairCounts) -> RepairCounts:
        return RepairCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def add(self, other: RepairCounts) -> None:
        """Add `other`'s counts to these, in place."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def repaired(self) -> int:
        """Outputs that needed any fix."""
        return self.outputs - self.clean


def total_repairs(rankings: Iterable[Ranking], name: str) -> dict[str, int]:
    """Repairs summed over the rankings one call returned, read from each ``ranking.meta[name]["repairs"]``.

    Rerankers keep no counter of their own (one instance may serve concurrent calls): the counts travel with the
    rankings they describe. Rankings the stage did not touch (empty candidate lists) add nothing.
    """
    total = RepairCounts()
    for r in rankings:
        counts = r.meta.get(name, {}).get("repairs")
        if counts:
            total.add(RepairCounts(**counts))
    return total.as_dict()


def normalize_digits(text: str) -> str:
    """Map look-alike digits (superscripts, circled, full-width) to ASCII digits."""
    return text.translate(_FAKE_DIGITS)


def identifier(i: int, kind: str = "numeric") -> str:
    """The label of 0-based position `i`: "1", "2", ... or "A", "B", ..."""
    if kind == "numeric":
        return str(i + 1)
    if kind == "alpha":
        if not 0 <= i < 26:
            raise InputError(f"alphabetical identifiers cover 26 passages; position {i + 1} has none (use a "
                             "window of at most 26)")
        return chr(ord("A") + i)
    raise InputError(f"identifiers must be 'numeric' or 'alpha', got {kind!r}")


def identifier_index(label: str, kind: str = "numeric") -> int:
    """0-based position of a label ("3" -> 2, "C" -> 2); -1 for a label that names no position."""
    label = label.strip()
    if kind == "numeric":
        return int(label) - 1 if label.isdigit() else -1
    return ord(label.upper()) - ord("A") if len(label) == 1 and label.isalpha() else -1


def extract_answer(text: str) -> tuple[str, bool]:
    """The final answer of a reasoning output: inside the last <answer> tag, else after </think>, else all of it.

    Output cut off inside an open <think> has no answer (""). Returns (answer text, whether an <answer> tag was found).
    """
    found = _ANSWER.findall(text)
    if found:
        return found[-1], True
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1], False
    if "<think>" in text:
        return "", False
    return text, False


def _find_ids(text: str, kind: str) -> tuple[list[int], bool]:
    """Identifiers in `text` as 0-based positions, and whether they had to be found without brackets."""
    text = normalize_digits(text)
    labels = _BRACKETED[kind].findall(text)
    loose = False
    if not labels:
        labels = _BARE[kind].findall(text)
        loose = bool(labels)
    return [identifier_index(x, kind) if len(x) < 6 else -1 for x in labels], loose


def parse_permutation(text: str, size: int, identifiers: str = "numeric",
                      answer_tags: bool = False) -> tuple[list[int], RepairCounts]:
    """A permutation of ``range(size)`` read from `text`, and the repairs it took.

    With `answer_tags`, the ranking is read from the reasoning output's answer (see :func:`extract_answer`).
    """
    if size < 1:
        raise InputError(f"a permutation needs at least one position, got size {size}")
    if identifiers not in _BRACKETED:
        raise InputError(f"identifiers must be 'numeric' or 'alpha', got {identifiers!r}")
    counts = RepairCounts(outputs=1)
    body, tagged = extract_answer(text) if answer_tags else (text, True)
    ids, loose = _find_ids(body, identifiers)
    counts.loose = int(loose or (answer_tags and not tagged and bool(ids)))
    if not ids:
        counts.unparseable = 1
        return list(range(size)), counts
    order: list[int] = []
    seen: set[int] = set()
    for i in ids:
        if not 0 <= i < size:
            counts.out_of_range += 1
        elif i in seen:
            counts.duplicates += 1
        else:
            seen.add(i)
            order.append(i)
    rest = [i for i in range(size) if i not in seen]
    counts.missing = len(rest)
    counts.clean = int(not (counts.loose or counts.duplicates or counts.missing or counts.out_of_range))
    return order + rest, counts


def parse_reference_permutation(text: str, size: int, identifiers: str = "numeric") -> tuple[list[int], RepairCounts]:
    """A permutation read the way rank_llm and RankGPT read a listwise answer, and the repairs it took.

    Text after the last ``</think>`` only; look-alike digits mapped to ASCII; then *every* digit run is an identifier
    (alphabetical identifiers: every letter, "A" = 1), brackets or not; the first mention of each in-range
    identifier is kept and the unmentioned ones follow in window order (rank_llm ``receive_permutation``, RankGPT
    ``clean_response`` / ``remove_duplicate``). Identifiers that were not bracketed count as ``loose``.
    """
    if size < 1:
        raise InputError(f"a permutation needs at least one position, got size {size}")
    if identifiers not in _BRACKETED:
        raise InputError(f"identifiers must be 'numeric' or 'alpha', got {identifiers!r}")
    counts = RepairCounts(outputs=1)
    if "</think>" in text:
        text = text.split("</think>")[-1].strip()
    text = text.translate(_RANKLLM_DIGITS)
    if identifiers == "alpha":  # each letter becomes its number, letters in a row run together ("AB" -> "12")
        spaced = "".join(str(ord(c) - ord("A") + 1) if c.isalpha() else " " for c in text)
    else:
        spaced = "".join(c if c.isdigit() else " " for c in text)
    bracketed = len(_BRACKETED[identifiers].findall(text))
    try:
        found = [int(x) - 1 for x in spaced.split()]
    except ValueError:  # a digit int() cannot read ("⓪"): the reference keeps the window's order
        found = []
    if not found:
        counts.unparseable = 1
        return list(range(size)), counts
    counts.loose = int(len(found) != bracketed)
    order: list[int] = []
    seen: set[int] = set()
    for i in found:
        if i in seen:
            counts.duplicates += 1
        elif not 0 <= i < size:
            counts.out_of_range += 1
            seen.add(i)
        else:
            seen.add(i)
            order.append(i)
    rest = [i for i in range(size) if i not in seen]
    counts.missing = len(rest)
    counts.clean = int(not (counts.loose or counts.duplicates or counts.missing or counts.out_of_range))
    return order + rest, counts
