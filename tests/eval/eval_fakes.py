"""A fake RAG implementing the contract ``run_benchmark`` relies on, with deterministic answers.

- ``retrieve``: ranks a small corpus by words shared with the question (ties by corpus order).
- ``answer``: ``closed_book`` knows one fixed fact; ``full_text`` answers the first word of the first
  passage; ``compressed`` does the same only for questions with an even number of characters (a lossy
  compression), otherwise "unknown".
"""

from __future__ import annotations

from types import SimpleNamespace

from eval.records import QARecord
from indexer import Hit
from rag.answer import Answer, Timings

CORPUS = [
    ("d0", "France", "Paris is the capital of France."),
    ("d1", "Germany", "Berlin is the capital of Germany."),
    ("d2", "Italy", "Rome is the capital of Italy."),
    ("d3", "Spain", "Madrid is the capital of Spain."),
    ("d4", "Hamlet", "Shakespeare wrote the play Hamlet."),
    ("d5", "Tower", "Eiffel designed the tower in Paris."),
]
QUESTIONS = [
    ("q0", "What is the capital of France?", ["Paris"], 0),
    ("q1", "What is the capital of Germany?", ["Berlin"], 1),
    ("q2", "What is the capital city of Italy?", ["Rome"], 2),
    ("q3", "What is the capital of Spain ?", ["Madrid"], 3),
    ("q4", "Who wrote the play Hamlet?", ["Shakespeare", "William Shakespeare"], 4),
    ("q5", "Who designed the tower in Paris?", ["Gustave Eiffel", "Eiffel"], 5),
    ("q6", "Which capital is in France, besides Paris?", ["Paris"], 0),
    ("q7", "Berlin is the capital of which country?", ["Germany"], 1),
]
CLOSED_BOOK_FACTS = {"What is the capital of France?": "Paris"}


def make_records() -> list[QARecord]:
    """Records with gold contexts and article titles."""
    return [QARecord(id=qid, question=q, answers=a, context=CORPUS[doc][2], title=CORPUS[doc][1])
            for qid, q, a, doc in QUESTIONS]


def _words(text: str) -> set[str]:
    return {w.strip("?,.").lower() for w in text.split()}


class FakeRAG:
    """Implements ``retrieve``, ``answer``, ``describe``, ``projector`` and ``llm`` like ``rag.RAG``."""

    def __init__(self, with_projector: bool = True, shuffle_sources: bool = False) -> None:
        self.projector = SimpleNamespace(name="fake-projector") if with_projector else None
        config = SimpleNamespace(num_hidden_layers=2, hidden_size=8)
        self.llm = SimpleNamespace(model=SimpleNamespace(config=config), num_parameters=lambda: 1000,
                                   device="cpu")
        self.shuffle_sources = shuffle_sources
        self.retrieve_calls: list[tuple[int, int]] = []
        self.answer_calls: list[tuple[str, list[list[Hit]] | None]] = []

    def retrieve(self, questions: list[str], k: int) -> list[list[Hit]]:
        self.retrieve_calls.append((len(questions), k))
        out = []
        for q in questions:
            scored = sorted(((len(_words(q) & _words(text)), -row) for row, (_, _, text) in enumerate(CORPUS)),
                            reverse=True)[:k]
            out.append([Hit(id=f"{CORPUS[-neg][0]}#0", title=CORPUS[-neg][1], text=CORPUS[-neg][2],
                            score=float(score), row=-neg) for score, neg in scored])
        return out

    def _reply(self, question: str, hits: list[Hit], mode: str) -> str:
        if mode == "closed_book":
            return CLOSED_BOOK_FACTS.get(question, "unknown")
        if mode == "compressed" and len(question) % 2:
            return "unknown"
        return hits[0].text.split()[0] if hits else "unknown"

    def answer(self, questions: list[str], passages: list[list[Hit]] | None, mode: str, batch_size: int = 8,
               max_new_tokens: int | None = None, progress: bool = False) -> list[Answer]:
        self.answer_calls.append((mode, passages))
        hits_all = passages if passages is not None else [[] for _ in questions]
        answers = []
        for q, hits in zip(questions, hits_all, strict=True):
            sources = list(reversed(hits)) if self.shuffle_sources and mode == "compressed" else list(hits)
            context = sum(len(h.text.split()) for h in hits) if mode == "full_text" else len(hits)
            answers.append(Answer(question=q, text=self._reply(q, hits, mode), mode=mode, sources=sources,
                                  context_tokens=context, prompt_tokens=10 + context, new_tokens=2,
                                  timings=Timings(prompt_s=0.001, ttft_s=0.01 + context / 1000,
                                                  generation_s=0.02, total_s=0.03 + context / 1000)))
        return answers

    def describe(self) -> dict:
        return {"llm": "fake-llm", "embedder": "fake-embedder", "device": "cpu",
                "index": {"dir": "nowhere", "manifest_sha256": "0" * 16, "rows": len(CORPUS)},
                "projector": {"fingerprint": "fake"} if self.projector is not None else None}
