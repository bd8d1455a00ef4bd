"""An estimate of the LLM's forward FLOPs per question, from the token counts of its prompt and answer.

Formula (Kaplan et al. 2020, with a causal attention term), for a decoder of ``N`` parameters, ``L`` layers
and width ``d``:

    T     = P + max(G - 1, 0)          tokens that go through the model: the P prompt positions (soft tokens
                                       count like text tokens) plus every generated token but the last
    FLOPs = 2·N·T  +  Σ_{t=1..T} 2·L·d·t  =  2·N·T + L·d·T·(T + 1)

``2·N`` per token is the weight matmuls (a multiply-add = 2 FLOPs); ``2·L·d·t`` is the attention scores and
the weighted sum for a token that sees ``t`` positions (KV cache: each token is processed once). ``N`` is the
total parameter count, embedding matrix included, so the estimate errs high by the share of the embedding
lookup (which costs no FLOPs). Not counted: the projector (a small MLP on k·m vectors), a projector's reader
adapter (rank-r deltas on some of the LLM's layers: 2·r·(d_in + d_out) per layer and token, under 1% of ``2·N`` at
rank 8 on attention) and, in the oracle modes, embedding the gold passages on the fly — all tiny next to the LLM.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelShape:
    """The three numbers the FLOPs estimate needs."""

    n_params: int
    n_layers: int
    d_model: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def llm_flops(shape: ModelShape, prompt_tokens: int, new_tokens: int) -> float:
    """Estimated forward FLOPs for one sequence (see the module docstring for the formula)."""
    processed = prompt_tokens + max(new_tokens - 1, 0)
    return 2.0 * shape.n_params * processed + float(shape.n_layers * shape.d_model) * processed * (processed + 1)


def model_shape(llm: Any) -> ModelShape | None:
    """Shape of a ``rag.LLM`` (``num_parameters()``, ``model.config``); None if it does not expose them."""
    try:
        config = llm.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return ModelShape(n_params=int(llm.num_parameters()), n_layers=int(text_config.num_hidden_layers),
                          d_model=int(text_config.hidden_size))
    except (AttributeError, TypeError) as exc:
        logger.warning("Cannot read the LLM's size (%s); FLOPs estimates are left out.", exc)
        return None
