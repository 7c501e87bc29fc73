"""Train, evaluate, log and register the sentiment model (``custsat train sentiment``).

Data (real): Chinese reviews ``load_reviews_zh()`` (binary; the fetch step holds out 20 % by
unique text as ``split == 'test'``) and English reviews ``load_reviews_en()`` (the given
1,000-row test split; ``positive`` = 5 stars "great", ``negative`` = other). Optional user
feedback adds weak labels (``sentiment`` column, or ``rating`` 1-2/3/4-5). Validation = 10 %
of each training split chosen by a seeded hash of the text (stable, no text in two splits).

Baselines fitted on the same training rows and scored on the same test rows: TF-IDF (char
1-3-grams for zh, word 1-2-grams for en) + logistic regression; logistic regression on frozen
base-model embeddings (the "probe", on a subsample of at most ``probe_max_train`` rows).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.text.sentiment import (
    LABELS,
    SentimentClassifier,
    SentimentConfig,
    ratings_to_labels,
)

MODEL_NAME = "custsat-sentiment"


@dataclass
class SentimentTrainPlan:
    """How much data a run uses. ``None`` = all rows."""

    # all real training rows (zh ~11.2k, en ~3.6k after validation); the fine-tune's time budget
    # (SentimentConfig.time_budget_s) decides how many of them one run gets through
    max_train_zh: int | None = None
    max_train_en: int | None = None
    max_test_zh: int | None = None
    max_test_en: int | None = None
    probe_max_train: int = 3000
    val_fraction: float = 0.1
    config: SentimentConfig = field(default_factory=SentimentConfig)

    @classmethod
    def fast(cls) -> SentimentTrainPlan:
        """CI-size run (about a minute on 2 cores with the real base model)."""
        return cls(max_train_zh=400, max_train_en=200, max_test_zh=300, max_test_en=200, probe_max_train=400,
                   config=SentimentConfig(max_len=64, time_budget_s=90))


def _hash_unit(text: str, seed: int, salt: str = "val") -> float:
    h = hashlib.sha256(f"{salt}:{seed}:{text}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    return df.sample(n=n, random_state=seed).sort_index()


def prepare_sentiment_data(plan: SentimentTrainPlan, seed: int, reviews_zh: pd.DataFrame | None = None,
                           reviews_en: pd.DataFrame | None = None, feedback: pd.DataFrame | None = None
                           ) -> pd.DataFrame:
    """One frame: text, label, language, part ('train'/'val'/'test'), source."""
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
        train = train[~train["text"].isin(set(test["text"]))]  # leakage guard
        is_val = train["text"].map(lambda t: _hash_unit(t, seed) < plan.val_fraction)
        val, train = train[is_val], _sample(train[~is_val], ntr, seed)
        if ntr is not None:
            val = _sample(val, max(50, ntr // 8), seed)
        parts += [train.assign(part="train"), val.assign(part="val"), test.assign(part="test")]
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

        fb["language"] = fb["text"].map(lambda t: detect_language(t) or "unknown")
        fb["source"], fb["split"] = "feedback", "train"
        fb["part"] = np.where(fb["text"].map(lambda t: _hash_unit(t, seed) < plan.val_fraction), "val", "train")
        parts.append(fb)
    out = pd.concat(parts, ignore_index=True)
    return out[["text", "label", "language", "part", "source"]]


def binary_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy / macro-F1 of positive-vs-negative (p_pos >= p_neg) plus a 2x3 confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    yb = (np.asarray(y_true) == "positive").astype(int)
    pb = (proba[:, 2] >= proba[:, 0]).astype(int)
    pred3 = np.array(LABELS)[proba.argmax(1)]
    cm3 = pd.crosstab(pd.Series(np.asarray(y_true), name="true"), pd.Series(pred3, name="pred")).reindex(
        index=["negative", "positive"], columns=list(LABELS), fill_value=0)
    decided = pred3 != "neutral"
    return {
        "accuracy": float(accuracy_score(yb, pb)),
        "macro_f1": float(f1_score(yb, pb, average="macro")),
        "confusion_binary": confusion_matrix(yb, pb, labels=[0, 1]).tolist(),
        "confusion_3way": cm3.values.tolist(),
        "neutral_share": float(1 - decided.mean()),
        "accuracy_outside_neutral": float((pb[decided] == yb[decided]).mean()) if decided.any() else float("nan"),
        "n": int(len(yb)),
    }


def run_baselines(data: pd.DataFrame, seed: int, probe_max_train: int, base_model: str | None,
                  max_len: int) -> dict:
    """TF-IDF + LR and frozen-embedding probe, per language; returns {name: {lang: metrics}}."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from custsat.models.text.encoder import TextEncoder

    res: dict = {"tfidf_lr": {}, "frozen_probe": {}}
    enc = TextEncoder(base_model, max_len=max_len).load()
    for lang in ("zh", "en"):
        tr = data[(data.language == lang) & (data.part.isin(["train", "val"]))]
        te = data[(data.language == lang) & (data.part == "test")]
        if tr.empty or te.empty:
            continue
        vec = (TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True) if lang == "zh"
               else TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True))
        xtr, xte = vec.fit_transform(tr.text), vec.transform(te.text)
        lr = LogisticRegression(C=4.0, max_iter=3000).fit(xtr, tr.label)
        p = lr.predict_proba(xte)[:, list(lr.classes_).index("positive")]
        res["tfidf_lr"][lang] = binary_metrics(te.label.to_numpy(), np.stack([1 - p, 0 * p, p], 1))
        share = sum(data.language.isin(["zh", "en"]) & data.part.isin(["train", "val"]))
        n_probe = max(50, int(probe_max_train * len(tr) / max(1, share)))
        trs = tr.sample(n=min(len(tr), n_probe), random_state=seed)
        etr, ete = enc.embed(trs.text.tolist()), enc.embed(te.text.tolist())
        lr = LogisticRegression(C=10.0, max_iter=3000).fit(etr, trs.label)
        p = lr.predict_proba(ete)[:, list(lr.classes_).index("positive")]
        res["frozen_probe"][lang] = binary_metrics(te.label.to_numpy(), np.stack([1 - p, 0 * p, p], 1))
        res["frozen_probe"][lang]["n_train"] = int(len(trs))
    return res


def _champion_score(client, name: str) -> tuple | None:
    from custsat.tracking import champion_version

    v = champion_version(name)
    if v is None:
        return None
    mv = client.get_model_version(name, v)
    tags = mv.tags or {}
    if "selection_score" in tags:
        return tuple(json.loads(tags["selection_score"]))
    return None


def train_sentiment(fast: bool = False, plan: SentimentTrainPlan | None = None, feedback: pd.DataFrame | None = None,
                    reviews_zh: pd.DataFrame | None = None, reviews_en: pd.DataFrame | None = None,
                    register: bool = True, run_baseline: bool = True, out_dir: str | Path | None = None,
                    progress: bool = True, log_steps: bool = False) -> dict:
    """Fine-tune, evaluate against baselines, log to MLflow and register ``custsat-sentiment``.

    Returns a summary dict (metrics per language and model, timings, model uri/version).
    Total wall time of the default plan is kept under 20 minutes on 2 cores by a time budget
    on the fine-tuning loop (``SentimentConfig.time_budget_s``) and data subsampling.
    """
    from custsat.config import get_settings

    t_start = time.perf_counter()
    c_start = time.process_time()
    settings = get_settings()
    plan = plan or (SentimentTrainPlan.fast() if fast else SentimentTrainPlan())
    seed = plan.config.seed if plan.config.seed is not None else settings.seed
    plan.config.seed = seed
    data = prepare_sentiment_data(plan, seed, reviews_zh, reviews_en, feedback)
    tr, va = (data[data.part == p] for p in ("train", "val"))
    clf = SentimentClassifier(plan.config).fit(tr.text.tolist(), tr.label.tolist(), va.text.tolist(),
                                               va.label.tolist(), progress=progress, progress_log=log_steps)
    out_dir = Path(out_dir) if out_dir else settings.models_dir / "sentiment" / time.strftime("%Y%m%d-%H%M%S")
    clf.save(out_dir)
    return evaluate_and_register(clf, out_dir, data, plan, fast=fast, register=register, run_baseline=run_baseline,
                                 progress=progress, t_start=t_start, c_start=c_start)


def evaluate_and_register(clf: SentimentClassifier, out_dir: str | Path, data: pd.DataFrame, plan: SentimentTrainPlan,
                          fast: bool = False, register: bool = True, run_baseline: bool = True, progress: bool = True,
                          t_start: float | None = None, c_start: float | None = None) -> dict:
    """Score a fitted (or re-loaded) classifier on ``data``'s test part next to the baselines, write
    ``train_summary.json`` into ``out_dir`` and (optionally) log + register it in MLflow.

    ``data`` must come from :func:`prepare_sentiment_data` with the plan used for training (the
    same seed gives the same train/validation/test rows).
    """
    from custsat.privacy import mask_pii

    out_dir = Path(out_dir)
    t_start = time.perf_counter() if t_start is None else t_start
    c_start = time.process_time() if c_start is None else c_start
    te = data[data.part == "test"]
    t_eval0 = time.perf_counter()
    logits, _, trunc = clf.forward_texts(te.text.tolist(), progress=progress)
    proba = clf.proba_from_logits(logits)
    t_eval = time.perf_counter() - t_eval0
    metrics: dict = {"model": {}}
    errors = []
    for lang in ("zh", "en"):
        m = (te.language == lang).to_numpy()
        if not m.any():
            continue
        metrics["model"][lang] = binary_metrics(te.label.to_numpy()[m], proba[m])
        pred = np.where(proba[m, 2] >= proba[m, 0], "positive", "negative")
        wrong = np.flatnonzero(pred != te.label.to_numpy()[m])[:40]
        sub = te[m].iloc[wrong]
        errors.append(pd.DataFrame({"language": lang, "text": sub.text.map(lambda t: mask_pii(t)[:300]),
                                    "label": sub.label, "p_positive": proba[m][wrong, 2]}))
    t_base = 0.0
    if run_baseline:
        t_b = time.perf_counter()
        metrics.update(run_baselines(data, plan.config.seed or 0, plan.probe_max_train, plan.config.base_model,
                                     plan.config.max_len))
        t_base = time.perf_counter() - t_b
    summary = {
        "metrics": metrics, "fit_seconds": clf.train_seconds_, "test_predict_seconds": t_eval,
        "baseline_seconds": t_base, "total_seconds": time.perf_counter() - t_start,
        "total_cpu_seconds": time.process_time() - c_start,
        "fit_cpu_seconds": getattr(clf, "train_cpu_seconds_", None), "train_steps": clf.train_steps_,
        "planned_steps": getattr(clf, "planned_steps_", None), "scheduled_steps": getattr(clf, "scheduled_steps_", None),
        "stopped_by_budget": getattr(clf, "stopped_by_budget_", None),
        "examples_seen": getattr(clf, "train_examples_seen_", None),
        "neutral_mode": clf.neutral_mode_, "temperature": clf.temperature_, "band": clf.band_,
        "n_rows": {f"{k[0]}_{k[1]}": int(v) for k, v in data.groupby(["language", "part"]).size().items()},
        "model_dir": str(out_dir), "truncated_test_share": float(np.mean(trunc)) if len(trunc) else 0.0,
        "fast": bool(fast),
    }
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if register:
        summary.update(_log_and_register(clf, out_dir, summary, data, errors, plan, fast))
    return summary


def _log_and_register(clf, out_dir: Path, summary: dict, data: pd.DataFrame, errors: list, plan, fast: bool) -> dict:
    import mlflow

    from custsat import tracking
    from custsat.models.text.pyfunc import SentimentPyfunc

    params = {f"cfg_{k}": v for k, v in asdict(plan.config).items() if k != "extra"}
    params.update({"max_train_zh": plan.max_train_zh, "max_train_en": plan.max_train_en, "fast": fast,
                   "probe_max_train": plan.probe_max_train, "neutral_mode": clf.neutral_mode_})
    fp = tracking.fingerprint_frames(data[["text", "label", "part"]])
    with tracking.start_run("sentiment", run_name="sentiment-fast" if fast else "sentiment", data_fingerprint=fp,
                            params=params) as run:
        flat = {}
        for model_name, per_lang in summary["metrics"].items():
            for lang, m in per_lang.items():
                for k in ("accuracy", "macro_f1", "neutral_share", "accuracy_outside_neutral"):
                    if k in m and m[k] == m[k]:
                        flat[f"{model_name}_{lang}_{k}"] = m[k]
        for k in ("fit_seconds", "test_predict_seconds", "baseline_seconds", "total_seconds", "temperature", "band",
                  "total_cpu_seconds", "fit_cpu_seconds",
                  "train_steps", "examples_seen", "truncated_test_share"):
            flat[k] = float(summary[k])
        mlflow.log_metrics(flat)
        mlflow.log_dict(summary["metrics"], "metrics/confusion_and_metrics.json")
        mlflow.log_dict({"train_log": clf.train_log_}, "metrics/train_log.json")
        if errors:
            err = pd.concat(errors, ignore_index=True)
            mlflow.log_text(err.to_csv(index=False), "errors/sample_errors_pii_masked.csv")
        uri = tracking.log_pyfunc_model(
            SentimentPyfunc(), name="model", artifacts={"sentiment": str(out_dir)},
            input_example=pd.DataFrame({"text": ["物流很快，质量不错", "Terrible, it broke after a day."]}),
        )
        version = tracking.register_model(uri, MODEL_NAME)
        accs = [m["accuracy"] for m in summary["metrics"]["model"].values()]
        score = (0 if fast else 1, float(np.mean(accs)))
        client = mlflow.MlflowClient()
        client.set_model_version_tag(MODEL_NAME, version, "selection_score", json.dumps(list(score)))
        decision = tracking.promote(MODEL_NAME, version, candidate_score=score,
                                    champion_score=_champion_score(client, MODEL_NAME))
        return {"model_uri": uri, "version": version, "decision": decision, "run_id": run.info.run_id}
