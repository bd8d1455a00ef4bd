import numpy as np
import pytest
from tiny_llm import make_tiny_llm

from projector.data import Example, PassageTable


@pytest.fixture
def tiny_llm():
    return make_tiny_llm("llama")


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    titles = [f"Doc {i}" for i in range(6)]
    texts = [f"Fact number {i} is that the answer is {i * 7}." for i in range(6)]
    return PassageTable(titles=titles, texts=texts, memory=rng.standard_normal((6, 2, 16)).astype(np.float32),
                        encoding="segments:2")


@pytest.fixture
def examples():
    return [Example(passages=[i], target=str(i * 7), question=f"What is fact {i}?", answers=[str(i * 7)])
            for i in range(6)]
