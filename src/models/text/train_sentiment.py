"""Train, evaluate, gate and register the sentiment models (``custsat train sentiment``).

One run, in a fixed order (the summary times each part):

1. **Data.** Real Chinese reviews ``load_reviews_zh()`` (binary; the fetch step holds out 20 % by
   unique text as ``split == 'test'``) and English reviews ``load_reviews_en()`` (the given
   1,000-row test split; ``positive`` = 5 stars, ``negative`` = 1-4 stars). Optional: a
   hand-labelled 3-class training sample of real reviews (``--labels``, default
   ``data/labels/sentiment_3class_train.csv``), user feedback with a ``sentiment`` or ``rating``
   column (1-2 negative, 3 neutral, 4-5 positive). Validation = 10 % of each review training split
   and of the feedback, chosen by a seeded hash of the text (stable; no text in two parts).
   Texts of the test splits and of the 3-class evaluation sample never reach training.
2. **Teacher**: the 12-layer fine-tune on polarity (:class:`SentimentClassifier`); with 3-class
   rows, a learned neutral class on top (:mod:`custsat.models.text.neutral`), else the
   validation-calibrated uncertainty band.
3. **One joint pass** of the teacher and the frozen base encoder over every text of the run
   (:mod:`custsat.models.text.joint`): teacher logits for evaluation and distillation, base
   embeddings for the frozen probe and for the student's topic head.
4. **Baselines** on the same training rows, scored on the same test rows: TF-IDF + logistic
   regression, and logistic regression on the frozen base embeddings
   (:mod:`custsat.models.text.baselines`).
5. **Student** (:mod:`custsat.models.text.student`), distilled on the training texts plus
   ``crm_texts`` unlabelled synthetic CRM feedback texts, evaluated as it is served (fp32).
6. **Gate and registry** (:mod:`custsat.models.registry`): the teacher becomes the
   ``custsat-sentiment`` champion only if its polarity accuracy beats both baselines on both
   languages and the current champion on the same held-out rows; the student likewise for
   ``custsat-sentiment-fast``. Otherwise it is registered as ``challenger``, the reasons recorded.
   A run cut short by ``max_minutes`` is never promoted. With no champion yet and a losing
   teacher, the best baseline is registered and serves as the ``custsat-sentiment`` champion.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.text.evaluation import polarity_metrics, three_class_metrics
from custsat.models.text.sentiment import (
    LABELS,
    SentimentClassifier,
    SentimentConfig,
    ratings_to_labels,
)
from custsat.models.text.student import StudentClassifier, StudentConfig

LANGUAGES = ("zh", "en")


@dataclass
class SentimentTrainPlan:
    """How much data a run uses (``None`` = all rows) and the fixed training plans."""

    max_train_zh: int | None = None
    max_train_en: int | None = None
    max_test_zh: int | None = None
    max_test_en: int | None = None
    val_fraction: float = 0.1
    crm_texts: int = 6000
    student: bool = True
    max_minutes: float | None = None
    config: SentimentConfig = field(default_factory=SentimentConfig)
    student_config: StudentConfig = field(default_factory=StudentConfig)

    @classmethod
    def fast(cls) -> SentimentTrainPlan:
        """CI-size run (a few minutes on 2 cores with the real base model)."""
        return cls(max_train_zh=400, max_train_en=200, max_test_zh=300, max_test_en=200, crm_texts=200,
                   config=SentimentConfig(max_len=64),
                   student_config=StudentConfig(max_len=64, layers=(0, 4, 8, 11)))


def _hash_unit(text: str, seed: int, salt: str = "val") -> float:
    h = hashlib.sha256(f"{salt}:{seed}:{text}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    return df.sample(n=n, random_state=seed).sort_index()


def _labelled_part(texts: pd.Series, seed: int, val_fraction: float) -> np.ndarray:
    return np.where(texts.map(lambda t: _hash_unit(t, seed) < val_fraction), "val", "train")


def prepare_sentiment_data(plan: SentimentTrainPlan, seed: int, reviews_zh: pd.DataFrame | None = None,
                           reviews_en: pd.DataFrame | None = None, feedback: pd.DataFrame | None = None,
                           labelled: pd.DataFrame | None = None, exclude_texts: set[str] | None = None
                           ) -> pd.DataFrame:
    """One frame: text, label, language, part ('train'/'val'/'test'), source.

    ``labelled``: hand-labelled 3-class rows (text, sentiment, language); ``exclude_texts``:
    texts that must never be trained on (e.g. an evaluation sample); test texts never are.
    """
    if reviews_zh is None or reviews_en is None:
        from custsat.data.fetch import load_reviews_en, load_reviews_zh

        reviews_zh = load_reviews_zh() if reviews_zh is None else reviews_zh
        reviews_en = load_reviews_en() if reviews_en is None else reviews_en
    parts = []
    for lang, df, ntr, nte in (("zh", reviews_zh, plan.max_train_zh, plan.max_test_zh),
                               ("en", reviews_en, plan.max_train_en, plan.max_test_en)):
        for col in ("text", "label", "split"):
            if col not in df.columns:
                raise ValueError(f"reviews_{lang}: missing column {col!r} (have {list(df.columns)})")
        d = df[["text", "label", "split"]].copy()
        d = d[d["text"].astype(str).str.strip().ne("")]
        d["language"], d["source"] = lang, f"reviews_{lang}"
        test = _sample(d[d["split"] == "test"], nte, seed)
        train = d[d["split"] != "test"]
        train = train[~train["text"].isin(set(d.loc[d["split"] == "test", "text"]))]  # leakage guard
        is_val = train["text"].map(lambda t: _hash_unit(t, seed) < plan.val_fraction)
        val, train = train[is_val], _sample(train[~is_val], ntr, seed)
        if ntr is not None:
            val = _sample(val, max(50, ntr // 8), seed)
        parts += [train.assign(part="train"), val.assign(part="val"), test.assign(part="test")]
    if labelled is not None and len(labelled):
        lab = pd.DataFrame({"text": labelled["text"].astype(str), "label": labelled["sentiment"].astype(str),
                            "language": labelled["language"].astype(str)})
        lab["source"] = "labels"
        lab["part"] = "train"  # the neutral head's settings are chosen by cross-validation on these rows
        parts.append(lab)
    if feedback is not None and len(feedback):
        fb = feedback.copy()
        if "sentiment" in fb.columns:
            lab = fb["sentiment"]
        elif "rating" in fb.columns:
            lab = ratings_to_labels(fb["rating"])
        else:
            raise ValueError("feedback for sentiment training needs a 'sentiment' or 'rating' column")
        fb = pd.DataFrame({"text": fb["text"].astype(str), "label": lab}).dropna()
        fb = fb[fb["label"].isin(LABELS) & fb["text"].str.strip().ne("")]
        from custsat.privacy import detect_language

        fb["language"] = fb["text"].map(lambda t: "en" if detect_language(t) == "en" else "zh")
        fb["source"] = "feedback"
        fb["part"] = _labelled_part(fb["text"], seed, plan.val_fraction)
        parts.append(fb)
    out = pd.concat(parts, ignore_index=True)[["text", "label", "language", "part", "source"]]
    test_texts = set(out.loc[out.part == "test", "text"])
    banned = test_texts | set(exclude_texts or ())
    leak = out.part.ne("test") & out.text.isin(banned)
    return out[~leak].reset_index(drop=True)


def crm_distillation_texts(n: int, seed: int) -> list[str]:
    """``n`` distinct synthetic CRM feedback texts (unlabelled, for distillation)."""
    if n <= 0:
        return []
    from custsat.data.synth import generate_crm

    texts: list[str] = []
    customers = max(200, n)
    while len(texts) < n and customers < 50 * n:
        fb = generate_crm(customers, seed=seed + 1).tables["feedback"]
        texts = list(dict.fromkeys(t for t in fb["text"].astype(str) if t.strip()))
        customers *= 2
    return texts[:n]


@dataclass
class RunClock:
    """Wall-clock seconds per part of the run, and what is left of ``max_minutes``."""

    max_minutes: float | None = None
    parts: dict = field(default_factory=dict)

    def __post_init__(self):
        self._t0 = self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] = round(self.parts.get(name, 0.0) + now - self._mark, 2)
        self._mark = now

    def minutes_left(self) -> float | None:
        if not self.max_minutes:
            return None
        # a spent budget still gives a positive limit: the next loop stops before its first step
        return max(1e-9, self.max_minutes - (time.perf_counter() - self._t0) / 60.0)

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self._t0, 2)


def evaluate_polarity(proba: np.ndarray, test: pd.DataFrame) -> dict:
    """Binary metrics per language of ``proba`` (rows of ``test``)."""
    out = {}
    for lang in LANGUAGES:
        m = (test.language == lang).to_numpy()
        if m.any():
            out[lang] = polarity_metrics(test.label.to_numpy()[m], proba[m])
    return out


def train_sentiment(fast: bool = False, plan: SentimentTrainPlan | None = None, *, seed: int | None = None,
                    threads: int | None = None, feedback: pd.DataFrame | None = None,
                    labelled: pd.DataFrame | str | Path | None = None, reviews_zh: pd.DataFrame | None = None,
                    reviews_en: pd.DataFrame | None = None, three_class_eval: pd.DataFrame | None = None,
                    topic_eval: pd.DataFrame | None = None, crm_texts: list[str] | None = None,
                    register: bool = True, force: bool = False, out_dir: str | Path | None = None,
                    progress: bool = True) -> dict:
    """Run the whole sentiment training (see the module doc) and return its summary.

    ``seed``/``threads`` default to ``settings.seed`` / ``settings.text_thread_count``;
    ``three_class_eval`` defaults to ``data/labels/sentiment_3class_eval.csv`` when it exists,
    ``topic_eval`` to ``data/labels/topics_eval.csv`` (used to report the student's topic F1).
    """
    from custsat.config import get_settings
    from custsat.models.text.encoder import set_threads
    from custsat.models.text.training import quiet_libraries

    settings = get_settings()
    plan = plan or (SentimentTrainPlan.fast() if fast else SentimentTrainPlan())
    seed = settings.seed if seed is None else seed
    plan.config.seed = plan.student_config.seed = seed
    clock = RunClock(plan.max_minutes)
    with quiet_libraries():
        set_threads(threads or settings.text_thread_count)
        labelled = _three_class_train(labelled)
        if three_class_eval is None:
            three_class_eval = _default_three_class_eval()
        if topic_eval is None:
            topic_eval = _default_topic_eval()
        held_apart = set(three_class_eval["text"]) if three_class_eval is not None else set()
        if topic_eval is not None:
            held_apart |= set(topic_eval["text"])
        data = prepare_sentiment_data(plan, seed, reviews_zh, reviews_en, feedback, labelled, held_apart)
        crm = crm_distillation_texts(plan.crm_texts, seed) if crm_texts is None and plan.student else (crm_texts or [])
        crm = [t for t in crm if t not in held_apart]
        clock.lap("prepare_data")
        run = _SentimentRun(plan, data, crm, three_class_eval, topic_eval, clock, progress, seed)
        summary = run.execute(settings.models_dir if out_dir is None else Path(out_dir))
        if register:
            from custsat.models.text.register_sentiment import register_run

            summary["registry"] = register_run(run, summary, force=force, fast=fast)
            clock.lap("register")
    summary["seconds"] = dict(clock.parts, total=clock.total)
    return summary


def _three_class_train(labelled) -> pd.DataFrame | None:
    """The hand-labelled 3-class training sample: a frame, a file, or the default file when present."""
    from custsat.models.text.evaluation import (
        THREE_CLASS_TRAIN,
        default_label_path,
        read_three_class_labels,
    )

    if isinstance(labelled, pd.DataFrame):
        return labelled
    path = Path(labelled) if labelled is not None else default_label_path(THREE_CLASS_TRAIN)
    if labelled is None and not path.exists():
        return None
    return read_three_class_labels(path)


def _default_three_class_eval() -> pd.DataFrame | None:
    from custsat.models.text.evaluation import (
        THREE_CLASS_EVAL,
        default_label_path,
        read_three_class_labels,
    )

    path = default_label_path(THREE_CLASS_EVAL)
    return read_three_class_labels(path) if path.exists() else None


def _default_topic_eval() -> pd.DataFrame | None:
    from custsat.data.io import read_table
    from custsat.models.text.topics import load_taxonomy, parse_topic_labels
    from custsat.models.text.train_topics import default_eval_path

    path = default_eval_path()
    if not path.exists():
        return None
    try:
        return parse_topic_labels(read_table(path), load_taxonomy(), source=str(path))
    except ValueError:  # a custom taxonomy without the default sample's ids
        return None


class _SentimentRun:
    """The parts of one training run and what they produced (models, outputs, metrics)."""

    def __init__(self, plan, data, crm, three_class_eval, topic_eval, clock, progress, seed):
        self.plan, self.data, self.crm = plan, data, crm
        self.three_class_eval, self.topic_eval = three_class_eval, topic_eval
        self.clock, self.progress, self.seed = clock, progress, seed
        self.baselines: dict = {}
        self.model_dirs: dict = {}

    def part(self, name):
        return self.data[self.data.part == name]

    def execute(self, models_dir: Path) -> dict:
        from custsat.models.text.encoder import TextEncoder
        from custsat.models.text.joint import JointEncoder

        plan, tr, va, te = self.plan, self.part("train"), self.part("val"), self.part("test")
        cfg = plan.config
        cfg.max_minutes = self.clock.minutes_left()
        three = tr[tr.source.isin(["labels", "feedback"])]
        has_neutral = bool((three.label == "neutral").any())
        self.teacher = SentimentClassifier(cfg).fit(
            tr.text.tolist(), tr.label.tolist(), va.text.tolist(), va.label.tolist(), progress=self.progress,
            neutral_texts=three.text.tolist() if has_neutral else None,
            neutral_labels=three.label.tolist() if has_neutral else None)
        self.clock.lap("teacher_fit")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.model_dirs["teacher"] = self.teacher.save(models_dir / "sentiment" / stamp)
        self.teacher = SentimentClassifier.load(self.model_dirs["teacher"])  # dropout off, path_ for ONNX later

        # one pass for everything the teacher and the base encoder have to say
        base = TextEncoder(cfg.base_model, max_len=cfg.max_len).load()
        self.base_encoder = base
        texts = list(dict.fromkeys(self.data.text.tolist() + self.crm + self._eval_texts()))
        je = JointEncoder(self.teacher, base.model_, batch_size=cfg.infer_batch_size).load()
        logits, emb, _ = je.forward_texts(texts, progress=self.progress)
        self.row = {t: i for i, t in enumerate(texts)}
        self.teacher_logits, self.base_emb = logits, emb
        self.clock.lap("teacher_joint_pass")

        metrics = {"teacher": self._score(self.teacher.proba_from_logits(self._rows(logits, te.text)), te,
                                          self._three_class_proba(self.teacher.proba_from_logits, logits))}
        self._fit_baselines(tr, va, te, cfg, metrics)
        self.clock.lap("baselines")
        summary = {"plan": _plan_dict(plan), "n_rows": {f"{k[0]}_{k[1]}": int(v) for k, v in
                                                         self.data.groupby(["language", "part"]).size().items()},
                   "n_crm_texts": len(self.crm), "metrics": metrics,
                   "training": {"teacher": self.teacher.training_}, "neutral_mode": self.teacher.neutral_mode_,
                   "calibration": {"teacher": _calibration(self.teacher)}}
        if self.topic_eval is not None:
            summary["topics_micro_f1"] = {"teacher": self._topic_f1(self._rows(emb, self.topic_eval.text))}
        if plan.student:
            self._distil(tr, va, te, metrics, summary)
            self.model_dirs["student"] = self.student.save(models_dir / "sentiment-fast" / stamp)
        summary["complete"] = bool(self.teacher.complete_ and (not plan.student or self.student.complete_))
        summary["model_dirs"] = {k: str(v) for k, v in self.model_dirs.items()}
        summary["heldout_fingerprint"] = heldout_fingerprint(te)
        return summary

    # ------------------------------------------------------------------ parts
    def _eval_texts(self) -> list[str]:
        out = []
        if self.three_class_eval is not None:
            out += self.three_class_eval.text.tolist()
        if self.topic_eval is not None:
            out += self.topic_eval.text.tolist()
        return out

    def _rows(self, arr: np.ndarray, texts) -> np.ndarray:
        return arr[[self.row[t] for t in texts]]

    def _three_class_proba(self, to_proba, logits) -> np.ndarray | None:
        if self.three_class_eval is None:
            return None
        return to_proba(self._rows(logits, self.three_class_eval.text))

    def _score(self, proba: np.ndarray, test: pd.DataFrame, proba3: np.ndarray | None) -> dict:
        out = evaluate_polarity(proba, test)
        if proba3 is not None:
            ev = self.three_class_eval
            out["three_class"] = three_class_metrics(ev.sentiment.to_numpy(), proba3)
            for lang in LANGUAGES:
                m = (ev.language == lang).to_numpy()
                if m.any():
                    out["three_class"][lang] = three_class_metrics(ev.sentiment.to_numpy()[m], proba3[m])
        return out

    def _fit_baselines(self, tr, va, te, cfg, metrics) -> None:
        from custsat.models.text.baselines import EmbeddingProbe, TfidfSentiment

        fit_rows = pd.concat([tr, va])
        tfidf = TfidfSentiment().fit(fit_rows.text.tolist(), fit_rows.label.tolist(), fit_rows.language.tolist())
        probe = EmbeddingProbe(base_model=cfg.base_model, max_len=cfg.max_len).fit(
            self._rows(self.base_emb, fit_rows.text), fit_rows.label.tolist(), fit_rows.language.tolist())
        self.baselines = {"tfidf_lr": tfidf, "frozen_probe": probe}
        ev = self.three_class_eval
        metrics["tfidf_lr"] = self._score(
            tfidf.predict_proba(te.text.tolist(), te.language.tolist()), te,
            tfidf.predict_proba(ev.text.tolist(), ev.language.tolist()) if ev is not None else None)
        metrics["frozen_probe"] = self._score(
            probe.predict_proba_embeddings(self._rows(self.base_emb, te.text), te.language.tolist()), te,
            probe.predict_proba_embeddings(self._rows(self.base_emb, ev.text), ev.language.tolist())
            if ev is not None else None)

    def _distil(self, tr, va, te, metrics, summary) -> None:
        sc = self.plan.student_config
        sc.max_minutes = self.clock.minutes_left()
        texts = tr.text.tolist() + [t for t in self.crm if t not in set(tr.text)]
        labels = tr.label.tolist() + [None] * (len(texts) - len(tr))
        self.student = StudentClassifier(sc).fit(
            self.teacher, texts, self._rows(self.teacher_logits, texts), self._rows(self.base_emb, texts), labels,
            va.text.tolist(), va.label.tolist(), progress=self.progress)
        if not self.teacher.complete_:
            self.student.complete_ = False  # distilled from a teacher that was cut short
        self.clock.lap("student_fit")
        eval_texts = list(dict.fromkeys(te.text.tolist() + self._eval_texts()))
        logits, emb, _ = self.student.forward_texts(eval_texts, progress=self.progress)  # as served (fp32 unless the plan says int8)
        row = {t: i for i, t in enumerate(eval_texts)}
        pick = lambda arr, ts: arr[[row[t] for t in ts]]  # noqa: E731
        proba3 = (self.student.proba_from_logits(pick(logits, self.three_class_eval.text))
                  if self.three_class_eval is not None else None)
        metrics["student"] = self._score(self.student.proba_from_logits(pick(logits, te.text)), te, proba3)
        summary["training"]["student"] = self.student.training_
        summary["calibration"]["student"] = _calibration(self.student)
        if self.topic_eval is not None:
            summary["topics_micro_f1"]["student"] = self._topic_f1(pick(emb, self.topic_eval.text))
        self.clock.lap("student_eval")

    def _topic_f1(self, embeddings: np.ndarray) -> float:
        """Topic micro-F1 on the labelled sample, with the serving topic model and these embeddings."""
        from custsat.models.text.classify import resolve_topic_model
        from custsat.models.text.topics import multilabel_scores

        if getattr(self, "topic_model", None) is None:
            self.topic_model = resolve_topic_model(None)
        tm, ev = self.topic_model, self.topic_eval
        if not tm.uses_embeddings:
            embeddings = None
        pred = tm.decide(tm.predict_proba(ev.text.tolist(), embeddings=embeddings))
        return round(multilabel_scores(ev.topics.tolist(), pred, tm.tax_.ids)["micro_f1"], 4)


def heldout_fingerprint(test: pd.DataFrame) -> str:
    from custsat.tracking import fingerprint_frames

    return fingerprint_frames(test[["text", "label", "language"]].reset_index(drop=True))


def _calibration(model) -> dict:
    return {"temperature": model.temperature_, "band": model.band_, "neutral_bias": model.neutral_bias_}


def _plan_dict(plan: SentimentTrainPlan) -> dict:
    d = asdict(plan)
    d["student_config"]["layers"] = list(plan.student_config.layers)
    return d
