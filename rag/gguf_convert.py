"""De-quantise a GGUF checkpoint into a plain transformers folder whose special tokens are the GGUF's own.

Why the tokens are re-read: transformers' GGUF loader has not always mapped them faithfully. Under
transformers 5.17 (measured 2026-11-24) the bundled SmolLM2 GGUF came out with ``eos = <|im_start|>`` (id 1),
no pad token and ``clean_up_tokenization_spaces=True``, though the file says eos = pad = ``<|im_end|>``
(id 2). Every training target then ended in the wrong token (+1.2 nats of answer NLL on the validation
windows) and generation stopped at the wrong one. The GGUF's metadata is the source of truth, so it is
written into the tokenizer, the model config and the generation config after loading.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

# Bump when the conversion's output changes: folders from an older conversion are rebuilt on next use.
# 2: special tokens from the GGUF's metadata.
CONVERSION_VERSION = 2
SOURCE_FILE = "squeezerag_source.json"
# GGUF metadata key suffix -> tokenizer attribute
_SPECIAL_TOKENS = {"bos": "bos_token", "eos": "eos_token", "padding": "pad_token", "unknown": "unk_token"}


def gguf_special_token_ids(gguf_path: str | Path) -> dict[str, int]:
    """``{"bos": id, "eos": id, "padding": id, "unknown": id}`` as stored in the GGUF (missing keys omitted)."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_path)).fields
    ids = {}
    for name in _SPECIAL_TOKENS:
        field = fields.get(f"tokenizer.ggml.{name}_token_id")
        if field is not None and field.data:
            ids[name] = int(field.parts[field.data[0]][0])
    return ids


def apply_special_tokens(tokenizer, model, ids: dict[str, int]) -> None:
    """Make ``tokenizer``, ``model.config`` and ``model.generation_config`` agree with the GGUF's ``ids``."""
    for name, attr in _SPECIAL_TOKENS.items():
        if name in ids:
            setattr(tokenizer, attr, tokenizer.convert_ids_to_tokens(ids[name]))
    # A BPE tokenizer's clean-up strips the space before punctuation ("1 , 2" -> "1, 2"): never wanted here.
    tokenizer.clean_up_tokenization_spaces = False
    for config in (model.config, model.generation_config):
        for name, attr in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("padding", "pad_token_id")):
            if name in ids:
                setattr(config, attr, ids[name])


def is_current_conversion(folder: Path) -> bool:
    """Whether ``folder`` holds a complete conversion made by this version of the code."""
    source = folder / SOURCE_FILE
    if not (folder / "config.json").exists() or not source.exists():
        return False
    return json.loads(source.read_text()).get("conversion") == CONVERSION_VERSION


def convert_gguf(src_dir: Path, gguf_file: str, target: Path, model_id: str) -> None:
    """De-quantise ``src_dir/gguf_file`` into ``target`` (fp32 safetensors + tokenizer), atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("Converting %s to safetensors in %s (once; ~20 s)", gguf_file, target)
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_file)
    quantised = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_file, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; copy its de-quantised weights into a plain model.
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(quantised.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict())
    model.generation_config = quantised.generation_config
    apply_special_tokens(tokenizer, model, gguf_special_token_ids(src_dir / gguf_file))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": gguf_file, "id": model_id,
                                                   "conversion": CONVERSION_VERSION}))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
