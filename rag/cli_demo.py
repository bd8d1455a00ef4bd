"""``make demo`` / ``squeezerag demo``: the demo index, a handful of questions, every mode side by side."""

from __future__ import annotations

import argparse
import textwrap

from rag.answer import Answer

DEMO_QUESTIONS = (
    "In which city is the Eiffel Tower?",
    "Which band did John Lennon and Paul McCartney form in Liverpool?",
    "What is the highest mountain on Earth above sea level?",
    "Which prize did Marie Curie share in 1903?",
    "What is the capital of Japan?",
)


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="build/reuse the demo index and compare the answering modes")
    p.add_argument("--questions", nargs="+", default=list(DEMO_QUESTIONS))
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--index", default=None, help="index directory (default: cached demo index)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Answers every question in each available mode over the same retrieved passages."""
    from rag.pipeline import RAG

    rag = RAG.from_defaults(index_dir=args.index, progress=not args.quiet)
    modes = ["closed_book", "full_text", "selected_text"] + (["compressed"] if rag.projector is not None else [])
    print(f"squeezerag demo — index: {rag.index.dir} ({len(rag.index)} passages), LLM: {rag.llm.id}, "
          f"k={args.k}\n")
    hits = rag.retrieve(args.questions, args.k)
    by_mode = {m: rag.answer(args.questions, hits, m, batch_size=1) for m in modes}
    for i, question in enumerate(args.questions):
        print(f"Q: {question}")
        for h in hits[i]:
            print(f"   source [{h.score:.3f}] {h.title}: {textwrap.shorten(h.text, 90)}")
        for m in modes:
            a = by_mode[m][i]
            print(f"   {m:<13} {a.text!r:<60.60} ctx={a.context_tokens:>4} tok  ttft={a.timings.ttft_s * 1000:6.0f} ms"
                  f"  total={a.timings.total_s * 1000:6.0f} ms")
        print()
    _print_summary(by_mode)
    return 0


def _print_summary(by_mode: dict[str, list[Answer]]) -> None:
    print("mean per question:")
    for m, answers in by_mode.items():
        n = len(answers)
        print(f"   {m:<13} context tokens {sum(a.context_tokens for a in answers) / n:7.1f}   "
              f"ttft {sum(a.timings.ttft_s for a in answers) / n * 1000:7.0f} ms   "
              f"total {sum(a.timings.total_s for a in answers) / n * 1000:7.0f} ms")


def print_answer(answer: Answer) -> None:
    """Human-readable view of one answer (CLI ``ask``)."""
    print(answer.text)
    print(f"\nmode={answer.mode} context_tokens={answer.context_tokens} prompt_tokens={answer.prompt_tokens} "
          f"ttft={answer.timings.ttft_s * 1000:.0f} ms total={answer.timings.total_s * 1000:.0f} ms")
    for h in answer.sources:
        print(f"  [{h.score:.3f}] {h.title} ({h.id}): {textwrap.shorten(h.text, 100)}")
