"""Fit, evaluate, gate and register the topic model (``custsat train topics``).

Evaluation data: the hand-labelled sample ``data/labels/topics_eval.csv`` (225 real reviews,
150 zh + 75 en, from the *test* splits; seeds come from the train splits). Texts that also
appear in the training labels are removed from the evaluation (leakage guard). In supervised
mode the labels are additionally scored by 5-fold cross-validation.

Gate (:mod:`custsat.models.registry`): the new version becomes the ``custsat-topics`` champion
only if its micro-F1 on the evaluation sample beats the keyword-only baseline
(``TopicModel(mode="keywords")``) and the current champion on the same sample; otherwise it is a
``challenger``, the reasons recorded. Without an evaluation sample there is nothing to compare
and the version stays a challenger unless ``force``. When the model loses and there is no
champion yet, the keyword-only model is registered and serves as the champion.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.registry import TOPIC_MODEL
from custsat.models.text.topics import (
    TopicModel,
    load_taxonomy,
    multilabel_scores,
    parse_topic_labels,
)


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
    texts = eval_df["text"].tolist()
    proba = model.predict_proba(texts, embeddings=model.embed(texts) if model.uses_embeddings else None)
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
                 base_model: str | None = None, out_dir: str | Path | None = None, force: bool = False,
                 seed: int | None = None, threads: int | None = None) -> dict:
    """Fit the topic model (bootstrap / few-shot / supervised), evaluate, log to MLflow, register.

    ``labels``: table or file with columns text + topics (semicolon-joined ids; one id = single-label).
    Returns a summary with the evaluation scores, mode, model dir and registry version.
    """
    from custsat.config import get_settings
    from custsat.models.text.encoder import set_threads
    from custsat.models.text.training import quiet_libraries

    settings = get_settings()
    seed = settings.seed if seed is None else seed
    with quiet_libraries():
        set_threads(threads or settings.text_thread_count)
        out_dir = Path(out_dir) if out_dir else settings.models_dir / "topics" / time.strftime("%Y%m%d-%H%M%S")
        return _train_topics(labels, taxonomy, mode, eval_labels, register, base_model, out_dir, force, seed)


def _train_topics(labels, taxonomy, mode, eval_labels, register, base_model, out_dir: Path, force, seed) -> dict:
    from custsat.data.io import read_table

    tax = load_taxonomy(taxonomy)
    eval_frame = None
    lab = None
    if labels is not None:
        raw = read_table(labels) if isinstance(labels, str | Path) else labels
        lab = parse_topic_labels(raw, tax, source=str(labels) if isinstance(labels, str | Path) else "labels")
    mode = choose_mode(lab, len(tax.ids)) if mode == "auto" else mode
    t0 = time.perf_counter()
    model = TopicModel(taxonomy=tax, base_model=base_model, mode=mode, seed=seed).fit(lab)
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
                summary["baseline_eval"] = evaluate_topics(TopicModel(taxonomy=tax, mode="keywords").fit(), ev,
                                                           lang)["all"]
                summary["eval_fingerprint"] = _eval_fingerprint(ev)
                eval_frame = ev
        except Exception as exc:  # custom taxonomy without matching ids: skip the default sample
            summary["eval_skipped"] = f"{type(exc).__name__}: {exc}"
    if mode == "supervised" and lab is not None and len(lab) >= 50:
        summary["cv"] = _cross_validate(lab, tax, base_model, seed)
    model.save(out_dir)
    summary["model_dir"] = str(out_dir)
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if register:
        summary["registry"] = _log_and_register(model, out_dir, summary, lab, taxonomy, force, eval_frame)
    return summary


def _eval_fingerprint(ev: pd.DataFrame) -> str:
    from custsat.tracking import fingerprint_frames

    return fingerprint_frames(pd.DataFrame({"text": ev["text"], "topics": ev["topics"].map(";".join)}))


def _cross_validate(lab: pd.DataFrame, tax, base_model, seed: int, k: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, k, len(lab))
    base = TopicModel(taxonomy=tax, base_model=base_model, mode="supervised", seed=seed)
    emb = base._encoder().embed(lab["text"].tolist())
    true, pred = [], []
    for f in range(k):
        tr, te = fold != f, fold == f
        if te.sum() == 0 or tr.sum() < 10:
            continue
        m = TopicModel(taxonomy=tax, base_model=base_model, mode="supervised", seed=seed)
        m.encoder_ = base.encoder_
        m.fit(lab[tr].reset_index(drop=True), embeddings=emb[tr])
        p = m.predict_proba(lab[te]["text"].tolist(), embeddings=emb[te])
        true += lab[te]["topics"].tolist()
        pred += m.decide(p)
    return multilabel_scores(true, pred, tax.ids)


def _champion_micro_f1(fingerprint: str | None, eval_frame: pd.DataFrame | None):
    """(version, micro-F1) of the current topic champion on this evaluation sample, or None."""
    from custsat import tracking

    version = tracking.champion_version(TOPIC_MODEL)
    if version is None or eval_frame is None:
        return None
    tags = tracking.version_tags(TOPIC_MODEL, version)
    if tags.get("eval_fingerprint") == fingerprint and "eval_micro_f1" in tags:
        return version, float(tags["eval_micro_f1"])
    from custsat.models.text.classify import unwrap_model

    champion = unwrap_model(tracking.load_version(TOPIC_MODEL, version))
    return version, evaluate_topics(champion, eval_frame)["all"]["micro_f1"]


def topic_comparisons(summary: dict, champion) -> list:
    from custsat.models.registry import Comparison

    ev = (summary.get("eval") or {}).get("all")
    if ev is None:
        return []
    out = [Comparison("micro_f1", "keywords_only", ev["micro_f1"], summary["baseline_eval"]["micro_f1"])]
    if champion is not None:
        out.append(Comparison("micro_f1", f"champion v{champion[0]}", ev["micro_f1"], champion[1]))
    return out


def _log_and_register(model: TopicModel, out_dir: Path, summary: dict, lab, taxonomy, force: bool,
                      eval_frame: pd.DataFrame | None) -> dict:
    from custsat import tracking
    from custsat.models.registry import GateDecision, apply_decision, gate
    from custsat.models.text.pyfunc import TopicPyfunc

    fp = tracking.fingerprint_frames(lab.assign(topics=lab["topics"].map(";".join))) if lab is not None else "seeds-only"
    params = {"mode": model.mode, "threshold": model.threshold, "top1_floor": model.top1_floor, "C": model.C,
              "n_labels": summary["n_labels"], "taxonomy": str(taxonomy or "default"), "max_len": model.max_len}
    champion = _champion_micro_f1(summary.get("eval_fingerprint"), eval_frame)
    comparisons = topic_comparisons(summary, champion)
    if comparisons:
        decision = gate(comparisons, force=force)
    else:  # nothing to compare with: never promoted on faith
        decision = GateDecision(tracking.CHAMPION if force else tracking.CHALLENGER, passed=False, forced=force,
                                reasons=("no labelled evaluation sample to compare with",))
    example = pd.DataFrame({"text": ["物流很快，包装完好", "Rude staff."]})
    out = {}
    with tracking.start_run("topics", run_name=f"topics-{model.mode}", data_fingerprint=fp, params=params):
        metrics = {"fit_seconds": summary["fit_seconds"]}
        for part, res in (summary.get("eval") or {}).items():
            metrics[f"eval_{part}_micro_f1"] = res["micro_f1"]
            metrics[f"eval_{part}_macro_f1"] = res["macro_f1"]
        if summary.get("baseline_eval"):
            metrics["keywords_only_micro_f1"] = summary["baseline_eval"]["micro_f1"]
            metrics["keywords_only_macro_f1"] = summary["baseline_eval"]["macro_f1"]
        if "cv" in summary:
            metrics["cv_micro_f1"], metrics["cv_macro_f1"] = summary["cv"]["micro_f1"], summary["cv"]["macro_f1"]
        tracking.log_metrics(metrics)
        tracking.log_dict(summary, "metrics/topic_summary.json")
        uri = tracking.log_pyfunc_model(TopicPyfunc(), name="model", artifacts={"topics": str(out_dir)},
                                        input_example=example)
        version = tracking.register_model(uri, TOPIC_MODEL)
        _record_version(version, summary, summary.get("eval"), model.mode)
        apply_decision(TOPIC_MODEL, version, decision)
        out["topics"] = {"version": version, "decision": decision.alias, "passed": decision.passed,
                         "forced": decision.forced, "reasons": list(decision.reasons), "kind": model.mode}
    if decision.alias != tracking.CHAMPION and champion is None and summary.get("baseline_eval"):
        keywords = TopicModel(taxonomy=model.tax_, mode="keywords").fit()
        kw_dir = keywords.save(out_dir.parent / f"{out_dir.name}-keywords")
        with tracking.start_run("topics", run_name="topics-keywords", data_fingerprint=fp, params={"mode": "keywords"}):
            tracking.log_metrics({"eval_all_micro_f1": summary["baseline_eval"]["micro_f1"]})
            uri = tracking.log_pyfunc_model(TopicPyfunc(), name="model", artifacts={"topics": str(kw_dir)},
                                            input_example=example)
            v_kw = tracking.register_model(uri, TOPIC_MODEL)
            _record_version(v_kw, summary, {"all": summary["baseline_eval"]}, "keywords")
            reason = "no champion yet and the topic model did not pass the gate: serving keywords-only"
            kw_decision = GateDecision(tracking.CHAMPION, passed=False, forced=False,
                                       reasons=(reason, *decision.reasons))
            apply_decision(TOPIC_MODEL, v_kw, kw_decision)
            out["baseline"] = {"version": v_kw, "decision": kw_decision.alias, "passed": False, "forced": False,
                               "reasons": list(kw_decision.reasons), "kind": "keywords"}
    return out


def _record_version(version: str, summary: dict, evaluation: dict | None, kind: str) -> None:
    from custsat import tracking

    tracking.set_version_tag(TOPIC_MODEL, version, "model_kind", kind)
    if evaluation and summary.get("eval_fingerprint"):
        tracking.set_version_tag(TOPIC_MODEL, version, "eval_fingerprint", summary["eval_fingerprint"])
        tracking.set_version_tag(TOPIC_MODEL, version, "eval_micro_f1", f"{evaluation['all']['micro_f1']:.6f}")


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
