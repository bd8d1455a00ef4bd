"""Token fidelity by how often a reader token's embedder wordpiece occurred in the alignment text.

For each reader token of the held-out paragraphs (validation articles by default), whether the projector's soft
token is nearest its own token, split by token kind (digit, capitalised, other) and by how many times the token's
main MiniLM wordpiece (the one sharing most of its characters) occurs in the alignment text of the vocabulary
cross-entropy projector (`projector/weights/vocabulary-ce`, the default before coverage): the training
paragraphs + the first 2,000 bundled summaries + the reader's whole-word lexicon. The buckets are the same for
every projector scored, so a projector aligned on more text shows where it gained. docs/results.md, "Covering the
embedder's vocabulary"::

    python docs/experiments/wordpiece_coverage.py projector/weights/vocabulary-ce projector/weights/default
    python docs/experiments/wordpiece_coverage.py projector/weights/vocabulary-ce --articles Teacher ...
"""

import argparse
import collections
import json

import numpy as np

from eval.datasets import load_qa
from eval.records import filter_articles, without_articles
from indexer import load_embedder
from projector.alignment import TokenLayout, alignment_pairs, nearest_token_hits
from projector.lexicon import lexicon_texts
from projector.model import Projector
from projector.reader_tokens import token_wordpiece_overlap
from projector.token_fidelity import token_kind
from rag.defaults import SHARED_SQUAD, load_demo_corpus
from rag.llm import LLM
from rag.token_states import ALL_LAYERS, token_states
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES

BUCKETS = ((0, 1), (1, 3), (3, 30), (30, None))


def main_wordpieces(llm: LLM, embedder, texts: list[str]) -> list[str]:
    """Per reader token of ``texts`` (in the order :func:`alignment_pairs` gives rows): its main wordpiece."""
    mains = []
    for text, states in zip(texts, token_states(embedder, texts, 256)):
        text = text[:int(states.spans[-1][1])]  # the embedder's truncation, as alignment_pairs cuts it
        enc = llm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        tokens = np.asarray(enc.offset_mapping).reshape(-1, 2)
        spans = np.asarray(states.spans).reshape(-1, 2)
        mains += [states.tokens[m] for m in token_wordpiece_overlap(tokens, spans).argmax(1)]
    return mains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("projectors", nargs="+", help="every-layer reader_tokens projector folders")
    ap.add_argument("--articles", nargs="+", default=list(VALIDATION_ARTICLES))
    args = ap.parse_args()
    llm, embedder = LLM.load(None), load_embedder(None)
    records = load_qa(str(SHARED_SQUAD))
    train = list(dict.fromkeys(r.context for r in without_articles(records, (*VALIDATION_ARTICLES,
                                                                            *SECOND_SET_ARTICLES))))
    texts = list(dict.fromkeys(r.context for r in filter_articles(records, args.articles)))
    previous_text = train + [d["text"] for d in load_demo_corpus(limit=2000)] + lexicon_texts(llm.tokenizer)
    seen = collections.Counter(w for text in previous_text for w in embedder.tokenizer.tokenize(text))
    pairs = alignment_pairs(llm, embedder, texts, TokenLayout(8, ALL_LAYERS), progress=False)
    count = np.array([seen[w] for w in main_wordpieces(llm, embedder, texts)])
    assert len(count) == len(pairs), "reader tokens and alignment rows must line up"
    for path in args.projectors:
        hit, wanted = nearest_token_hits(llm, Projector.from_pretrained(path), pairs)
        hit = hit.numpy()
        kinds = np.array([token_kind(t) for t in llm.tokenizer.convert_ids_to_tokens(wanted.tolist())])
        result = {}
        for kind in ("all", "digit", "capitalised", "other"):
            of_kind = np.ones(len(hit), bool) if kind == "all" else kinds == kind
            for lo, hi in BUCKETS:
                rows = of_kind & (count >= lo) & (count < (hi or 10**9))
                result[f"{kind} seen {lo}-{hi or ''}"] = {"rows": int(rows.sum()),
                                                         "fidelity": round(float(hit[rows].mean()), 3)}
            result[f"{kind} all"] = {"rows": int(of_kind.sum()), "fidelity": round(float(hit[of_kind].mean()), 3)}
        print(json.dumps({"projector": path, "articles": args.articles, **result}))


if __name__ == "__main__":
    main()
