"""Question-aware windows: compress by *selecting* the few tokens of a passage that matter to the question.

Pooling a passage into 8 soft tokens loses its wording (docs/results.md, "How much of the passage do the soft tokens
carry?"). This experiment asks whether selection works where pooling does not. Each retrieved passage is cut
to its W-wordpiece question-aware window exactly as the `selected_text` mode does (rag.selection: max-sim of
MiniLM wordpiece states against the question's content wordpieces, best window shifted W/3 forward). Then:

  rates W...           how often the gold answer survives in the k=3 windows (no LLM; also the lead-W baseline)
  text W [lead] [notitles]  the frozen LLM reads the windows as text (full_text mode on cut passages; without
                       the "Title: " prefix with `notitles`)
  align OUT EPOCHS     a token-level projector (tokens_per_vector=1, no pooling) trained without the LLM to
                       map each wordpiece state onto the LLM input embedding of the token it starts in
                       (contrastive over the whole vocabulary, temperature 0.05; 3,788 training passages)
  finetune IN OUT STEPS LR   that projector trained end to end through the frozen LLM: answer NLL given the
                       soft windows of the gold passage and two others from its article (SQuAD training split)
  soft PROJ W [snap]   the LLM reads the projected windows as soft tokens; `snap` replaces each soft token by
                       its nearest LLM input embedding (the memory decoded to discrete tokens)

Evaluation: the 200 validation questions of the docs/results.md tables (6 held-out articles, seed 0), top-3 retrieval
over their 242 paragraphs, as `squeezerag bench`. Needs runs/proj-e2/data/passages.json for `align`.
Measured on the 2-core CPU (2026-11-24) in the docs/results.md section "Selecting instead of pooling". The align and
finetune numbers there came from a first version of this script that fed the projector unnormalised
wordpiece states; the projector's input LayerNorm makes that equivalent up to its epsilon (the `soft ... snap`
evaluation of that projector gives the same 0.105 with either).
"""
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eval.dataset_index import dataset_index
from eval.datasets import load_qa
from eval.metrics import f1_score, has_answer
from eval.runner import select_records
from indexer import load_embedder
from projector.config import ProjectorConfig
from projector.model import Projector
from rag import RAG
from rag import prompt as P
from rag.llm import LLM
from rag.selection import WindowConfig, maxsim_scores, question_keys, window_span
from rag.token_states import token_states

SQUAD = "../shared/data/squad/squad-v1.1-dev-pool.json"
VAL = ["Chloroplast", "Construction", "Economic_inequality", "Normans", "Oxygen", "Victoria_(Australia)"]
K = 3

embedder = load_embedder()


def window(question: str, text: str, width: int, lead: bool = False) -> tuple[torch.Tensor, str]:
    """The selected window (rag.selection, as the selected_text mode) as normalised wordpiece states
    ``(<=width, d)`` and as text; ``lead``: the passage's first ``width`` wordpieces instead."""
    q, p = token_states(embedder, [question, text])
    if lead:
        start, end = 0, min(width, p.states.shape[0])
    else:
        start, end = window_span(maxsim_scores(p, question_keys(q)), WindowConfig(width=width))
    return p.states[start:end], text[int(p.spans[start][0]):int(p.spans[end - 1][1])]


def validation() -> tuple[list, list]:
    """The 200 docs/results.md validation questions and their top-3 hits (retrieval as `squeezerag bench`)."""
    records = load_qa(SQUAD, articles=VAL)
    index = dataset_index(records, embedder=embedder, progress=False)
    selected = select_records(records, 200, 0)
    return selected, index.search([r.question for r in selected], k=K)


def report(name: str, texts: list[str], selected: list) -> None:
    acc = np.mean([has_answer(t, r.answers) for t, r in zip(texts, selected)])
    f1 = np.mean([f1_score(t, r.answers) for t, r in zip(texts, selected)])
    print(f"{name}: accuracy {acc:.3f} F1 {f1:.3f} (n={len(texts)})", flush=True)


def rates(widths: list[int]) -> None:
    selected, hits = validation()
    full = np.mean([has_answer(" ".join(h.text for h in hs), r.answers) for r, hs in zip(selected, hits)])
    for width in widths:
        for lead in (True, False):
            got = [has_answer(" ... ".join(window(r.question, h.text, width, lead)[1] for h in hs), r.answers)
                   for r, hs in zip(selected, hits)]
            print(f"W={width} {'lead' if lead else 'question-aware'}: answer in the {K} windows "
                  f"{np.mean(got):.3f} (in the full passages {full:.3f})", flush=True)


def text_windows(width: int, lead: bool, titles: bool) -> None:
    selected, hits = validation()
    rag = RAG(index=None, embedder=embedder)
    cut = [[replace(h, text=window(r.question, h.text, width, lead)[1], title=h.title if titles else "")
            for h in hs] for r, hs in zip(selected, hits)]
    answers = rag.answer([r.question for r in selected], cut, mode="full_text")
    report(f"text windows W={width}{' lead' if lead else ''}{'' if titles else ' no titles'}, "
           f"{np.mean([a.context_tokens for a in answers]):.1f} context tokens", [a.text for a in answers], selected)


def aligned_pairs(llm: LLM, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Wordpiece states ``(N, d_embed)`` and the id of the LLM token each one starts in ``(N,)``."""
    xs, ys = [], []
    for text in texts:
        passage = token_states(embedder, [text])[0]
        h, offsets = passage.states, passage.spans
        llm_tok = llm.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        ends = np.array([e for _, e in llm_tok["offset_mapping"]])
        for i in range(h.shape[0]):
            j = int(np.searchsorted(ends, int(offsets[i][0]), side="right"))
            if j < len(ends):
                xs.append(h[i])
                ys.append(llm_tok["input_ids"][j])
    return torch.stack(xs), torch.tensor(ys)


def align(out: str, epochs: int) -> None:
    torch.manual_seed(0)
    llm = LLM.load(None)
    vocab = F.normalize(llm.input_embeddings.weight.detach().float(), dim=1)
    x, y = aligned_pairs(llm, json.loads(Path("runs/proj-e2/data/passages.json").read_text())["texts"])
    cut = int(len(x) * 0.9)  # the last 10% of passages are held out
    config = ProjectorConfig(d_embed=x.shape[1], d_model=llm.hidden_size, tokens_per_vector=1, hidden=1024,
                             memory_encoding="tokens", embedder_id=embedder.id, llm_id=llm.id,
                             target_norm=llm.embedding_norm)
    projector = Projector(config)
    opt = torch.optim.AdamW(projector.parameters(), lr=1e-3, weight_decay=0.0)
    for epoch in range(epochs):
        for idx in torch.randperm(cut).split(512):
            out_vecs = F.normalize(projector(x[idx][:, None])[:, 0], dim=1)
            loss = F.cross_entropy(out_vecs @ vocab.T / 0.05, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = (F.normalize(projector(x[cut:][:, None])[:, 0], dim=1) @ vocab.T).argmax(1)
        print(f"epoch {epoch}: loss {loss.item():.3f}, held-out top-1 token {(pred == y[cut:]).float().mean():.3f}",
              flush=True)
    projector.save_pretrained(out)


def soft_prompt(llm: LLM, projector: Projector, question: str, passages: list[str], width: int,
                target: str | None = None, snap: bool = False) -> tuple[P.EncodedPrompt, torch.Tensor]:
    """One compressed prompt: each passage's window projected to one soft token per wordpiece."""
    blocks = [projector(window(question, text, width)[0][None])[0] for text in passages]
    soft = torch.cat(blocks)
    if snap:
        vocab = F.normalize(llm.input_embeddings.weight.detach().float(), dim=1)
        soft = llm.input_embeddings.weight[(F.normalize(soft.detach(), dim=1) @ vocab.T).argmax(1)].float()
    message = P.qa_message(question, [P.soft_block(b.shape[0]) for b in blocks])
    return P.encode_prompt(llm, message, target=target), soft


def finetune(source: str, out: str, steps: int, lr: float) -> None:
    random.seed(0)
    torch.manual_seed(0)
    llm, projector = LLM.load(None), Projector.from_pretrained(source)
    projector.train()
    records = [r for r in load_qa(SQUAD) if r.title not in VAL and r.answers]
    by_title: dict[str, list[str]] = {}
    for r in records:
        by_title.setdefault(r.title, [])
        if r.context not in by_title[r.title]:
            by_title[r.title].append(r.context)
    random.shuffle(records)
    opt = torch.optim.AdamW(projector.parameters(), lr=lr, weight_decay=0.0)
    t0 = time.time()
    for step in range(steps):
        prompts, soft = [], []
        for r in records[step * 8:(step + 1) * 8]:
            others = [c for c in by_title[r.title] if c != r.context]
            passages = [r.context] + random.sample(others, min(K - 1, len(others)))
            random.shuffle(passages)
            prompt, s = soft_prompt(llm, projector, r.question, passages, 14, target=r.answers[0])
            prompts.append(prompt)
            soft.append(s)
        batch = P.assemble(llm, prompts, soft, with_labels=True)
        logits = P.forward_logits(llm, batch)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch.labels[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            print(f"step {step}: answer NLL {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    projector.save_pretrained(out)


@torch.no_grad()
def soft_windows(path: str, width: int, snap: bool) -> None:
    selected, hits = validation()
    llm, projector = LLM.load(None), Projector.from_pretrained(path).eval()
    texts = []
    for s in range(0, len(selected), 8):
        built = [soft_prompt(llm, projector, r.question, [h.text for h in hs], width, snap=snap)
                 for r, hs in zip(selected[s:s + 8], hits[s:s + 8])]
        batch = P.assemble(llm, [b[0] for b in built], [b[1] for b in built])
        texts += llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, 24).texts
    report(f"soft windows W={width}{' snapped' if snap else ''} ({path})", texts, selected)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "rates":
        rates([int(a) for a in args])
    elif command == "text":
        text_windows(int(args[0]), lead="lead" in args, titles="notitles" not in args)
    elif command == "align":
        align(args[0], int(args[1]))
    elif command == "finetune":
        finetune(args[0], args[1], int(args[2]), float(args[3]))
    elif command == "soft":
        soft_windows(args[0], int(args[1]), snap="snap" in args)
    else:
        sys.exit(__doc__)
