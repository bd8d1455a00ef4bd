"""Parsers from already-decoded JSON/CSV/``datasets`` rows into :class:`~eval.records.QARecord` lists.

One function per dataset family; :mod:`eval.datasets` reads files and picks the parser.

- **SQuAD v1.1 / v2.0** (``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}``): one record
  per question, context = its paragraph, title = its article (``_`` shown as spaces, as Wikipedia displays
  it: ``"Victoria (Australia)"``). v2 unanswerable questions are skipped
  unless ``include_unanswerable`` (then ``answers == []``); either way they are counted and logged.
- **HotpotQA** (list of ``{_id, question, answer, supporting_facts, context}``, the original
  ``[[title, [sentences]], ...]`` layout or the Hugging Face ``{"title": [...], "sentences": [...]}`` one):
  context = the *supporting* paragraphs only, whole (every sentence, not only the supporting ones), in
  their dataset order, each written ``"{title}: {sentences}"`` and joined by a blank line; title = their
  titles joined by ``" | "``. Distractor paragraphs are left out because the context is the gold context
  (the ``oracle`` modes and gold-passage recall). Without ``supporting_facts`` (the test set) every
  paragraph is used.
- **Rows** (plain JSONL/CSV, NQ-open, TriviaQA, Hugging Face SQuAD rows): see :func:`row_answers`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eval.errors import DatasetFormatError
from eval.records import QARecord

logger = logging.getLogger(__name__)

_TRIVIA_KEYS = (("value", "Value"), ("aliases", "Aliases"), ("normalized_aliases", "NormalizedAliases"),
                ("normalized_value", "NormalizedValue"))


def _unique(items: Iterable[Any]) -> list[str]:
    """Non-empty stripped strings, deduplicated, first occurrence kept."""
    out: list[str] = []
    for item in items:
        text = str(item).strip() if item is not None else ""
        if text and text not in out:
            out.append(text)
    return out


def parse_squad(obj: Mapping, source: str, include_unanswerable: bool = False) -> list[QARecord]:
    """SQuAD v1.1/v2.0 JSON object -> records (see the module docstring)."""
    records: list[QARecord] = []
    unanswerable = 0
    for article in obj["data"]:
        title = str(article["title"]).replace("_", " ") if article.get("title") else None
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = _unique(a.get("text") for a in qa.get("answers", []))
                if qa.get("is_impossible") or not answers:
                    unanswerable += 1
                    if not include_unanswerable:
                        continue
                    answers = []
                records.append(QARecord(id=str(qa["id"]), question=qa["question"].strip(), answers=answers,
                                        context=paragraph.get("context"), title=title))
    if unanswerable:
        action = "kept with answers=[]" if include_unanswerable else "skipped (include_unanswerable=False)"
        logger.info("%s: %d unanswerable question(s) %s", source, unanswerable, action)
    return records


def _hotpot_paragraphs(context: Any) -> list[tuple[str, list[str]]]:
    """Both HotpotQA layouts -> ``[(title, sentences)]``."""
    if isinstance(context, Mapping):
        return list(zip(context["title"], context["sentences"], strict=True))
    return [(str(title), list(sentences)) for title, sentences in context]


def _hotpot_support_titles(facts: Any) -> set[str]:
    if not facts:
        return set()
    if isinstance(facts, Mapping):
        return {str(t) for t in facts.get("title", [])}
    return {str(fact[0]) for fact in facts}


def parse_hotpot(items: Sequence[Mapping], source: str) -> list[QARecord]:
    """HotpotQA list -> records; context = supporting paragraphs joined (see the module docstring)."""
    records: list[QARecord] = []
    for i, item in enumerate(items):
        paragraphs = _hotpot_paragraphs(item.get("context") or [])
        support = _hotpot_support_titles(item.get("supporting_facts"))
        chosen = [(t, s) for t, s in paragraphs if t in support] or paragraphs
        context = "\n\n".join(f"{t}: {' '.join(x.strip() for x in s)}" for t, s in chosen) or None
        answers = _unique([item.get("answer")])
        if not answers:
            raise DatasetFormatError(f"{source}: HotpotQA item {i} has no 'answer'. Fix: use the train or "
                                     "dev file (the test file has no answers).")
        records.append(QARecord(id=str(item.get("_id", item.get("id", f"hotpot-{i}"))),
                                question=str(item["question"]).strip(), answers=answers, context=context,
                                title=" | ".join(t for t, _ in chosen) or None))
    return records


def _trivia_answers(answer: Mapping) -> list[str]:
    """TriviaQA answer dict (lower-case or capitalised keys) -> value first, then aliases."""
    collected: list[Any] = []
    for keys in _TRIVIA_KEYS:
        value = next((answer[k] for k in keys if k in answer), None)
        if isinstance(value, str):
            collected.append(value)
        elif value:
            collected.extend(value)
    return _unique(collected)


def _answer_value(value: Any, split_pipes: bool) -> list[str]:
    """One ``answers``/``answer`` cell in any supported shape -> aliases."""
    if isinstance(value, str):
        return _unique(value.split("|")) if split_pipes else _unique([value])
    if isinstance(value, Mapping):
        if "text" in value:  # Hugging Face SQuAD: {"text": [...], "answer_start": [...]}
            return _unique(value["text"])
        return _trivia_answers(value)
    if isinstance(value, Iterable):
        return _unique(value)
    return _unique([value])


def row_answers(row: Mapping, split_pipes: bool = False) -> list[str] | None:
    """Gold aliases of a row, or None when it has neither ``answers`` nor ``answer``.

    Accepted shapes: a string (``|``-separated when ``split_pipes``, i.e. CSV), a list of strings
    (NQ-open), a TriviaQA dict (``value``/``aliases``/``normalized_aliases``, any capitalisation used by
    the official files), a Hugging Face SQuAD dict (``{"text": [...]}``). Numbers become strings.
    """
    for key in ("answers", "answer", "Answer"):
        if key in row and row[key] is not None:
            return _answer_value(row[key], split_pipes)
    return None


def _row_id(row: Mapping, prefix: str, index: int) -> str:
    for key in ("id", "_id", "question_id", "QuestionId", "qid"):
        if row.get(key) not in (None, ""):
            return str(row[key])
    return f"{prefix}-{index}"


def parse_rows(rows: Iterable[Mapping], source: str, prefix: str, split_pipes: bool = False) -> list[QARecord]:
    """Generic rows (plain JSONL/CSV, NQ-open, TriviaQA, ``datasets`` rows) -> records.

    Needs ``question`` (or ``Question``) and ``answers``/``answer``; optional ``context``, ``title``,
    ``id``. Missing ids become ``{prefix}-{row number}``. Rows are numbered from 0 in error messages.
    """
    records: list[QARecord] = []
    for i, row in enumerate(rows):
        question = row.get("question", row.get("Question"))
        answers = row_answers(row, split_pipes)
        if not isinstance(question, str) or not question.strip() or answers is None:
            raise DatasetFormatError(
                f"{source}: row {i} needs a non-empty 'question' and an 'answers' or 'answer' field; it has "
                f"keys {sorted(row)}. Fix: rename the columns, or pass format= to pick the right loader.")
        context = row.get("context")
        title = row.get("title")
        records.append(QARecord(id=_row_id(row, prefix, i), question=question.strip(), answers=answers,
                                context=context if isinstance(context, str) and context.strip() else None,
                                title=str(title) if title not in (None, "") else None))
    return records


def parse_triviaqa(obj: Any, source: str, prefix: str) -> list[QARecord]:
    """TriviaQA: the official ``{"Data": [...]}`` object, or a list of rows with an ``answer`` dict.

    Contexts are not loaded (TriviaQA evidence is whole web pages / Wikipedia articles, not a passage).
    """
    rows = obj["Data"] if isinstance(obj, Mapping) and "Data" in obj else obj
    return parse_rows(rows, source, prefix)
