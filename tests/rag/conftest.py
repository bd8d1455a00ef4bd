import pytest
from tiny_llm import make_tiny_llm


@pytest.fixture(params=["llama", "qwen2", "gpt2"])
def tiny_llm_any(request):
    return make_tiny_llm(request.param)


@pytest.fixture
def tiny_llm():
    return make_tiny_llm("llama")


@pytest.fixture
def harbour_passage() -> tuple[str, list[str]]:
    """A made-up passage of ~75 wordpieces and two questions whose answers ("Elias Brandt", "1861") sit in
    different sentences: for window tests with the real embedder."""
    passage = ("The city of Varnholm lies on the northern coast and is known for its fishing fleet and its old "
               "wooden churches. The harbour was rebuilt after a storm destroyed the piers in 1861. The rebuilding "
               "was paid for by a merchant named Elias Brandt, who had made his fortune in the salt trade. Today "
               "the town hosts a music festival every summer that draws visitors from across the region.")
    questions = ["Who paid for the rebuilding of the harbour?", "When did a storm destroy the piers?"]
    return passage, questions
