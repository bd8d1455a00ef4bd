"""Feasibility: can the frozen LLM read soft tokens made from the embedder's wordpiece states of the windows
the window scorer selects? (exploratory; see README "Soft tokens from selected wordpieces")

    python docs/experiments/soft_windows.py OUT_DIR [--epochs N]

1. Alignment pretraining without the LLM in the loop: a projector maps each wordpiece state to the
   overlap-weighted mean input embedding of the LLM tokens covering the same characters (cosine loss).
2. Evaluation on the README's validation questions: top-3 retrieval, scorer windows (global, W=8); the windows
   are read as soft tokens (one per wordpiece) and, for reference, as text in the same prompt layout.
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from eval.dataset_index import dataset_index
from eval.datasets import load_qa
from eval.metrics import has_answer
from eval.records import without_articles
from eval.runner import select_records
from indexer import load_embedder
from projector.config import ProjectorConfig
from projector.model import Projector
from rag import prompt as P
from rag.demo_index import default_window_scorer_dir
from rag.llm import LLM
from rag.selection import WindowConfig, token_states, window_spans
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES
from rag.window_scorer import WindowScorer

SQUAD = "../shared/data/squad/squad-v1.1-dev-pool.json"


def wordpiece_targets(llm: LLM, text: str, spans: np.ndarray) -> torch.Tensor:
    """``(L, d_model)``: per wordpiece, the overlap-weighted mean input embedding of the LLM tokens covering it."""
    enc = llm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offs = np.asarray(enc.offset_mapping).reshape(-1, 2)
    ov = np.minimum(spans[:, None, 1], offs[None, :, 1]) - np.maximum(spans[:, None, 0], offs[None, :, 0])
    ov = np.clip(ov, 0, None).astype(np.float32)
    ov[ov.sum(1) == 0] = 1.0  # never happens for real text; keeps the division safe
    w = torch.from_numpy(ov / ov.sum(1, keepdims=True))
    emb = llm.input_embeddings.weight.detach().float()[torch.tensor(enc.input_ids)]
    return w @ emb


def build_pairs(llm, embedder, texts):
    xs, ys = [], []
    for s in range(0, len(texts), 64):
        chunk = texts[s:s + 64]
        for text, ts in zip(chunk, token_states(embedder, chunk, 256)):
            xs.append(ts.states)
            ys.append(wordpiece_targets(llm, text, ts.spans))
    return torch.cat(xs), torch.cat(ys)


def pretrain(proj: Projector, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-3) -> None:
    opt = torch.optim.AdamW(proj.parameters(), lr=lr, weight_decay=0.01)
    n = x.shape[0]
    g = torch.Generator().manual_seed(0)
    proj.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for s in range(0, n, 512):
            idx = perm[s:s + 512]
            out = proj(x[idx][:, None, :])[:, 0]
            loss = (1 - F.cosine_similarity(out, y[idx], dim=-1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        print(f"epoch {epoch}: 1-cos {total / n:.4f}", flush=True)
    proj.eval()


@torch.no_grad()
def nearest_token_rate(llm, proj, x, y) -> float:
    emb = F.normalize(llm.input_embeddings.weight.detach().float(), dim=-1)
    out = proj(x[:, None, :])[:, 0]
    pred = (F.normalize(out, dim=-1) @ emb.T).argmax(-1)
    gold = (F.normalize(y, dim=-1) @ emb.T).argmax(-1)
    return float((pred == gold).float().mean())


@torch.no_grad()
def evaluate(llm, embedder, scorer, proj, records, n=200, width=8, batch=8):
    selected = select_records(records, n, 0)
    hits = dataset_index(records, embedder=embedder, progress=False).search([r.question for r in selected], k=3)
    qs = [r.question for r in selected]
    texts = [[h.text for h in hs] for hs in hits]
    flat = iter(token_states(embedder, [t for ts in texts for t in ts], 256))
    states = [[next(flat) for _ in ts] for ts in texts]
    spans = window_spans(token_states(embedder, qs, 256), states, WindowConfig(width=width), scorer)
    results = {"soft": [], "text": []}
    n_soft = []
    for s in range(0, len(qs), batch):
        soft_prompts, soft_vals, text_prompts = [], [], []
        for i in range(s, min(s + batch, len(qs))):
            blocks, windows = [], []
            for text, ts, sp in zip(texts[i], states[i], spans[i]):
                for a, b in sp:
                    blocks.append(proj(ts.states[a:b][None])[0])
                    windows.append(text[int(ts.spans[a][0]):int(ts.spans[b - 1][1])])
            soft_vals.append(torch.cat(blocks))
            n_soft.append(soft_vals[-1].shape[0])
            soft_prompts.append(P.encode_prompt(llm, P.qa_message(qs[i], [P.soft_block(b.shape[0]) for b in blocks])))
            text_prompts.append(P.encode_prompt(llm, P.qa_message(qs[i], windows)))
        for name, prompts, soft in (("soft", soft_prompts, soft_vals), ("text", text_prompts, None)):
            b = P.assemble(llm, prompts, soft)
            gen = llm.generate_from_embeds(b.inputs_embeds, b.attention_mask, 24)
            results[name] += gen.texts
    for name, preds in results.items():
        acc = np.mean([has_answer(p, r.answers) for p, r in zip(preds, selected)])
        print(f"{name}: accuracy {acc:.3f}", flush=True)
    print(f"soft tokens per question {np.mean(n_soft):.1f}", flush=True)
    for p, q, r in list(zip(results["soft"], qs, selected))[:10]:
        print(f"  Q: {q} | gold {r.answers[0]!r} | soft {p!r}")
    return results


def main(out: str, epochs: int) -> None:
    torch.manual_seed(0)
    llm = LLM.load(None)
    embedder = load_embedder()
    scorer = WindowScorer.from_pretrained(default_window_scorer_dir())
    records = load_qa(SQUAD)
    train = without_articles(records, (*VALIDATION_ARTICLES, *SECOND_SET_ARTICLES))
    paragraphs = list(dict.fromkeys(r.context for r in train))
    t0 = time.time()
    x, y = build_pairs(llm, embedder, paragraphs)
    print(f"{len(paragraphs)} paragraphs, {x.shape[0]} wordpieces, {time.time() - t0:.0f} s", flush=True)
    cfg = ProjectorConfig(d_embed=x.shape[1], d_model=llm.hidden_size, tokens_per_vector=1, hidden=1024,
                          memory_encoding="windows", target_norm=llm.embedding_norm)
    proj = Projector(cfg)
    held = torch.arange(x.shape[0]) % 20 == 0
    pretrain(proj, x[~held], y[~held], epochs)
    print(f"nearest-token agreement (held-out wordpieces): {nearest_token_rate(llm, proj, x[held], y[held]):.3f}")
    proj.save_pretrained(out)
    evaluate(llm, embedder, scorer, proj, load_qa(SQUAD, articles=list(VALIDATION_ARTICLES)))




def window_examples(embedder, scorer, records, index, width=8, batch=64):
    """Per question: (question, answer, [window states], [window texts]) when the windows hold the answer."""
    out = []
    for s in range(0, len(records), batch):
        chunk = records[s:s + batch]
        qs = [r.question for r in chunk]
        hits = index.search(qs, k=3)
        texts = [[h.text for h in hs] for hs in hits]
        flat = iter(token_states(embedder, [t for ts in texts for t in ts], 256))
        states = [[next(flat) for _ in ts] for ts in texts]
        spans = window_spans(token_states(embedder, qs, 256), states, WindowConfig(width=width), scorer)
        for r, tx, st, sp in zip(chunk, texts, states, spans):
            ws, wt = [], []
            for text, ts, pairs in zip(tx, st, sp):
                for a, b in pairs:
                    ws.append(ts.states[a:b])
                    wt.append(text[int(ts.spans[a][0]):int(ts.spans[b - 1][1])])
            if has_answer(" ".join(wt), r.answers):
                out.append((r.question, r.answers[0], ws, wt))
    return out


def distill(llm, proj, examples, steps, out, batch=16, lr=3e-4, kl_weight=2.0):
    from projector.losses import kl_top_k, nll, target_logits, target_mask_and_ids
    opt = torch.optim.AdamW(proj.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(0)
    t0 = time.time()
    for step in range(steps):
        idx = rng.choice(len(examples), batch, replace=False)
        exs = [examples[i] for i in idx]
        with torch.no_grad():
            tb = P.assemble(llm, [P.encode_prompt(llm, P.qa_message(q, wt), target=a) for q, a, _, wt in exs],
                            with_labels=True)
            n_keep = int((tb.labels != -100).sum(1).max())
            top = torch.log_softmax(target_logits(llm, tb, n_keep), -1).topk(64, dim=-1)
        proj.train()
        soft = [proj(torch.cat(ws)[:, None, :])[:, 0] for _, _, ws, _ in exs]
        sb = P.assemble(llm, [P.encode_prompt(llm, P.qa_message(q, [P.soft_block(w.shape[0]) for w in ws]), target=a)
                              for q, a, ws, _ in exs], soft, with_labels=True)
        student = target_logits(llm, sb, n_keep)
        mask, ids = target_mask_and_ids(sb, n_keep)
        l_nll = nll(student, ids, mask)
        l_kl = kl_top_k(student, top.indices, top.values, mask)
        loss = l_nll + kl_weight * l_kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(proj.parameters(), 1.0)
        opt.step()
        if step % 10 == 0:
            print(f"step {step}: nll {l_nll.item():.3f} kl {l_kl.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
        if (step + 1) % 100 == 0:
            proj.save_pretrained(out)
    proj.eval()
    proj.save_pretrained(out)


def main_distill(init: str, out: str, steps: int) -> None:
    torch.manual_seed(0)
    llm = LLM.load(None)
    for p in llm.model.parameters():
        p.requires_grad_(False)
    embedder = load_embedder()
    scorer = WindowScorer.from_pretrained(default_window_scorer_dir())
    records = load_qa(SQUAD)
    train = without_articles(records, (*VALIDATION_ARTICLES, *SECOND_SET_ARTICLES))
    index = dataset_index(train, embedder=embedder, progress=False)
    t0 = time.time()
    examples = window_examples(embedder, scorer, train, index)
    print(f"{len(examples)} of {len(train)} training questions keep their answer ({time.time() - t0:.0f} s)")
    proj = Projector.from_pretrained(init)
    distill(llm, proj, examples, steps, out)
    evaluate(llm, embedder, scorer, proj, load_qa(SQUAD, articles=list(VALIDATION_ARTICLES)))


if __name__ == "__main__":
    if sys.argv[1] == "distill":
        main_distill(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
