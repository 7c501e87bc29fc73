"""Fit, evaluate, log and register the topic model (``custsat train topics``).

Evaluation data: the hand-labelled sample ``data/labels/topics_eval.csv`` (225 real reviews,
150 zh + 75 en, from the *test* splits; seeds come from the train splits). Texts that also
appear in the training labels are removed from the evaluation (leakage guard). In supervised
mode the labels are additionally scored by 5-fold cross-validation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.text.topics import (
    TopicModel,
    load_taxonomy,
    multilabel_scores,
    parse_topic_labels,
)

MODEL_NAME = "custsat-topics"


def default_eval_path() -> Path:
    from custsat.config import get_settings

    return get_settings().data_path / "labels" / "topics_eval.csv"


def choose_mode(labels: pd.DataFrame | None, n_topics: int, min_per_topic: int = 15) -> str:
    """'bootstrap' without labels or with few (few-shot), 'supervised' with >= min_per_topic per topic."""
    if labels is None or labels.empty:
        return "bootstrap"
    counts = pd.Series([t for ts in labels["topics"] for t in ts]).value_counts()
    return "supervised" if len(counts) == n_topics and counts.min() >= min_per_topic else "bootstrap"


def evaluate_topics(model: TopicModel, eval_df: pd.DataFrame, language: np.ndarray | None = None) -> dict:
    """Micro/macro F1 overall and per language of ``model`` on a labelled frame [text, topics(list)]."""
    proba = model.predict_proba(eval_df["text"].tolist(), embeddings=model.embed(eval_df["text"].tolist()))
    pred = model.decide(proba)
    res = {"all": multilabel_scores(eval_df["topics"].tolist(), pred, model.tax_.ids)}
    if language is not None:
        for lang in ("zh", "en"):
            m = language == lang
            if m.any():
                res[lang] = multilabel_scores([t for t, k in zip(eval_df["topics"], m, strict=True) if k],
                                              [p for p, k in zip(pred, m, strict=True) if k], model.tax_.ids)
    return res


def train_topics(labels: pd.DataFrame | str | Path | None = None, taxonomy: str | Path | None = None,
                 mode: str = "auto", eval_labels: str | Path | None = None, register: bool = True,
                 base_model: str | None = None, out_dir: str | Path | None = None) -> dict:
    """Fit the topic model (bootstrap / few-shot / supervised), evaluate, log to MLflow, register.

    ``labels``: table or file with columns text + topics (semicolon-joined ids; one id = single-label).
    Returns a summary with the evaluation scores, mode, model dir and registry version.
    """
    import time

    from custsat.config import get_settings
    from custsat.data.io import read_table

    settings = get_settings()
    tax = load_taxonomy(taxonomy)
    lab = None
    if labels is not None:
        raw = read_table(labels) if isinstance(labels, str | Path) else labels
        lab = parse_topic_labels(raw, tax, source=str(labels) if isinstance(labels, str | Path) else "labels")
    mode = choose_mode(lab, len(tax.ids)) if mode == "auto" else mode
    t0 = time.perf_counter()
    model = TopicModel(taxonomy=tax, base_model=base_model, mode=mode).fit(lab)
    fit_s = time.perf_counter() - t0
    summary: dict = {"mode": mode, "n_labels": 0 if lab is None else len(lab), "fit_seconds": fit_s,
                     "topics": tax.ids, "fewshot": bool(mode == "bootstrap" and lab is not None)}
    eval_path = Path(eval_labels) if eval_labels else default_eval_path()
    if eval_path.exists():
        ev_raw = read_table(eval_path)
        try:
            ev = parse_topic_labels(ev_raw, tax, source=str(eval_path))
            lang = ev_raw.loc[ev_raw["text"].fillna("").astype(str).str.strip().ne(""), "language"].to_numpy() \
                if "language" in ev_raw.columns else None
            if lab is not None:
                overlap = ev["text"].isin(set(lab["text"]))
                summary["eval_rows_dropped_overlap"] = int(overlap.sum())
                ev = ev[~overlap].reset_index(drop=True)
                lang = lang[~overlap.to_numpy()] if lang is not None else None
            if len(ev):
                summary["eval"] = evaluate_topics(model, ev, lang)
                summary["eval_file"] = str(eval_path)
        except Exception as exc:  # custom taxonomy without matching ids: skip the default sample
            summary["eval_skipped"] = f"{type(exc).__name__}: {exc}"
    if mode == "supervised" and lab is not None and len(lab) >= 50:
        summary["cv"] = _cross_validate(lab, tax, base_model)
    out_dir = Path(out_dir) if out_dir else settings.models_dir / "topics" / time.strftime("%Y%m%d-%H%M%S")
    model.save(out_dir)
    summary["model_dir"] = str(out_dir)
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if register:
        summary.update(_log_and_register(model, out_dir, summary, lab, taxonomy))
    return summary


def _cross_validate(lab: pd.DataFrame, tax, base_model, k: int = 5) -> dict:
    from custsat.config import get_settings

    rng = np.random.default_rng(get_settings().seed)
    fold = rng.integers(0, k, len(lab))
    base = TopicModel(taxonomy=tax, base_model=base_model, mode="supervised")
    emb = base._encoder().embed(lab["text"].tolist())
    true, pred = [], []
    for f in range(k):
        tr, te = fold != f, fold == f
        if te.sum() == 0 or tr.sum() < 10:
            continue
        m = TopicModel(taxonomy=tax, base_model=base_model, mode="supervised")
        m.encoder_ = base.encoder_
        m.fit(lab[tr].reset_index(drop=True), embeddings=emb[tr])
        p = m.predict_proba(lab[te]["text"].tolist(), embeddings=emb[te])
        true += lab[te]["topics"].tolist()
        pred += m.decide(p)
    return multilabel_scores(true, pred, tax.ids)


def _log_and_register(model: TopicModel, out_dir: Path, summary: dict, lab, taxonomy) -> dict:
    import mlflow

    from custsat import tracking
    from custsat.models.text.pyfunc import TopicPyfunc
    from custsat.models.text.train_sentiment import _champion_score

    fp = tracking.fingerprint_frames(lab.assign(topics=lab["topics"].map(";".join))) if lab is not None else "seeds-only"
    params = {"mode": model.mode, "threshold": model.threshold, "top1_floor": model.top1_floor, "C": model.C,
              "n_labels": summary["n_labels"], "taxonomy": str(taxonomy or "default"), "max_len": model.max_len}
    with tracking.start_run("topics", run_name=f"topics-{model.mode}", data_fingerprint=fp, params=params) as run:
        metrics = {"fit_seconds": summary["fit_seconds"]}
        for part, res in (summary.get("eval") or {}).items():
            metrics[f"eval_{part}_micro_f1"] = res["micro_f1"]
            metrics[f"eval_{part}_macro_f1"] = res["macro_f1"]
        if "cv" in summary:
            metrics["cv_micro_f1"], metrics["cv_macro_f1"] = summary["cv"]["micro_f1"], summary["cv"]["macro_f1"]
        mlflow.log_metrics(metrics)
        mlflow.log_dict(summary, "metrics/topic_summary.json")
        uri = tracking.log_pyfunc_model(TopicPyfunc(), name="model", artifacts={"topics": str(out_dir)},
                                        input_example=pd.DataFrame({"text": ["物流很快，包装完好", "Rude staff."]}))
        version = tracking.register_model(uri, MODEL_NAME)
        ev = (summary.get("eval") or {}).get("all")
        score = (float(ev["micro_f1"]) if ev else 0.0, float(ev["macro_f1"]) if ev else 0.0)
        client = mlflow.MlflowClient()
        client.set_model_version_tag(MODEL_NAME, version, "selection_score", json.dumps(list(score)))
        decision = tracking.promote(MODEL_NAME, version, candidate_score=score,
                                    champion_score=_champion_score(client, MODEL_NAME))
        return {"model_uri": uri, "version": version, "decision": decision, "run_id": run.info.run_id}


def fewshot_experiment(eval_labels: str | Path | None = None, ks: tuple[int, ...] = (1, 3, 5),
                       base_model: str | None = None) -> dict:
    """Does a handful of labelled examples per topic help? Split the labelled sample 50/50 by a
    seeded hash of the text: half A is the pool of few-shot labels (k per topic, greedy), half B is
    scored by the zero-label bootstrap, the few-shot bootstraps and a supervised model fitted on all of A.
    """
    import hashlib

    from custsat.config import get_settings
    from custsat.data.io import read_table

    tax = load_taxonomy()
    path = Path(eval_labels) if eval_labels else default_eval_path()
    raw = read_table(path)
    ev = parse_topic_labels(raw, tax, source=str(path))
    lang = raw.loc[raw["text"].fillna("").astype(str).str.strip().ne(""), "language"].to_numpy()
    seed = get_settings().seed
    in_a = ev["text"].map(lambda t: hashlib.sha256(f"{seed}:{t}".encode()).digest()[0] < 128).to_numpy()
    pool, test, lang_b = ev[in_a].reset_index(drop=True), ev[~in_a].reset_index(drop=True), lang[~in_a]
    base = TopicModel(base_model=base_model)
    base._encoder().memo_ = {}  # every text is embedded once across the fits below
    base.fit()
    res = {"n_pool": int(len(pool)), "n_test": int(len(test)), "bootstrap": evaluate_topics(base, test, lang_b)}
    for k in ks:
        chosen: list[int] = []
        for t in tax.ids:
            rows = [i for i, ts in enumerate(pool["topics"]) if t in ts and i not in chosen][:k]
            chosen += rows
        m = TopicModel(base_model=base_model)
        m.encoder_ = base.encoder_
        m.fit(pool.iloc[sorted(chosen)].reset_index(drop=True))
        res[f"fewshot_k{k}"] = evaluate_topics(m, test, lang_b)
        res[f"fewshot_k{k}"]["n_labels"] = len(chosen)
    sup = TopicModel(base_model=base_model, mode="supervised")
    sup.encoder_ = base.encoder_
    sup.fit(pool)
    res["supervised_on_pool"] = evaluate_topics(sup, test, lang_b)
    return res
