"""The fast student: a few-layer copy of the fine-tuned sentiment model that also serves topic embeddings.

Distillation (:meth:`StudentClassifier.fit`):

* **Architecture.** A BERT encoder of ``len(layers)`` layers whose embeddings and layers are
  copied from the teacher (``layers`` are teacher layer indices, lowest first; the default
  takes 6 of 12), the teacher's sentiment head, and a ``topic_proj`` linear map (initialised
  to the identity) from the same mean-pooled output to the *base model's* embedding space.
* **Targets**, computed once by the teacher's joint pass (:mod:`custsat.models.text.joint`):
  the teacher's logits and the base encoder's L2-normalised embedding of every training text.
  Texts are the labelled training reviews plus unlabelled CRM-style feedback texts.
* **Loss** per batch: ``kd_weight * T^2 * KL(teacher || student)`` at temperature ``T`` on the
  logits the teacher's calibration uses (negative/positive in ``band`` mode, all three when
  neutral is learned), ``+ (1 - kd_weight) * cross-entropy`` on the rows that carry a label
  (negative/positive labels over the two polarity logits, so binary reviews do not push the
  neutral logit down; neutral labels over all three),
  ``+ embed_weight * (1 - cosine(topic_proj(pooled), base embedding))``.
* The word embeddings stay frozen; the plan is fixed (``epochs`` over token-budget batches,
  linear warm-up and decay), with the optional ``max_minutes`` cut of
  :mod:`custsat.models.text.training` (a cut run is incomplete and never promoted).

After training the student's own calibration (temperature, band) is fitted on the validation
texts exactly as the teacher's is, so ``p_negative / p_neutral / p_positive`` mean the same.

Inference: one pass gives the sentiment logits and a topic embedding that the registered
topic model (fitted on base-model embeddings) consumes directly. It runs in fp32 by default;
``int8=True`` (runtime ``torch-int8``) applies PyTorch dynamic quantization to every
``Linear`` layer (int8 weights, activations quantized per batch; the embedding lookup stays
fp32), about 1.5x faster on CPUs with VNNI, at a cost of 1-2 points of accuracy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from custsat.data.io import atomic_write_dir
from custsat.models.text.encoder import (
    encode_texts,
    forward_arrays,
    load_tokenizer,
    mean_pool,
    pad_batch,
    run_batched,
)
from custsat.models.text.sentiment import (
    LABEL_TO_ID,
    LABELS,
    calibrate_logits,
    calibrated_proba,
    token_budget_batches,
)

META_FILE = "student_meta.json"


@dataclass
class StudentConfig:
    """Distillation settings; ``layers`` are teacher layer indices; ``max_len`` in tokens incl. specials."""

    layers: tuple[int, ...] = (0, 2, 4, 7, 9, 11)
    max_len: int = 128
    epochs: float = 1.0
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.06
    batch_tokens: int = 4096
    max_batch_size: int = 64
    kd_temperature: float = 2.0
    kd_weight: float = 0.7
    embed_weight: float = 1.0
    band_target_accuracy: float = 0.95
    band_max_share: float = 0.15
    infer_batch_size: int = 64
    max_minutes: float | None = None
    seed: int = 0
    extra: dict = field(default_factory=dict)


class StudentNet:
    """Factory for the student torch module (lazy, so importing this file does not import torch)."""

    @staticmethod
    def build(encoder, head, hidden: int):
        import torch

        class _Student(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = encoder
                self.head = head
                self.topic_proj = torch.nn.Linear(hidden, hidden)

            def forward(self, input_ids, attention_mask):
                h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                pooled = mean_pool(h, attention_mask)
                return self.head(pooled), torch.nn.functional.normalize(self.topic_proj(pooled), dim=-1)

        return _Student()

    @staticmethod
    def from_teacher(teacher_net, layers: Sequence[int]):
        """Student module with the teacher's embeddings, ``layers`` and head (copies), identity ``topic_proj``."""
        import torch
        from transformers import BertModel

        tcfg = teacher_net.encoder.config
        teacher_layers = teacher_net.encoder.encoder.layer
        n = len(teacher_layers)
        if not layers or any(i < 0 or i >= n for i in layers) or list(layers) != sorted(set(layers)):
            raise ValueError(f"student layers must be distinct increasing teacher layer indices in [0, {n}), "
                             f"got {list(layers)}")
        cfg = copy.deepcopy(tcfg)
        cfg.num_hidden_layers = len(layers)
        encoder = BertModel(cfg, add_pooling_layer=False)
        encoder.embeddings.load_state_dict(teacher_net.encoder.embeddings.state_dict())
        for mine, i in zip(encoder.encoder.layer, layers, strict=True):
            mine.load_state_dict(teacher_layers[i].state_dict())
        head = copy.deepcopy(teacher_net.head)
        net = StudentNet.build(encoder, head, int(cfg.hidden_size))
        with torch.no_grad():
            net.topic_proj.weight.copy_(torch.eye(cfg.hidden_size))
            net.topic_proj.bias.zero_()
        return net


def _label_loss(logits, y):
    """Mean cross-entropy over the labelled rows: polarity labels on the two polarity logits, neutral on three."""
    import torch

    F = torch.nn.functional
    polar, neutral = (y == 0) | (y == 2), y == 1
    parts, n = [], int(polar.sum()) + int(neutral.sum())
    if bool(polar.any()):
        parts.append(F.cross_entropy(logits[polar][:, [0, 2]], (y[polar] == 2).long(), reduction="sum"))
    if bool(neutral.any()):
        parts.append(F.cross_entropy(logits[neutral], y[neutral], reduction="sum"))
    return sum(parts) / n if parts else logits.sum() * 0.0


def quantize_int8(net):
    """Dynamic int8 copy of ``net``: every ``torch.nn.Linear`` (attention, feed-forward, heads)."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.13 marks its quantized-tensor constructors deprecated; custsat pins torch==2.13.0
        warnings.filterwarnings("ignore", message=".*quantize.*deprecated.*")
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        return quantize_dynamic(copy.deepcopy(net).eval(), {torch.nn.Linear}, dtype=torch.qint8)


class StudentClassifier(BaseEstimator):
    """Distilled few-layer sentiment model with a topic-embedding head (see the module doc).

    Parameters
    ----------
    config : StudentConfig (``None`` = defaults); the seed is ``config.seed``.
    int8 : run inference with dynamic int8 quantization (``torch-int8`` runtime); fp32 by default.
    """

    def __init__(self, config: StudentConfig | None = None, int8: bool = False):
        self.config = config
        self.int8 = int8

    def fit(self, teacher, texts: Sequence[str], teacher_logits: np.ndarray, base_embeddings: np.ndarray,
            labels: Sequence[str | None] | None = None, val_texts: Sequence[str] | None = None,
            val_labels: Sequence[str] | None = None, progress: bool = True) -> StudentClassifier:
        """Distil ``teacher`` (a fitted SentimentClassifier) on ``texts``.

        ``teacher_logits`` (n, 3) and ``base_embeddings`` (n, H) are the joint pass's outputs for
        ``texts``; ``labels`` holds negative/neutral/positive or None (unlabelled) per text.
        """
        import torch

        from custsat.models.text.training import StepPlan, TrainingLoop, epoch_order

        cfg = self.config_ = copy.deepcopy(self.config) if self.config is not None else StudentConfig()
        texts = list(texts)
        if not (len(texts) == len(teacher_logits) == len(base_embeddings)):
            raise ValueError(f"texts ({len(texts)}), teacher_logits ({len(teacher_logits)}) and base_embeddings "
                             f"({len(base_embeddings)}) must have one row per text")
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.neutral_mode_ = teacher.neutral_mode_
        self.base_model_ = teacher.base_model_
        self.teacher_layers_ = tuple(int(i) for i in cfg.layers)
        self.tokenizer_ = teacher.tokenizer_
        self.net_ = StudentNet.from_teacher(teacher.net_, cfg.layers)
        self.net_.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        cols = [0, 2] if self.neutral_mode_ == "band" else [0, 1, 2]
        # labels: 0 negative, 1 neutral, 2 positive, -1 none (unlabelled CRM texts)
        lab = np.array([-1 if v is None or (isinstance(v, float) and np.isnan(v)) else LABEL_TO_ID[str(v)]
                        for v in (labels if labels is not None else [None] * len(texts))])
        if self.neutral_mode_ == "band":
            lab[lab == 1] = -1  # a band teacher has no neutral logit to learn from
        t_logits = torch.from_numpy(np.asarray(teacher_logits, np.float32)[:, cols])
        target_emb = torch.from_numpy(np.asarray(base_embeddings, np.float32))
        lab_t = torch.from_numpy(lab)

        enc = encode_texts(self.tokenizer_, texts, cfg.max_len)
        batches = token_budget_batches(enc.ids, rng, cfg.batch_tokens, cfg.max_batch_size)
        plan = StepPlan.from_epochs(len(batches), cfg.epochs, cfg.warmup_frac)
        heads = [p for n, p in self.net_.named_parameters() if n.startswith(("head", "topic_proj"))]
        body = [p for n, p in self.net_.named_parameters() if p.requires_grad and not n.startswith(("head", "topic_proj"))]
        opt = torch.optim.AdamW([{"params": body, "lr": cfg.lr}, {"params": heads, "lr": cfg.head_lr}],
                                weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, plan.lr_factor)
        trainable = body + heads
        T = cfg.kd_temperature
        F = torch.nn.functional
        self.net_.train()
        with TrainingLoop(plan.steps, "distilling student", max_minutes=cfg.max_minutes, progress=progress) as loop:
            for b in epoch_order(len(batches), plan.steps, rng):
                if loop.should_stop():
                    break
                idx = torch.from_numpy(batches[b])
                a, m = pad_batch([enc.ids[i] for i in batches[b]], self.tokenizer_.pad_token_id)
                logits, topic = self.net_(torch.from_numpy(a), torch.from_numpy(m))
                s = logits[:, cols]
                kd = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t_logits[idx] / T, -1), reduction="batchmean") * T * T
                ce = _label_loss(logits, lab_t[idx])
                emb = (1.0 - (topic * target_emb[idx]).sum(-1)).mean()
                loss = cfg.kd_weight * kd + (1.0 - cfg.kd_weight) * ce + cfg.embed_weight * emb
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
        if val_texts is not None and len(val_texts):
            self.calibrate(self.forward_texts(val_texts, int8=False)[0], val_labels)
        return self

    def calibrate(self, logits: np.ndarray, labels: Sequence[str]) -> StudentClassifier:
        self.temperature_, self.band_, self.neutral_bias_ = calibrate_logits(
            logits, labels, self.neutral_mode_, self.config_.band_target_accuracy, self.config_.band_max_share)
        return self

    # ------------------------------------------------------------------ inference
    def serving_net(self, int8: bool | None = None):
        """The module inference runs: the int8 copy (made once) when ``int8``, else the fp32 net."""
        if not (self.int8 if int8 is None else int8):
            return self.net_
        if getattr(self, "net_int8_", None) is None:
            self.net_int8_ = quantize_int8(self.net_)
        return self.net_int8_

    def forward_texts(self, texts: Sequence[str], max_len: int | None = None, progress: bool = False,
                      batch_size: int | None = None, int8: bool | None = None):
        """Raw logits (n, 3), topic embeddings in the base model's space (n, H) and truncation flags."""
        enc = encode_texts(self.tokenizer_, list(texts), max_len or self.config_.max_len)
        forward = forward_arrays(self.serving_net(int8))
        hidden = self.net_.topic_proj.out_features
        logits, emb = run_batched(enc.ids, self.tokenizer_.pad_token_id, batch_size or self.config_.infer_batch_size,
                                  forward, [3, hidden], progress, "classifying (student)")
        return logits, emb, enc.truncated

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        return calibrated_proba(logits, self.neutral_mode_, self.temperature_, self.band_, self.neutral_bias_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_logits(self.forward_texts(texts)[0])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.array(LABELS)[self.predict_proba(texts).argmax(1)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fp32 student (encoder, tokenizer, heads) and its calibration (atomic)."""
        import torch

        path = Path(path)
        with atomic_write_dir(path) as tmp:
            self.net_.encoder.save_pretrained(tmp / "encoder")
            self.tokenizer_.save_pretrained(tmp / "encoder")
            torch.save({"head": self.net_.head.state_dict(), "topic_proj": self.net_.topic_proj.state_dict()},
                       tmp / "heads.pt")
            meta = {"kind": "student", "labels": list(LABELS), "neutral_mode": self.neutral_mode_,
                    "temperature": self.temperature_, "band": self.band_, "neutral_bias": self.neutral_bias_,
                    "config": asdict(self.config_), "int8": bool(self.int8), "base_model": self.base_model_,
                    "teacher_layers": list(self.teacher_layers_), "training": getattr(self, "training_", None),
                    "train_log": getattr(self, "train_log_", [])}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, int8: bool | None = None) -> StudentClassifier:
        """Load a saved student; ``int8`` overrides the saved choice (None = as saved)."""
        import torch

        from custsat.models.text.encoder import load_bert

        path = Path(path)
        meta = json.loads((path / META_FILE).read_text())
        known = set(StudentConfig.__dataclass_fields__)
        cfg = {k: v for k, v in meta["config"].items() if k in known}
        cfg["layers"] = tuple(cfg.get("layers", ()))
        obj = cls(StudentConfig(**cfg), int8=meta.get("int8", True) if int8 is None else bool(int8))
        obj.config_ = copy.deepcopy(obj.config)
        obj.neutral_mode_ = meta["neutral_mode"]
        obj.temperature_, obj.band_ = float(meta["temperature"]), float(meta["band"])
        obj.neutral_bias_ = float(meta.get("neutral_bias", 0.0))
        obj.base_model_ = meta.get("base_model")
        obj.teacher_layers_ = tuple(meta.get("teacher_layers", cfg["layers"]))
        obj.training_ = meta.get("training")
        obj.complete_ = bool((obj.training_ or {}).get("complete", True))
        obj.train_log_ = meta.get("train_log", [])
        obj.tokenizer_ = load_tokenizer(path / "encoder")
        encoder = load_bert(path / "encoder")
        hidden = int(encoder.config.hidden_size)
        head = torch.nn.Linear(hidden, 3)
        obj.net_ = StudentNet.build(encoder, head, hidden)
        state = torch.load(path / "heads.pt", weights_only=True)
        obj.net_.head.load_state_dict(state["head"])
        obj.net_.topic_proj.load_state_dict(state["topic_proj"])
        obj.net_.eval()
        obj.path_ = path
        return obj
