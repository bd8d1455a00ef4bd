"""Randomly initialised LLMs of real architectures, built from config dicts written here (nothing downloaded).

For the timing-only benchmark: speed depends on the shapes, not on the weights, so a random model of the
right shape times like the real one. Shapes follow the published ``config.json`` of each model.
A placeholder tokenizer (one word-level token per id) stands in for the real one: timing feeds random token
ids and never reads the text.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from eval.errors import TimingError

logger = logging.getLogger(__name__)

ARCHS: dict[str, dict[str, Any]] = {
    "mistral-7b": dict(model_type="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                       max_position_embeddings=32768, rope_theta=1e6, sliding_window=None, rms_norm_eps=1e-5,
                       tie_word_embeddings=False),
    "qwen2-7b": dict(model_type="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                     num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                     max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False),
    "llama3-8b": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=False),
    "smollm2-135m": dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
                         tie_word_embeddings=True),
    "tiny": dict(model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rope_theta=10000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=True),
}
_SPECIAL_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}


def arch_config(arch: str) -> Any:
    """The transformers config of a named architecture (see :data:`ARCHS`)."""
    from transformers import AutoConfig

    if arch not in ARCHS:
        raise TimingError(f"Unknown architecture {arch!r}. Fix: choose one of {sorted(ARCHS)}.")
    spec = dict(ARCHS[arch])
    return AutoConfig.for_model(spec.pop("model_type"), **spec, **_SPECIAL_IDS)


def count_parameters(arch: str) -> int:
    """Exact parameter count, from a model built on the ``meta`` device (no memory, no init)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(arch_config(arch))
    return sum(p.numel() for p in model.parameters())


def _free_bytes(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_fits(arch: str, n_params: int, device: Any, dtype: Any) -> None:
    """Refuse (with the numbers and a fix) a model whose weights alone would not fit in free memory."""
    import torch

    need = n_params * torch.empty((), dtype=dtype).element_size()
    free = _free_bytes(device)
    if need > 0.85 * free:
        raise TimingError(
            f"{arch} needs ~{need / 2**30:.1f} GiB of weights in {dtype} on {device.type}, but only "
            f"{free / 2**30:.1f} GiB is free. Fix: run on a GPU (bf16 halves it), or pick a smaller "
            f"--arch (e.g. smollm2-135m).")


def placeholder_tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer mapping token ``<i>`` to id ``i`` for every id of the vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({f"<{i}>": i for i in range(vocab_size)}, unk_token="<0>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<0>", bos_token="<1>", eos_token="<2>")


def build_random_llm(arch: str, device: str | None = None, dtype: str | None = None, seed: int = 0) -> Any:
    """A ``rag.LLM`` wrapping a randomly initialised model of ``arch`` (bf16 on CUDA, fp32 on CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    from rag.llm import LLM, pick_device_and_dtype

    dev, dt = pick_device_and_dtype(device, dtype)
    config = arch_config(arch)
    check_fits(arch, count_parameters(arch), dev, dt)
    torch.manual_seed(seed)
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(config, dtype=dt)
    logger.info("Built a random %s (%s on %s)", arch, dt, dev)
    return LLM.from_model(model, placeholder_tokenizer(config.vocab_size), f"random:{arch}")
