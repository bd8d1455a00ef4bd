"""The one record type every QA loader produces, and the helpers that work on lists of records.

- :class:`QARecord` — ``(id, question, answers, context, title)``;
- :func:`contexts_as_corpus` — the records' gold contexts pooled (deduplicated) into a retrieval corpus, so
  an open-retrieval benchmark needs no external dump (``bench --corpus-from-dataset``);
- :func:`split_by_article` — a deterministic train/validation split *by article*: questions about one
  paragraph share its answers, so a split by question leaks the validation answers into training;
- :func:`filter_articles` / :func:`without_articles` — keep / drop the records of some articles (titles match
  ignoring case and ``_``/space);
- :func:`records_fingerprint` — a short hash of the questions and answers, written into run configs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from eval.errors import DatasetFormatError

logger = logging.getLogger(__name__)


@dataclass
class QARecord:
    """One question with its gold answers and, when the dataset has one, its gold context.

    ``answers`` holds every accepted alias (deduplicated, original order); an empty list means "no answer"
    (SQuAD v2 unanswerable questions, only when loaded with ``include_unanswerable=True``).
    ``title`` is the article title for SQuAD/HotpotQA (used by ``articles=`` and :func:`split_by_article`).
    """

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    context: str | None = None
    title: str | None = None

    def to_dict(self) -> dict:
        """JSON-serialisable form (the same field names as the dataclass)."""
        return asdict(self)


def context_id(text: str) -> str:
    """Stable id of a context: ``ctx-`` + 12 hex digits of the SHA-1 of its whitespace-collapsed text."""
    return "ctx-" + hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


def contexts_as_corpus(records: Sequence[QARecord]) -> list[dict]:
    """Pool the records' contexts into a corpus ``[{id, title, text}]``, one entry per distinct context.

    Contexts are deduplicated on their whitespace-collapsed text (SQuAD has ~5 questions per paragraph);
    the id is :func:`context_id` of the text, so the same paragraph gets the same id in every run and a
    gold context can be recognised among retrieved hits. Order: first appearance. Records without a
    context are skipped; a dataset with no context at all raises :class:`DatasetFormatError`.
    """
    corpus: list[dict] = []
    seen: set[str] = set()
    for record in records:
        if not record.context or not record.context.strip():
            continue
        cid = context_id(record.context)
        if cid in seen:
            continue
        seen.add(cid)
        corpus.append({"id": cid, "title": record.title or "", "text": record.context.strip()})
    if not corpus:
        raise DatasetFormatError(
            "None of the records has a context, so there is nothing to pool into a corpus. Fix: use a "
            "dataset with contexts (SQuAD, HotpotQA, or a JSONL/CSV with a 'context' column), or pass "
            "--index DIR to retrieve from an existing index instead of --corpus-from-dataset.")
    logger.info("Pooled %d distinct contexts from %d records", len(corpus), len(records))
    return corpus


def _title_key(title: str) -> str:
    return title.replace("_", " ").strip().casefold()


def _title_keys(title: str | None) -> set[str]:
    """Keys of a record's title; HotpotQA titles list several articles joined by ``" | "``."""
    return {_title_key(part) for part in title.split(" | ")} if title else set()


def filter_articles(records: Sequence[QARecord], articles: Sequence[str]) -> list[QARecord]:
    """Records whose title is one of ``articles`` (case-insensitive; ``_`` and space are the same).

    A HotpotQA record (title ``"A | B"``) is kept when any of its supporting articles is asked for.

    Raises :class:`DatasetFormatError` naming the unknown titles and listing a few available ones.
    """
    wanted = {_title_key(a): a for a in articles}
    available = set().union(*(_title_keys(r.title) for r in records))
    missing = [a for key, a in wanted.items() if key not in available]
    if missing:
        sample = sorted({r.title for r in records if r.title})[:10]
        raise DatasetFormatError(
            f"Unknown article title(s) {missing}. Fix: use titles from the dataset, e.g. {sample} "
            f"({len(available)} articles in all; '_' and spaces are interchangeable, case is ignored).")
    kept = [r for r in records if _title_keys(r.title) & wanted.keys()]
    logger.info("Kept %d of %d records from %d article(s)", len(kept), len(records), len(wanted))
    return kept


def without_articles(records: Sequence[QARecord], articles: Sequence[str]) -> list[QARecord]:
    """Records of every other article (the complement of :func:`filter_articles`; unknown titles are fine)."""
    unwanted = {_title_key(a) for a in articles}
    return [r for r in records if not _title_keys(r.title) & unwanted]


def split_by_article(records: Sequence[QARecord], n_val_articles: int,
                     seed: int = 0) -> tuple[list[QARecord], list[QARecord]]:
    """Split into ``(train, val)`` with ``n_val_articles`` whole articles in ``val``; deterministic in ``seed``.

    Titles are sorted, shuffled with ``random.Random(seed)`` and the first ``n_val_articles`` go to the
    validation side; record order inside each side is the input order. Every record needs a title.
    """
    untitled = sum(1 for r in records if not r.title)
    if untitled:
        raise DatasetFormatError(
            f"{untitled} of {len(records)} records have no title, so they cannot be split by article. "
            "Fix: use SQuAD or HotpotQA (which have titles) or add a 'title' column to the dataset.")
    titles = sorted({r.title for r in records if r.title})
    if not 0 < n_val_articles < len(titles):
        raise DatasetFormatError(
            f"n_val_articles={n_val_articles} but the records come from {len(titles)} articles. "
            f"Fix: choose 1 <= n_val_articles <= {len(titles) - 1} so both sides are non-empty.")
    random.Random(seed).shuffle(titles)
    val_titles = set(titles[:n_val_articles])
    train = [r for r in records if r.title not in val_titles]
    val = [r for r in records if r.title in val_titles]
    logger.info("Split by article (seed %d): %d train / %d val questions; val articles: %s",
                seed, len(train), len(val), sorted(val_titles))
    return train, val


def records_fingerprint(records: Sequence[QARecord]) -> str:
    """16 hex digits of the SHA-256 of the records' ids, questions, answers and contexts (order matters)."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(json.dumps([r.id, r.question, r.answers, r.context, r.title]).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def dedupe_ids(records: list[QARecord]) -> list[QARecord]:
    """Make ids unique in place by suffixing repeats (``id#2``, ``id#3``), logging how many were renamed."""
    taken: set[str] = set()
    renamed = 0
    for record in records:
        if record.id in taken:
            n = 2
            while f"{record.id}#{n}" in taken:
                n += 1
            record.id = f"{record.id}#{n}"
            renamed += 1
        taken.add(record.id)
    if renamed:
        logger.warning("%d records had duplicate ids; renamed with '#n' suffixes", renamed)
    return records
