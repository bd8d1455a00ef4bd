"""The RAG pipeline: retrieve, then answer closed-book, from full text, from question-aware windows of the
text, or from soft tokens."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessor

from indexer.index import Hit, Index
from projector.model import Projector, soft_window_prompt
from rag import prompt as P
from rag.answer import Answer, Timings, check_mode, check_questions
from rag.copy_bias import CopyBias, context_token_ids
from rag.errors import SqueezeRagError
from rag.llm import LLM
from rag.selection import WindowConfig, select_windows, selected_windows
from rag.token_states import embedder_lengths, projector_input_dim
from rag.window_scorer import WindowScorer

logger = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 24


class RAG:
    """Retrieval-augmented QA over an :class:`~indexer.Index` with a frozen :class:`~rag.llm.LLM`.

    ``mode="compressed"`` needs a projector trained for this (embedder, LLM) pair. One reading stored memory
    (``pooled``, ``segments:m``) turns each passage's memory vectors from the index into a few soft tokens; a
    window projector turns the wordpiece states of the ``selected_text`` windows (same ``window`` and
    ``window_scorer``) into one soft token per wordpiece (``wordpieces``) or per LLM token (``reader_tokens``).
    ``mode="selected_text"`` cuts each passage to its question-aware window (``window``, see
    :mod:`rag.selection`) and reads it as text: the extractive baseline at a similar token budget. With a
    ``window_scorer`` (:mod:`rag.window_scorer`; ``from_defaults`` loads the shipped one) the windows go where
    it predicts the answer, by default allocated across the k passages (:mod:`rag.window_allocation`);
    otherwise the untrained max-sim rule picks one window per passage. ``copy_bias`` > 0 adds that much to the
    logits of the tokens of each question's context text while it is answered (:mod:`rag.copy_bias`; 0: off).
    """

    def __init__(self, index: Index | str | Path | None = None, llm: LLM | str | None = None,
                 embedder=None, projector: Projector | str | Path | None = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, window: WindowConfig | None = None,
                 window_scorer: WindowScorer | str | Path | None = None, copy_bias: float = 0.0) -> None:
        if isinstance(index, (str, Path)):
            index = Index.load(index, embedder=embedder)
        self.index: Index | None = index
        self.llm = llm if isinstance(llm, LLM) else LLM.load(llm)
        self._embedder = embedder
        if isinstance(projector, (str, Path)):
            projector = Projector.from_pretrained(projector)
        if not copy_bias >= 0:  # also refuses nan
            raise ValueError(f"copy_bias={copy_bias} is not a logit bonus >= 0 (a negative one steers answers away "
                             "from the context); pass 0 (off) or a positive logit bonus such as 2.0")
        self.copy_bias = copy_bias
        self.projector: Projector | None = None
        if projector is not None:
            self.set_projector(projector)
        self.max_new_tokens = max_new_tokens
        self.window = window or WindowConfig()
        self.window_scorer: WindowScorer | None = None
        if window_scorer is not None:
            self.set_window_scorer(window_scorer)

    @classmethod
    def from_defaults(cls, index_dir: str | Path | None = None, progress: bool = True, **kwargs) -> RAG:
        """Bundled embedder + LLM + shipped projector and window scorer over the demo index (built on first
        use, cached)."""
        from rag.demo_index import default_projector_dir, default_window_scorer_dir, ensure_demo_index

        index = ensure_demo_index(index_dir, progress=progress)
        projector = kwargs.pop("projector", None) or default_projector_dir()
        window_scorer = kwargs.pop("window_scorer", None) or default_window_scorer_dir()
        return cls(index=index, projector=projector, window_scorer=window_scorer, **kwargs)

    # --- components ------------------------------------------------------------------------------
    @property
    def embedder(self):
        """The index's embedder, or the one given for index-less use (closed-book, oracle passages)."""
        if self.index is not None:
            return self.index.embedder
        if not hasattr(self._embedder, "encode_with_memory"):  # None (the default) or a name / path
            from indexer import load_embedder

            self._embedder = load_embedder(self._embedder)
        return self._embedder

    def set_projector(self, projector: Projector) -> None:
        """Attach a projector after checking it fits the index's embedder and memory, and this LLM."""
        from indexer import parse_encoding

        encoding = projector.config.memory_encoding
        if projector.config.reads_wordpieces:  # computed from the passage text at query time, any index
            emb = self.embedder
            dim = projector_input_dim(emb, projector.config.token_layers)
            projector.check_compatible(emb.id, dim, self.llm.id, self.llm.hidden_size)
        elif self.index is not None:
            manifest = self.index.manifest
            memory = manifest.memory.get(encoding)
            dim = memory.shape[-1] if memory is not None else manifest.embedder.dim
            projector.check_compatible(manifest.embedder.id, dim, self.llm.id, self.llm.hidden_size,
                                       self.index.memory_encodings)
        else:
            emb = self.embedder
            dim = emb.dim if parse_encoding(encoding).kind == "pooled" else emb.token_dim
            projector.check_compatible(emb.id, dim, self.llm.id, self.llm.hidden_size)
        self.projector = projector.to(self.llm.device).eval()
        trained = projector.config.trained_copy_bias
        if trained and trained != self.copy_bias:  # a bias-trained projector answers as trained only with it
            logger.warning("This projector was trained to answer with copy_bias=%g and this RAG answers with %g: "
                           "pass copy_bias=%g (--copy-bias) to answer as it was trained.",
                           trained, self.copy_bias, trained)

    def set_window_scorer(self, scorer: WindowScorer | str | Path) -> None:
        """Let ``selected_text`` cut passages with a trained scorer (checked against the embedder in use)."""
        if isinstance(scorer, (str, Path)):
            scorer = WindowScorer.from_pretrained(scorer)
        scorer.check_compatible(self.embedder.id, self.embedder.token_dim)
        self.window_scorer = scorer.to(self.embedder.model.device).eval()

    # --- public API ------------------------------------------------------------------------------
    def retrieve(self, questions: Sequence[str], k: int) -> list[list[Hit]]:
        """Top-``k`` passages per question."""
        if self.index is None:
            raise SqueezeRagError("retrieval needs an index: RAG(index='path/to/index') or RAG.from_defaults()")
        check_questions(questions)
        return self.index.search(list(questions), k=k)

    def ask(self, question: str | Sequence[str], k: int = 3, mode: str = "full_text",
            max_new_tokens: int | None = None, batch_size: int = 8,
            progress: bool = False) -> Answer | list[Answer]:
        """Answer one question (-> ``Answer``) or several (-> ``list[Answer]``)."""
        single = isinstance(question, str)
        questions = [question] if single else list(question)
        check_mode(mode)
        check_questions(questions)
        passages, retrieval_s = None, 0.0
        if mode != "closed_book":
            t0 = time.perf_counter()
            passages = self.retrieve(questions, k)
            retrieval_s = (time.perf_counter() - t0) / len(questions)
        answers = self.answer(questions, passages, mode, batch_size=batch_size,
                              max_new_tokens=max_new_tokens, progress=progress)
        for a in answers:
            a.timings.retrieval_s = retrieval_s
            a.timings.total_s += retrieval_s
        return answers[0] if single else answers

    def answer(self, questions: Sequence[str], passages: Sequence[Sequence[Hit]] | None, mode: str,
               batch_size: int = 8, max_new_tokens: int | None = None,
               progress: bool = False) -> list[Answer]:
        """Generate answers from given passages (no retrieval): the arms of a benchmark differ only here.

        Passages with ``row == -1`` (not from the index) are embedded on the fly for ``compressed``.
        """
        check_mode(mode)
        check_questions(questions)
        if mode != "closed_book" and passages is None:
            raise ValueError(f"mode '{mode}' needs passages (one list of hits per question)")
        if mode == "compressed" and self.projector is None:
            raise SqueezeRagError("mode 'compressed' needs a projector: RAG(..., projector='dir') or "
                                  "RAG.from_defaults(); train one with `squeezerag train`")
        hits = [list(p) for p in passages] if passages is not None else [[] for _ in questions]
        answers: list[Answer] = []
        starts = range(0, len(questions), batch_size)
        for s in tqdm(starts, desc=f"answer[{mode}]", disable=not progress, unit="batch"):
            answers += self._answer_batch(list(questions[s:s + batch_size]), hits[s:s + batch_size], mode,
                                          max_new_tokens or self.max_new_tokens)
        return answers

    def describe(self) -> dict:
        """Model ids and fingerprints: what a benchmark records to be reproducible."""
        info: dict = {"llm": self.llm.id, "llm_dtype": str(self.llm.dtype), "device": str(self.llm.device),
                      "prompt_version": P.PROMPT_VERSION, "max_new_tokens": self.max_new_tokens,
                      "copy_bias": self.copy_bias,
                      "window": asdict(self.window.resolved(self.window_scorer is not None))}
        if self.index is not None:
            manifest_bytes = (Path(self.index.dir) / "manifest.json").read_bytes()
            info["embedder"] = self.index.manifest.embedder.id
            info["index"] = {"dir": str(self.index.dir), "rows": len(self.index),
                             "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()[:16]}
        if self.window_scorer is not None:
            config = {k: v for k, v in vars(self.window_scorer.config).items() if k != "training"}
            info["window_scorer"] = {"fingerprint": self.window_scorer.fingerprint(), "config": config}
        if self.projector is not None:
            info["projector"] = {"fingerprint": self.projector.fingerprint(),
                                 "config": dict(vars(self.projector.config))}
        return info

    # --- internals ---------------------------------------------------------------------------------
    def build_prompts(self, questions: list[str], hits: list[list[Hit]], mode: str) -> P.BuiltPrompts:
        """Encoded prompts, soft tokens (compressed only), context-token counts and context texts for one batch."""
        if mode == "closed_book":
            prompts = [P.encode_prompt(self.llm, P.qa_message(q, None)) for q in questions]
            return P.BuiltPrompts(prompts, None, [0] * len(questions), [[] for _ in questions])
        texts = [[h.text for h in hs] for hs in hits]
        if mode in ("full_text", "selected_text"):
            if mode == "selected_text":
                texts = select_windows(self.embedder, questions, texts, self.window, self.window_scorer)
            # A passage left without a window (global allocation) is left out of the prompt.
            contexts = [[P.format_passage(h.title, t) for h, t in zip(hs, ts) if t] for hs, ts in zip(hits, texts)]
            prompts = [P.encode_prompt(self.llm, P.qa_message(q, c)) for q, c in zip(questions, contexts)]
            counts = [self._count_tokens(P.DOC_SEPARATOR.join(c)) for c in contexts]
            return P.BuiltPrompts(prompts, None, counts, [[t for t in ts if t] for ts in texts])
        if self.projector.config.reads_wordpieces:
            return self._wordpiece_prompts(questions, hits)
        soft = [self.soft_tokens(hs) for hs in hits]
        per_passage = self.soft_tokens_per_passage
        prompts = [P.encode_prompt(self.llm, P.soft_qa_message(q, len(hs), per_passage))
                   for q, hs in zip(questions, hits)]
        return P.BuiltPrompts(prompts, soft, [s.shape[0] for s in soft], texts)

    def logits_processors(self, built: P.BuiltPrompts, mode: str) -> list[LogitsProcessor]:
        """What changes the logits while answering ``built`` in ``mode``: the copy bias towards each question's
        context text (:mod:`rag.copy_bias`) when ``copy_bias`` is set and the mode has a context."""
        if not self.copy_bias or mode == "closed_book":
            return []
        always = self.llm.stop_token_ids
        return [CopyBias([context_token_ids(self.llm.tokenizer, texts, always) for texts in built.context_texts],
                         self.copy_bias)]

    def _wordpiece_prompts(self, questions: list[str], hits: list[list[Hit]]) -> P.BuiltPrompts:
        """Compressed prompts of a window projector: the ``selected_text`` windows, each read as one soft block
        of as many soft tokens as it has wordpieces (``wordpieces``) or reader tokens (``reader_tokens``)."""
        windows = selected_windows(self.embedder, questions, [[h.text for h in hs] for hs in hits], self.window,
                                   self.window_scorer, self.projector.config.token_layers)
        soft, prompts = [], []
        for question, ws in zip(questions, windows):
            prompt, tokens = soft_window_prompt(self.projector, self.llm, question, ws)
            soft.append(tokens.to(self.llm.device))
            prompts.append(prompt)
        return P.BuiltPrompts(prompts, soft, [s.shape[0] for s in soft], [[w.text for w in ws] for ws in windows])

    def reading(self, mode: str) -> AbstractContextManager:
        """The block the LLM answers ``mode`` in: ``compressed`` reads with the projector's reader adapter attached
        (if it has one), every other mode with the LLM as loaded."""
        return self.projector.reading(self.llm) if mode == "compressed" and self.projector is not None \
            else nullcontext()

    @property
    def soft_tokens_per_passage(self) -> int:
        from indexer import parse_encoding

        cfg = self.projector.config
        return cfg.soft_tokens_per_passage(parse_encoding(cfg.memory_encoding).n_vectors)

    @torch.no_grad()
    def soft_tokens(self, hits: list[Hit]) -> torch.Tensor:
        """Soft tokens for a list of passages: ``(len(hits) * m * t, d_model)``, in hit order."""
        memory = torch.from_numpy(self.memory_vectors(hits)).to(self.llm.device)
        if memory.shape[0] == 0:
            return torch.zeros((0, self.llm.hidden_size), device=self.llm.device)
        return self.projector(memory).reshape(-1, self.llm.hidden_size)

    def memory_vectors(self, hits: list[Hit]) -> np.ndarray:
        """``(len(hits), m, d_embed)`` float32: stored vectors for index rows, fresh ones for ``row == -1``."""
        encoding = self.projector.config.memory_encoding
        if self.index is not None:
            return self.index.memory_for_hits(hits, encoding)
        from indexer.build import embedding_inputs

        # No index: every passage is embedded now, with the default chunking's title template.
        _, memory = self.embedder.encode_with_memory(
            embedding_inputs(self.embedder, [h.title for h in hits], [h.text for h in hits]), [encoding])
        return memory[encoding]

    def _count_tokens(self, text: str) -> int:
        return len(self.llm.tokenizer(text, add_special_tokens=False).input_ids)

    def _answer_batch(self, questions: list[str], hits: list[list[Hit]], mode: str,
                      max_new_tokens: int) -> list[Answer]:
        t0 = time.perf_counter()
        built = self.build_prompts(questions, hits, mode)
        batch = P.assemble(self.llm, built.prompts, built.soft)
        processors = self.logits_processors(built, mode)
        prompt_s = time.perf_counter() - t0
        with self.reading(mode):
            gen = self.llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, max_new_tokens,
                                                logits_processors=processors)
        read = self._embedder_lengths(questions, hits, mode)
        return [Answer(question=q, text=text, mode=mode, sources=hs, context_tokens=ctx,
                       prompt_tokens=n_prompt, new_tokens=n_new, embedder_lengths=lengths,
                       timings=Timings(prompt_s=prompt_s, ttft_s=prompt_s + gen.ttft_s,
                                       generation_s=gen.total_s, total_s=prompt_s + gen.total_s))
                for q, text, hs, ctx, n_prompt, n_new, lengths in zip(
                    questions, gen.texts, hits, built.context_tokens, batch.prompt_tokens, gen.new_tokens, read)]

    def _embedder_lengths(self, questions: list[str], hits: list[list[Hit]], mode: str) -> list[list[int]]:
        """Per question, the sequences the embedder read to answer it in ``mode`` (its cost, not its output): the
        question and each passage in the window modes, nothing where the context is text or stored memory."""
        windowed = mode == "selected_text" or (mode == "compressed" and self.projector.config.reads_wordpieces)
        if not windowed:
            return [[] for _ in questions]
        return [embedder_lengths(self.embedder, [q] + [h.text for h in hs], self.window.max_length)
                for q, hs in zip(questions, hits)]

