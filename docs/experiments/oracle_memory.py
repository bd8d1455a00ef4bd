"""Can the frozen LLM read wording from soft tokens when the memory holds it?

Two stage-1 (full-passage reconstruction) arms from scratch, same steps, data and projector shape:
  minilm: the run's segments:8 MiniLM memory (what the shipped projector reads);
  llm-bow: 8 segments of the LLM's own input embeddings, mean-pooled over the passage's LLM tokens
           (an oracle bag of words in the LLM's own space);
  minilm-lora: the MiniLM memory, with a rank-16 LoRA on every layer's q_proj and v_proj of the LLM trained
           alongside the projector (the reader adapted, as COCOM does with its decoder).
Then the reconstruction NLL of 96 validation paragraphs (as projector.answer_nll --task reconstruction,
fp32). Needs a `squeezerag train` run with a segments:8 memory cache (RUN/data) for the data split.

usage: python docs/experiments/oracle_memory.py RUN {minilm,llm-bow} STEPS   (RUN e.g. runs/proj-e2)
Measured (2-core CPU, 120 steps each, ~7-8 min an arm): minilm 3.228 (recovery 0.038), llm-bow 3.199
(0.047), minilm-lora 3.049 against its own closed book 3.075 (0.010).
"""
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

from indexer import load_embedder
from indexer.memory import segment_pool
from projector.answer_nll import answer_nll, nll_recovery
from projector.config import ProjectorConfig
from projector.data import PassageTable, paraphrase_examples
from projector.model import Projector
from projector.recipe import RecipeConfig, prepare_data
from projector.train import TrainConfig, Trainer, seed_everything
from rag.llm import LLM


class LoRALinear(torch.nn.Module):
    """``base(x) + (alpha / r) * B A x`` with fp32 A, B (B starts at zero: the LLM is unchanged at step 0)."""

    def __init__(self, base: torch.nn.Linear, r: int = 16, alpha: float = 32.0) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / r
        self.A = torch.nn.Parameter(torch.randn(r, base.in_features) / base.in_features ** 0.5)
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + ((x.float() @ self.A.T @ self.B.T) * self.scale).to(x.dtype)


def add_lora(model) -> torch.nn.ModuleList:
    """Wrap every layer's q_proj and v_proj in place; returns the wrappers (their A, B train)."""
    wrappers = []
    for layer in model.model.layers:
        for name in ("q_proj", "v_proj"):
            wrapper = LoRALinear(getattr(layer.self_attn, name))
            setattr(layer.self_attn, name, wrapper)
            wrappers.append(wrapper)
    return torch.nn.ModuleList(wrappers)


run, arm, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = run.parent / f"oracle-{arm}"
cfg = RecipeConfig.from_json(run / "recipe.json")
seed_everything(0)
llm = LLM.load(None, dtype="bfloat16")
data = prepare_data(cfg, llm, load_embedder(None), run / "data", progress=False)
table = data.table
if arm == "llm-bow":
    emb = llm.model.get_input_embeddings().weight.detach().float()
    mem = np.zeros((len(table), 8, emb.shape[1]), dtype=np.float32)
    for i, (t, x) in enumerate(zip(table.titles, table.texts)):
        ids = llm.tokenizer(f"{t}: {x}", add_special_tokens=False, truncation=True, max_length=256).input_ids
        states = emb[torch.tensor(ids)].unsqueeze(0)
        mem[i] = segment_pool(states, torch.ones(1, len(ids)), 8)[0].numpy()
    table = PassageTable(table.titles, table.texts, mem, "segments:8")
proj = Projector(ProjectorConfig(d_embed=table.memory.shape[2], d_model=llm.hidden_size, tokens_per_vector=1,
                                 hidden=1024, memory_encoding="segments:8", target_norm=llm.embedding_norm))
if arm == "minilm-lora":
    proj.lora = add_lora(llm.model)  # a submodule, so the Trainer optimises and checkpoints A and B too
stage1 = paraphrase_examples(table, [ex.passages[0] for ex in data.stage1], llm.tokenizer, 160, seed=0)
train_cfg = TrainConfig(stage="paraphrase", lr=1e-3, batch_size=8, max_steps=steps)
trainer = Trainer(proj, llm, table, stage1, train_cfg, out)
trainer.fit(progress=False)
rows = list(dict.fromkeys(ex.passages[0] for ex in data.val))
val = paraphrase_examples(table, rows, llm.tokenizer, 128, seed=0)
val = random.Random(0).sample(val, 96)
llm32 = LLM.load(None)
if arm == "minilm-lora":
    for mine, trained in zip(add_lora(llm32.model), proj.lora):
        mine.A.data.copy_(trained.A.data)
        mine.B.data.copy_(trained.B.data)
    proj.lora = None  # evaluate the projector alone; the fp32 LLM now carries the adapter
closed = answer_nll(llm32, table, val, "closed_book", progress=False)
full = answer_nll(llm32, table, val, "full_text", progress=False)
nll = answer_nll(llm32, table, val, "compressed", proj.float(), progress=False)
res = {"arm": arm, "steps": steps, "closed_book": closed, "full_text": full, "rec_nll": nll,
       "recovery": nll_recovery(closed, nll, full)}
(out / "result.json").write_text(json.dumps(res, indent=1))
print(json.dumps(res, indent=1))
