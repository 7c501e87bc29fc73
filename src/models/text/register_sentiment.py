"""Log a sentiment training run to MLflow and let the registry's gate decide what serves.

* ``custsat-sentiment`` (the teacher) and ``custsat-sentiment-fast`` (the student) each get one
  tracked run with the metrics of the model *and* of both baselines, the training records
  (steps, examples, seconds, complete or cut short), the per-part timings and a PII-masked
  sample of errors; the model is logged as a pyfunc and registered.
* The gate's comparisons: polarity accuracy per language against TF-IDF + LR and the frozen
  probe of the same run, and against the current champion on the same held-out rows (the
  champion's recorded figures when its held-out fingerprint matches; otherwise it is loaded
  and scored on this run's held-out rows).
* When there is no ``custsat-sentiment`` champion and the teacher does not pass, the best
  baseline (higher mean accuracy over the languages) is registered too and becomes the
  champion, so scoring never runs on anything worse than it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.models.registry import (
    SENTIMENT_FAST_MODEL,
    SENTIMENT_MODEL,
    Comparison,
    GateDecision,
    apply_decision,
    gate,
)
from custsat.models.text.evaluation import polarity_metrics

LANGUAGES = ("zh", "en")
BASELINES = ("tfidf_lr", "frozen_probe")
INPUT_EXAMPLE = pd.DataFrame({"text": ["物流很快，质量不错", "Terrible, it broke after a day."]})


def polarity_accuracy(metrics: dict) -> dict[str, float]:
    return {lang: float(metrics[lang]["accuracy"]) for lang in LANGUAGES if lang in metrics}


def baseline_comparisons(candidate: dict[str, float], metrics: dict) -> list[Comparison]:
    out = []
    for name in BASELINES:
        if name not in metrics:
            continue
        ref = polarity_accuracy(metrics[name])
        out += [Comparison(f"accuracy_{lang}", name, candidate[lang], ref[lang]) for lang in candidate if lang in ref]
    return out


def champion_heldout(model_name: str, fingerprint: str, test: pd.DataFrame) -> tuple[str, dict[str, float]] | None:
    """(version, accuracy per language) of the current champion on this run's held-out rows."""
    version = tracking.champion_version(model_name)
    if version is None:
        return None
    tags = tracking.version_tags(model_name, version)
    keys = [f"heldout_accuracy_{lang}" for lang in LANGUAGES]
    if tags.get("heldout_fingerprint") == fingerprint and all(k in tags for k in keys):
        return version, {lang: float(tags[f"heldout_accuracy_{lang}"]) for lang in LANGUAGES}
    from custsat.models.text.classify import unwrap_model

    model = unwrap_model(tracking.load_version(model_name, version))
    proba = model.predict_proba(test.text.tolist())
    acc = {}
    for lang in LANGUAGES:
        m = (test.language == lang).to_numpy()
        if m.any():
            acc[lang] = polarity_metrics(test.label.to_numpy()[m], proba[m])["accuracy"]
    return version, acc


def champion_comparisons(candidate: dict[str, float], champion) -> list[Comparison]:
    if champion is None:
        return []
    version, ref = champion
    return [Comparison(f"accuracy_{lang}", f"champion v{version}", candidate[lang], ref[lang])
            for lang in candidate if lang in ref]


def flat_metrics(metrics: dict) -> dict[str, float]:
    """``<model>_<lang>_<metric>`` and ``<model>_3class_<metric>`` for MLflow."""
    flat = {}
    for model, per in metrics.items():
        for lang in LANGUAGES:
            for k in ("accuracy", "macro_f1", "neutral_share", "accuracy_outside_neutral"):
                if lang in per and k in per[lang]:
                    flat[f"{model}_{lang}_{k}"] = per[lang][k]
        three = per.get("three_class")
        if three:
            for k in ("macro_f1", "neutral_precision", "neutral_recall", "polarity_accuracy_clear", "accuracy"):
                flat[f"{model}_3class_{k}"] = three[k]
                for lang in LANGUAGES:
                    if lang in three:
                        flat[f"{model}_3class_{lang}_{k}"] = three[lang][k]
    return flat


def error_sample(model, test: pd.DataFrame, proba: np.ndarray, n: int = 40) -> str:
    from custsat.privacy import mask_pii

    frames = []
    for lang in LANGUAGES:
        m = (test.language == lang).to_numpy()
        pred = np.where(proba[m, 2] >= proba[m, 0], "positive", "negative")
        wrong = np.flatnonzero(pred != test.label.to_numpy()[m])[:n]
        sub = test[m].iloc[wrong]
        frames.append(pd.DataFrame({"language": lang, "text": sub.text.map(lambda t: mask_pii(t)[:300]),
                                    "label": sub.label, "p_positive": proba[m][wrong, 2]}))
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


def _version_record(model_name: str, version: str, fingerprint: str, accuracy: dict[str, float], kind: str,
                    complete: bool) -> None:
    tracking.set_version_tag(model_name, version, "heldout_fingerprint", fingerprint)
    tracking.set_version_tag(model_name, version, "model_kind", kind)
    tracking.set_version_tag(model_name, version, "training_complete", str(complete).lower())
    for lang, acc in accuracy.items():
        tracking.set_version_tag(model_name, version, f"heldout_accuracy_{lang}", f"{acc:.6f}")


def _log_model(model_dir, name: str = "model") -> str:
    from custsat.models.text.pyfunc import SentimentPyfunc

    return tracking.log_pyfunc_model(SentimentPyfunc(), name=name, artifacts={"sentiment": str(model_dir)},
                                     input_example=INPUT_EXAMPLE)


def _decision_dict(version: str, decision: GateDecision) -> dict:
    return {"version": version, "decision": decision.alias, "passed": decision.passed, "forced": decision.forced,
            "reasons": list(decision.reasons)}


def register_run(run, summary: dict, *, force: bool = False, fast: bool = False) -> dict:
    """Log, register and gate the teacher (and the student, when trained); returns the decisions."""
    test = run.part("test")
    fingerprint = summary["heldout_fingerprint"]
    data_fp = tracking.fingerprint_frames(run.data[["text", "label", "part"]])
    metrics = summary["metrics"]
    params = {"fast": fast, "seed": run.seed, "n_crm_texts": summary["n_crm_texts"],
              **{f"teacher_{k}": v for k, v in summary["plan"]["config"].items() if k != "extra"}}
    out = {}

    teacher_acc = polarity_accuracy(metrics["teacher"])
    champion = champion_heldout(SENTIMENT_MODEL, fingerprint, test)
    decision = gate(baseline_comparisons(teacher_acc, metrics) + champion_comparisons(teacher_acc, champion),
                    complete=run.teacher.complete_, force=force)
    with tracking.start_run("sentiment", run_name="sentiment-fast-plan" if fast else "sentiment",
                            data_fingerprint=data_fp, params=params,
                            tags={"training_complete": str(run.teacher.complete_).lower(), "model_kind": "teacher"}):
        _log_common(summary, "teacher")
        tracking.log_text(error_sample(run.teacher, test, run.teacher.proba_from_logits(
            run._rows(run.teacher_logits, test.text))), "errors/sample_errors_pii_masked.csv")
        version = tracking.register_model(_log_model(run.model_dirs["teacher"]), SENTIMENT_MODEL)
        _version_record(SENTIMENT_MODEL, version, fingerprint, teacher_acc, "teacher", run.teacher.complete_)
        apply_decision(SENTIMENT_MODEL, version, decision)
        out["teacher"] = _decision_dict(version, decision)
    if decision.alias != tracking.CHAMPION and champion is None:
        with tracking.start_run("sentiment", run_name="sentiment-baseline", data_fingerprint=data_fp,
                                params={"fast": fast, "seed": run.seed}, tags={"model_kind": "baseline"}):
            _log_common(summary, "baseline")
            out["baseline"] = _serve_best_baseline(run, metrics, fingerprint, decision)

    if run.plan.student:
        student_acc = polarity_accuracy(metrics["student"])
        champion = champion_heldout(SENTIMENT_FAST_MODEL, fingerprint, test)
        decision = gate(baseline_comparisons(student_acc, metrics) + champion_comparisons(student_acc, champion),
                        complete=run.student.complete_, force=force)
        params_s = {"fast": fast, "seed": run.seed, "teacher_version": out["teacher"]["version"],
                    **{f"student_{k}": v for k, v in summary["plan"]["student_config"].items() if k != "extra"}}
        with tracking.start_run("sentiment", run_name="sentiment-student", data_fingerprint=data_fp, params=params_s,
                                tags={"training_complete": str(run.student.complete_).lower(),
                                      "model_kind": "student"}):
            _log_common(summary, "student")
            version = tracking.register_model(_log_model(run.model_dirs["student"]), SENTIMENT_FAST_MODEL)
            _version_record(SENTIMENT_FAST_MODEL, version, fingerprint, student_acc, "student", run.student.complete_)
            tracking.set_version_tag(SENTIMENT_FAST_MODEL, version, "teacher_version", out["teacher"]["version"])
            apply_decision(SENTIMENT_FAST_MODEL, version, decision)
            out["student"] = _decision_dict(version, decision)
    return out


def _log_common(summary: dict, who: str) -> None:
    flat = flat_metrics(summary["metrics"])
    flat.update({f"seconds_{k}": v for k, v in summary.get("seconds", {}).items()})
    training = summary["training"].get(who) or {}
    flat.update({f"train_{k}": float(v) for k, v in training.items() if isinstance(v, int | float) and v is not None})
    for k, v in (summary.get("topics_micro_f1") or {}).items():
        flat[f"topics_micro_f1_{k}"] = v
    tracking.log_metrics(flat)
    tracking.log_dict(summary["metrics"], "metrics/metrics.json")
    tracking.log_dict({k: v for k, v in summary.items() if k != "metrics"}, "metrics/run_summary.json")


def _serve_best_baseline(run, metrics: dict, fingerprint: str, teacher_decision: GateDecision) -> dict:
    """Register the best baseline of the run as the ``custsat-sentiment`` champion (none exists yet)."""
    means = {name: float(np.mean(list(polarity_accuracy(metrics[name]).values()))) for name in BASELINES
             if name in metrics}
    best = max(means, key=lambda k: (means[k], k))
    model_dir = run.baselines[best].save(run.model_dirs["teacher"].parent / f"{run.model_dirs['teacher'].name}-{best}")
    run.model_dirs[best] = model_dir
    version = tracking.register_model(_log_model(model_dir, name=f"baseline_{best}"), SENTIMENT_MODEL)
    _version_record(SENTIMENT_MODEL, version, fingerprint, polarity_accuracy(metrics[best]), best, True)
    reason = (f"no champion yet and the fine-tuned model did not pass the gate: serving the best baseline, "
              f"{best} (mean accuracy {means[best]:.4f})")
    decision = GateDecision(tracking.CHAMPION, passed=False, forced=False,
                            reasons=(reason, *teacher_decision.reasons))
    apply_decision(SENTIMENT_MODEL, version, decision)
    return {**_decision_dict(version, decision), "kind": best}
