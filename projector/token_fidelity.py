"""Token fidelity of a window projector: how often a soft token's nearest vocabulary token is the one it stands for.

A ``wordpieces`` or ``reader_tokens`` projector is aligned so that each soft token lands on the LLM embedding of
its characters. On held-out text this measures how much exact token identity survives the embedder's states,
split by the kind of token (digits, capitalised, the rest) and, for ``reader_tokens``, by the token's index within
its wordpiece (measured: docs/results.md, "Soft tokens per reader token"), and for the tokens inside the text's gold
answers (``answer``): the spans a reader must copy, where an error costs the question.

``python -m projector.token_fidelity PROJECTOR [PROJECTOR ...] --articles A B ...`` scores the paragraphs of those
articles of a SQuAD-format file (default: the shared SQuAD pool and the validation articles).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from projector.alignment import AlignmentPairs, TokenLayout, alignment_pairs, nearest_token_hits
from projector.model import Projector
from projector.reader_tokens import index_within_wordpiece, shared_characters
from rag.llm import LLM
from rag.window_training import answer_char_spans

logger = logging.getLogger(__name__)


def token_kind(token: str) -> str:
    """``digit``, ``capitalised`` or ``other`` for a vocabulary token (byte-level space marker stripped)."""
    word = token.lstrip("Ġ▁ ")
    if word[:1].isdigit():
        return "digit"
    return "capitalised" if word[:1].isupper() else "other"


def answer_token_mask(tokenizer: Any, texts: Sequence[str], answers: Sequence[Sequence[str]],
                      text_ids: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: which rows of ``reader_tokens`` alignment pairs (``text_ids`` ``(N,)``, each text's rows in
    order) are reader tokens overlapping an occurrence of one of that text's ``answers`` (found as the window
    scorer's targets are: :func:`rag.window_training.answer_char_spans`). A text truncated by the embedder keeps
    its first rows; its last token may be cut short, which only matters if an answer ends exactly there."""
    mask = torch.zeros(len(text_ids), dtype=torch.bool)
    for i, (text, golds) in enumerate(zip(texts, answers)):
        rows = torch.nonzero(text_ids == i).flatten()
        spans = np.asarray(answer_char_spans(text, golds), dtype=np.int64).reshape(-1, 2)
        if len(rows) == 0 or len(spans) == 0:
            continue
        offsets = np.asarray(tokenizer(text, add_special_tokens=False, return_offsets_mapping=True).offset_mapping,
                             dtype=np.int64).reshape(-1, 2)[:len(rows)]
        mask[rows[:len(offsets)]] = torch.from_numpy(shared_characters(offsets, spans).sum(1) > 0)
    return mask


def token_fidelity(llm: LLM, projector: Projector, pairs: AlignmentPairs,
                   extra_groups: dict[str, torch.Tensor] | None = None) -> dict:
    """Fraction of rows whose soft token's nearest vocabulary embedding (cosine) is the target's: ``all``, per
    token kind, per piece index (``reader_tokens``) and per ``extra_groups`` (name -> ``(N,)`` bool mask, e.g.
    :func:`answer_token_mask`), each as ``{"rows": n, "agreement": a}``."""
    hit, wanted = nearest_token_hits(llm, projector, pairs)
    kinds = [token_kind(t) for t in llm.tokenizer.convert_ids_to_tokens(wanted.tolist())]
    groups = {"all": torch.ones_like(hit), **(extra_groups or {})}
    groups |= {kind: torch.tensor([k == kind for k in kinds]) for kind in ("digit", "capitalised", "other")}
    if pairs.pieces is not None:
        pieces = index_within_wordpiece(pairs.pieces, projector.config.max_pieces)
        groups |= {f"piece {i}": pieces == i for i in range(int(pieces.max()) + 1)}
    return {name: {"rows": int(rows.sum()), "agreement": float(hit[rows].float().mean()) if rows.any() else None}
            for name, rows in groups.items()}


def main(argv: list[str] | None = None) -> int:
    from eval.datasets import load_qa
    from eval.records import filter_articles
    from indexer import load_embedder
    from rag.defaults import SHARED_SQUAD
    from rag.token_states import projector_input_dim
    from rag.window_recipe import VALIDATION_ARTICLES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("projectors", nargs="+", help="wordpieces or reader_tokens projector folders")
    ap.add_argument("--dataset", default=str(SHARED_SQUAD))
    ap.add_argument("--articles", nargs="+", default=list(VALIDATION_ARTICLES))
    ap.add_argument("--llm", default=None, help="the projector's LLM (default: the bundled SmolLM2)")
    ap.add_argument("--embedder", default=None, help="the projector's embedder (default: the bundled MiniLM)")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    answers: dict[str, list[str]] = {}
    for r in filter_articles(load_qa(args.dataset), args.articles):
        answers.setdefault(r.context, []).extend(r.answers)
    texts = list(answers)
    if not texts:
        raise SystemExit(f"no paragraphs of articles {args.articles} in {args.dataset}: check the titles")
    llm, embedder = LLM.load(args.llm), load_embedder(args.embedder)
    results = {}
    for path in args.projectors:
        projector = Projector.from_pretrained(path)
        layers = projector.config.token_layers
        projector.check_compatible(embedder.id, projector_input_dim(embedder, layers), llm.id, llm.hidden_size)
        pairs = alignment_pairs(llm, embedder, texts, TokenLayout.of(projector.config), progress=False)
        extra = {}
        if pairs.pieces is not None:  # one row per reader token: rows map to character spans of the text
            extra["answer"] = answer_token_mask(llm.tokenizer, texts, [answers[t] for t in texts], pairs.text_ids)
        results[path] = token_fidelity(llm, projector, pairs, extra)
        logger.info("%s %s", path, json.dumps(results[path]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"texts": len(texts), "articles": args.articles, "projectors": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
