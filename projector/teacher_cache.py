"""A persistent cache of the full-text teacher's top-k log-probs on answer tokens.

The teacher is the frozen LLM reading whole passages: on CPU its forward pass costs more than the
student's forward and backward together (measured on 2 CPU cores, SmolLM2-135M in bf16, batch 8:
~3.1 s vs ~1.8 s).
Its outputs never change, so they are computed once, in batches sorted by prompt length (little padding),
and saved as safetensors beside the run's data; later epochs and continued runs only read them.
Entries are keyed by content (passage texts, question, target), not by position in a data list.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from projector.data import Example, PassageTable
from projector.teacher import teacher_top_k
from rag.llm import LLM

logger = logging.getLogger(__name__)


class TeacherCache:
    """Example key -> (log-probs ``(n_target, k)`` fp16, token ids ``(n_target, k)`` int32).

    ``n_target`` counts the target tokens including the closing end-of-turn token. With ``path`` None
    the cache lives in memory only.
    """

    def __init__(self, path: str | Path | None, llm: LLM, k: int) -> None:
        self.path, self.k = (Path(path) if path else None), k
        self.identity = {"llm": llm.id, "dtype": str(llm.dtype), "k": str(k)}
        self.entries: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    @staticmethod
    def key(table: PassageTable, example: Example) -> str:
        content = [[table.texts[r] for r in example.passages], example.question, example.target]
        return hashlib.sha1(json.dumps(content).encode()).hexdigest()

    def fill(self, llm: LLM, table: PassageTable, examples: list[Example], batch_size: int = 8,
             save_every: int = 50, progress: bool = True) -> None:
        """Compute the teacher for every example not cached yet, shortest prompts first; saves as it goes."""
        todo = {self.key(table, ex): ex for ex in examples}
        todo = {key: ex for key, ex in todo.items() if key not in self.entries}
        if not todo:
            return
        # Characters stand in for tokens: close enough to sort by, and no second tokenisation of every prompt.
        order = sorted(todo, key=lambda key: _text_length(table, todo[key]))
        batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        for i, keys in enumerate(tqdm(batches, desc="teacher top-k", disable=not progress)):
            self._compute(llm, table, keys, [todo[key] for key in keys])
            if self.path is not None and ((i + 1) % save_every == 0 or i + 1 == len(batches)):
                self.save()

    def get(self, llm: LLM, table: PassageTable, examples: list[Example]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per example (log-probs, ids) ``(n_target, k)``; computes and keeps any that are missing."""
        keys = [self.key(table, ex) for ex in examples]
        missing = [(key, ex) for key, ex in zip(keys, examples) if key not in self.entries]
        if missing:
            self._compute(llm, table, [key for key, _ in missing], [ex for _, ex in missing])
        return [self.entries[key] for key in keys]

    def _compute(self, llm: LLM, table: PassageTable, keys: list[str], examples: list[Example]) -> None:
        for key, (logp, idx) in zip(keys, teacher_top_k(llm, table, examples, self.k)):
            self.entries[key] = (logp.half(), idx.int())

    # --- persistence ------------------------------------------------------------------------------
    def save(self) -> None:
        """One file: all entries concatenated along tokens, keys and lengths in the metadata; atomic."""
        keys = list(self.entries)
        logp = torch.cat([self.entries[key][0] for key in keys]) if keys else torch.zeros(0, self.k).half()
        idx = torch.cat([self.entries[key][1] for key in keys]) if keys else torch.zeros(0, self.k).int()
        meta = {**self.identity, "keys": json.dumps(keys),
                "lengths": json.dumps([int(self.entries[key][0].shape[0]) for key in keys])}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        save_file({"logp": logp.contiguous(), "idx": idx.contiguous()}, str(tmp), metadata=meta)
        tmp.replace(self.path)

    def _load(self) -> None:
        with safe_open(str(self.path), framework="pt") as f:
            meta = f.metadata()
            found = {name: meta.get(name) for name in self.identity}
            if found != self.identity:
                logger.warning("Ignoring teacher cache %s: it was computed for %s, not %s; it will be recomputed",
                               self.path, found, self.identity)
                return
            logp, idx = f.get_tensor("logp"), f.get_tensor("idx")
        start = 0
        for key, n in zip(json.loads(meta["keys"]), json.loads(meta["lengths"])):
            self.entries[key] = (logp[start:start + n], idx[start:start + n])
            start += n
        logger.info("Loaded %d cached teacher entries from %s", len(self.entries), self.path)

    def aligned(self, entries: list[tuple[torch.Tensor, torch.Tensor]], n_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-align entries into log-probs ``(batch, n_keep, k)`` float and ids ``(batch, n_keep, k)`` long.

        Left padding puts every target at the end of its row, so right alignment matches the student.
        """
        logp = torch.zeros(len(entries), n_keep, self.k)
        idx = torch.zeros(len(entries), n_keep, self.k, dtype=torch.long)
        for row, (lp, ix) in enumerate(entries):
            logp[row, n_keep - lp.shape[0]:] = lp.float()
            idx[row, n_keep - ix.shape[0]:] = ix.long()
        return logp, idx


def _text_length(table: PassageTable, example: Example) -> int:
    return sum(len(table.texts[r]) for r in example.passages) + len(example.question or "") + len(example.target)
