import pytest
from tiny_llm import make_tiny_llm


@pytest.fixture(params=["llama", "qwen2", "gpt2"])
def tiny_llm_any(request):
    return make_tiny_llm(request.param)


@pytest.fixture
def tiny_llm():
    return make_tiny_llm("llama")
