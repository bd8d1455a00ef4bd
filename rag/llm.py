"""The frozen LLM: loading, chat template, batched greedy generation from text or from ``inputs_embeds``.

The model is never modified or subclassed: the projector only writes rows of ``inputs_embeds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.streamers import BaseStreamer

from rag.defaults import llm_id, resolve_llm

logger = logging.getLogger(__name__)


@dataclass
class Generation:
    """Output of one batched generation call.

    ``ttft_s`` is the time until the first new token of the batch exists (prefill + one step);
    ``total_s`` covers the whole call. Both are per batch: every sequence in it starts together.
    """

    texts: list[str]
    token_ids: list[list[int]]
    new_tokens: list[int]
    ttft_s: float
    total_s: float


class _FirstTokenTimer(BaseStreamer):
    """Records when the first new token arrives; ``generate`` first puts the prompt, then each step."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.calls = 0
        self.first_token_s: float | None = None
        self.on_tokens = None  # optional callback(tensor of shape (batch,)) for streaming

    def put(self, value: torch.Tensor) -> None:
        self.calls += 1
        if self.calls == 1:  # the prompt (empty when generating from inputs_embeds)
            return
        if self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.start
        if self.on_tokens is not None:
            self.on_tokens(value)

    def end(self) -> None:
        pass


def pick_device_and_dtype(device: str | torch.device | None,
                          dtype: torch.dtype | str | None) -> tuple[torch.device, torch.dtype]:
    """CUDA + bf16 when a GPU is present (fp16 if it lacks bf16), else CPU + fp32."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is None:
        if dev.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
    return dev, dtype


class LLM:
    """A frozen causal LM with its tokenizer. Eval mode, no gradients on its parameters."""

    def __init__(self, model: torch.nn.Module, tokenizer, model_id: str) -> None:
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.id = model_id
        if tokenizer.pad_token_id is None:
            # Generation pads finished rows; any id works since padded positions are masked out.
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    @classmethod
    def load(cls, name_or_path: str | None = None, device: str | torch.device | None = None,
             dtype: torch.dtype | str | None = None) -> LLM:
        """Load a Hugging Face causal LM by name or path; ``None`` is the bundled SmolLM2-135M-Instruct."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_llm(name_or_path)
        dev, dt = pick_device_and_dtype(device, dtype)
        t0 = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dt).to(dev)
        logger.info("Loaded LLM %s on %s/%s in %.1fs", path, dev, dt, time.perf_counter() - t0)
        return cls(model, tokenizer, llm_id(name_or_path if name_or_path is not None else path))

    @classmethod
    def from_model(cls, model: torch.nn.Module, tokenizer, model_id: str) -> LLM:
        """Wrap an already-built model (e.g. a randomly initialised one for tests or timing)."""
        return cls(model, tokenizer, model_id)

    # --- facts about the model -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.input_embeddings.weight.dtype

    @property
    def hidden_size(self) -> int:
        return int(self.input_embeddings.weight.shape[1])

    @property
    def input_embeddings(self) -> torch.nn.Embedding:
        return self.model.get_input_embeddings()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @cached_property
    def embedding_norm(self) -> float:
        """Mean L2 norm of the vocabulary's input embeddings: the scale soft tokens are set to."""
        return float(self.input_embeddings.weight.float().norm(dim=-1).mean())

    @cached_property
    def stop_token_ids(self) -> list[int]:
        """EOS plus every vocabulary token whose text contains a newline: answers end at a line break."""
        ids = {i for i in (self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id)
               if isinstance(i, int)}
        for tok, idx in self.tokenizer.get_vocab().items():
            if "\n" in self.tokenizer.convert_tokens_to_string([tok]):
                ids.add(idx)
        return sorted(ids)

    # --- text and embeddings ---------------------------------------------------------------------
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``(batch, seq)`` token ids -> ``(batch, seq, d_model)`` input embeddings."""
        return self.input_embeddings(input_ids.to(self.device))

    def chat_text(self, user_message: str, system: str | None = None) -> str:
        """The chat-templated prompt ending where the assistant's answer starts."""
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user_message}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # Base models without a template: a plain, still unambiguous layout.
        head = f"{system}\n\n" if system else ""
        return f"{head}{user_message}\nAnswer:"

    @torch.no_grad()
    def generate(self, prompts: list[str], max_new_tokens: int = 32, stop_at_newline: bool = True,
                 ignore_eos: bool = False) -> Generation:
        """Greedy generation from already-templated prompt strings (left-padded batch)."""
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        return self.generate_from_embeds(self.embed(enc.input_ids), enc.attention_mask, max_new_tokens,
                                         stop_at_newline=stop_at_newline, ignore_eos=ignore_eos)

    @torch.no_grad()
    def generate_from_embeds(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                             max_new_tokens: int = 32, stop_at_newline: bool = True,
                             ignore_eos: bool = False, on_tokens=None,
                             logits_processors: Sequence[LogitsProcessor] = ()) -> Generation:
        """Greedy generation from ``inputs_embeds`` ``(batch, seq, d_model)``, left-padded.

        ``attention_mask`` is ``(batch, seq)``. ``ignore_eos`` generates exactly ``max_new_tokens``
        (for timing). ``on_tokens`` is called with each step's ``(batch,)`` new token ids (streaming).
        ``logits_processors`` change each step's ``(batch, vocab)`` logits before the greedy pick
        (:class:`rag.copy_bias.CopyBias`).
        """
        start = time.perf_counter()
        timer = _FirstTokenTimer(start)
        timer.on_tokens = on_tokens
        # ignore_eos suppresses every stop id for max_new_tokens steps: keep that set to EOS alone.
        stop_ids = self.stop_token_ids if stop_at_newline and not ignore_eos else [self.tokenizer.eos_token_id]
        out = self.model.generate(
            inputs_embeds=inputs_embeds.to(self.device, self.dtype),
            attention_mask=attention_mask.to(self.device),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens if ignore_eos else None,
            do_sample=False, temperature=None, top_p=None, top_k=None,
            eos_token_id=stop_ids, pad_token_id=self.tokenizer.pad_token_id,
            streamer=timer, logits_processor=LogitsProcessorList(logits_processors),
        )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        total = time.perf_counter() - start
        token_ids = [self._strip_after_stop(row.tolist(), stop_ids, ignore_eos) for row in out]
        # A stop token may carry text before its newline (".\n"): keep the first line only.
        texts = [self.tokenizer.decode(ids, skip_special_tokens=True).strip().split("\n")[0].strip()
                 for ids in token_ids]
        return Generation(texts=texts, token_ids=token_ids, new_tokens=[len(t) for t in token_ids],
                          ttft_s=timer.first_token_s if timer.first_token_s is not None else total,
                          total_s=total)

    @staticmethod
    def _strip_after_stop(ids: list[int], stop_ids: list[int], ignore_eos: bool) -> list[int]:
        """Cut a generated row after its first stop token (the rest is padding)."""
        if ignore_eos:
            return ids
        stops = set(stop_ids)
        for i, tok in enumerate(ids):
            if tok in stops:
                return ids[: i + 1]
        return ids
