"""Which alignment text a ``reader_tokens`` projector needs: token fidelity by how often a token was seen.

Aligns a fresh every-layer ``reader_tokens`` projector (alignment only, no distillation) on the training paragraphs
plus ``--demo`` bundled summaries, optionally plus the reader's vocabulary (``projector.lexicon``), then scores
it on the validation articles' paragraphs: the share of soft tokens whose nearest vocabulary embedding is the
right token, overall, for capitalised and digit tokens, and by how often the token occurs in the training
paragraphs + the first 2,000 summaries (the shipped alignment text up to 2026-11-24). docs/results.md, "The reader's
vocabulary as alignment text"::

    python docs/experiments/alignment_coverage.py --demo 2000 --epochs 4
    python docs/experiments/alignment_coverage.py --demo 2000 --epochs 4 --lexicon
    python docs/experiments/alignment_coverage.py --demo 10033 --epochs 4 --lexicon
    python docs/experiments/alignment_coverage.py --demo 2000 --epochs 4 --lexicon --vocabulary-weight 1
    python docs/experiments/alignment_coverage.py --demo 2000 --epochs 4 --lexicon --vocabulary-weight 1 --hidden 2048
"""

import argparse
import collections
import json

import torch

from eval.datasets import load_qa
from eval.records import filter_articles, without_articles
from indexer import load_embedder
from projector.alignment import (
    AlignConfig,
    AlignmentPairs,
    TokenLayout,
    align,
    alignment_pairs,
    nearest_token_hits,
    unit_vocabulary,
)
from projector.config import READER_TOKENS, ProjectorConfig
from projector.lexicon import lexicon_texts
from projector.model import Projector
from projector.token_fidelity import token_kind
from rag.defaults import SHARED_SQUAD, load_demo_corpus
from rag.llm import LLM
from rag.token_states import ALL_LAYERS, projector_input_dim
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES

BUCKETS = ((0, 3), (3, 30), (30, 100), (100, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=int, default=2000, help="bundled summaries added to the training paragraphs")
    ap.add_argument("--lexicon", action="store_true", help="add the reader's whole-word tokens, read alone")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024, help="the projector's hidden width")
    ap.add_argument("--vocabulary-weight", type=float, default=0.0,
                    help="add this x the cross-entropy over the reader's vocabulary to the cosine loss")
    args = ap.parse_args()
    llm, embedder = LLM.load(None), load_embedder(None)
    records = load_qa(str(SHARED_SQUAD))
    train = list(dict.fromkeys(r.context for r in without_articles(records, (*VALIDATION_ARTICLES,
                                                                            *SECOND_SET_ARTICLES))))
    val = list(dict.fromkeys(r.context for r in filter_articles(records, VALIDATION_ARTICLES)))
    demo = [d["text"] for d in load_demo_corpus(limit=max(args.demo, 2000))]
    parts = [alignment_pairs(llm, embedder, train + demo[:args.demo], TokenLayout(8, ALL_LAYERS))]
    if args.lexicon:
        parts.append(alignment_pairs(llm, embedder, lexicon_texts(llm.tokenizer), TokenLayout(8, ALL_LAYERS),
                                     max_length=16, batch_size=512))
    pairs = AlignmentPairs.cat(parts)
    torch.manual_seed(0)
    projector = Projector(ProjectorConfig(
        d_embed=projector_input_dim(embedder, ALL_LAYERS), d_model=llm.hidden_size, tokens_per_vector=1,
        hidden=args.hidden, memory_encoding=READER_TOKENS, embedder_id=embedder.id, llm_id=llm.id,
        target_norm=llm.embedding_norm, max_pieces=8, token_layers=ALL_LAYERS))
    history = align(projector, pairs, AlignConfig(epochs=args.epochs, vocabulary_weight=args.vocabulary_weight),
                    vocabulary=unit_vocabulary(llm, projector.device) if args.vocabulary_weight else None)
    hit, wanted = nearest_token_hits(llm, projector, alignment_pairs(llm, embedder, val, TokenLayout(8, ALL_LAYERS)))
    seen = collections.Counter(i for text in train + demo[:2000]
                               for i in llm.tokenizer(text, add_special_tokens=False).input_ids)
    count = torch.tensor([seen[i] for i in wanted.tolist()])
    kinds = [token_kind(t) for t in llm.tokenizer.convert_ids_to_tokens(wanted.tolist())]
    groups = {"all": torch.ones_like(hit)}
    groups |= {kind: torch.tensor([k == kind for k in kinds]) for kind in ("capitalised", "digit")}
    groups |= {f"seen {lo}-{hi or ''}": (count >= lo) & (count < (hi or 10**9)) for lo, hi in BUCKETS}
    result = {**vars(args), "rows": len(pairs), "align_loss": history[-1]["align_loss"]}
    result |= {name: {"share": round(float(rows.float().mean()), 3), "fidelity": round(float(hit[rows].float().mean()), 3)}
               for name, rows in groups.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
