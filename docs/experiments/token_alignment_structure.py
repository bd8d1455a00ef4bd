"""Token fidelity by how a reader token lines up with the embedder's wordpieces.

The two tokenisers cut words differently. Each reader token of the held-out paragraphs (validation articles by
default) is classed by the wordpieces it shares characters with (one, or several: SmolLM2's "oplast" over MiniLM's
"##op", "##las", "##t") and by whether its main wordpiece is read as one reader token or split over several
(MiniLM's "1775" as SmolLM2's four digits, "norman" as " Norm" + "an"), and scored as
`projector.token_fidelity` does: is the soft token nearest its own token. A projector trained with
`--split-at-wordpieces` is scored on its own, finer tokenisation, where no token spans two wordpieces.
docs/results.md, "Reader tokens cut at wordpiece boundaries"::

    python docs/experiments/token_alignment_structure.py projector/weights/default
    python docs/experiments/token_alignment_structure.py projector/weights/default --articles Teacher ...
"""

import argparse
import collections
import json

import numpy as np

from eval.datasets import load_qa
from eval.records import filter_articles
from indexer import load_embedder
from projector.alignment import TokenLayout, alignment_pairs, nearest_token_hits
from projector.model import Projector
from projector.reader_tokens import reader_tokens, token_wordpiece_overlap, wordpiece_bounded_tokens
from projector.token_fidelity import token_kind
from rag.defaults import SHARED_SQUAD
from rag.llm import LLM
from rag.token_states import token_states
from rag.window_recipe import VALIDATION_ARTICLES


def structure_classes(llm: LLM, embedder, texts: list[str], split_at_wordpieces: bool) -> list[str]:
    """Per reader token of ``texts``, in the order :func:`alignment_pairs` gives rows: ``one wordpiece`` or
    ``several wordpieces``, then ``/ whole`` or ``/ split`` (its main wordpiece is read as several tokens)."""
    classes = []
    for text, states in zip(texts, token_states(embedder, texts, 256)):
        text = text[:int(states.spans[-1][1])]  # the embedder's truncation, as alignment_pairs does
        spans = np.asarray(states.spans, dtype=np.int64).reshape(-1, 2)
        _, tokens = wordpiece_bounded_tokens(llm.tokenizer, text, spans) if split_at_wordpieces \
            else reader_tokens(llm.tokenizer, text)
        shared = token_wordpiece_overlap(tokens, spans)
        main = shared.argmax(1)
        tokens_per_main = np.bincount(main, minlength=shared.shape[1])[main]
        for n_pieces, n_tokens in zip((shared > 0).sum(1), tokens_per_main):
            classes.append(f"{'one wordpiece' if n_pieces == 1 else 'several wordpieces'} / "
                           f"{'whole' if n_tokens == 1 else 'split'}")
    return classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("projectors", nargs="+", help="reader_tokens projector folders")
    ap.add_argument("--articles", nargs="+", default=list(VALIDATION_ARTICLES))
    args = ap.parse_args()
    texts = list(dict.fromkeys(r.context for r in filter_articles(load_qa(str(SHARED_SQUAD)), args.articles)))
    llm, embedder = LLM.load(None), load_embedder(None)
    for path in args.projectors:
        projector = Projector.from_pretrained(path)
        config = projector.config
        pairs = alignment_pairs(llm, embedder, texts, TokenLayout.of(config), progress=False)
        hit, wanted = nearest_token_hits(llm, projector, pairs)
        classes = structure_classes(llm, embedder, texts, config.split_at_wordpieces)
        assert len(classes) == len(hit), "the classes must follow alignment_pairs' rows"
        kinds = [token_kind(t) for t in llm.tokenizer.convert_ids_to_tokens(wanted.tolist())]
        table: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for right, structure, kind in zip(hit.tolist(), classes, kinds):
            for key in (f"{structure} (all)", f"{structure} ({kind})", "all"):
                table[key][0] += 1
                table[key][1] += right
        print(json.dumps({"projector": path, "tokens": len(hit), "misses": int((~hit).sum()),
                          "fidelity": {k: {"tokens": n, "agreement": round(r / n, 3), "misses": n - r}
                                       for k, (n, r) in sorted(table.items())}}, indent=1))


if __name__ == "__main__":
    main()
