"""Plain-text end-of-training summaries (what ``custsat train sentiment`` / ``topics`` print)."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
MODEL_NAMES = {"teacher": "teacher (12 layers)", "student": "student (6 layers)", "tfidf_lr": "TF-IDF + LR",
               "frozen_probe": "frozen-e5 probe"}


def _pct(value) -> str:
    return "   -  " if value is None or value != value else f"{100 * value:6.2f}"


def format_sentiment_summary(summary: dict) -> str:
    """Metrics of every model side by side, topic F1, training records, timings and the registry decisions."""
    metrics = summary["metrics"]
    three = any("three_class" in m for m in metrics.values())
    head = f"{'model':<22}{'acc zh':>8}{'acc en':>8}"
    if three:
        head += f"{'3cl F1':>8}{'neu P':>8}{'neu R':>8}{'clear':>8}"
    lines = ["sentiment: held-out accuracy (%) of p_positive >= p_negative"
             + ("; 3-class sample: macro-F1, neutral precision/recall, polarity on clear items" if three else ""),
             head]
    for key in ("teacher", "student", "tfidf_lr", "frozen_probe"):
        if key not in metrics:
            continue
        m = metrics[key]
        row = f"{MODEL_NAMES[key]:<22}" + "".join(f"{_pct(m.get(lang, {}).get('accuracy')):>8}" for lang in LANGUAGES)
        if three:
            t = m.get("three_class") or {}
            row += "".join(f"{_pct(t.get(k)):>8}" for k in ("macro_f1", "neutral_precision", "neutral_recall",
                                                            "polarity_accuracy_clear"))
        lines.append(row)
    if summary.get("topics_micro_f1"):
        lines.append("topic micro-F1 on the labelled sample: " + ", ".join(
            f"{k} {100 * v:.2f}" for k, v in summary["topics_micro_f1"].items()))
    for who, rec in (summary.get("training") or {}).items():
        if rec:
            state = "complete" if rec["complete"] else (
                f"CUT SHORT by --max-minutes {rec['max_minutes']} at step {rec['steps']} of {rec['planned_steps']}: "
                "incomplete, never promoted")
            lines.append(f"{who}: {rec['steps']}/{rec['planned_steps']} steps, {rec['examples']} examples, "
                         f"{rec['seconds'] / 60:.1f} min ({state})")
    if summary.get("seconds"):
        lines.append("time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items()))
    lines += registry_lines(summary.get("registry"))
    return "\n".join(lines)


def registry_lines(registry: dict | None) -> list[str]:
    if not registry:
        return ["registry: not registered (--no-register)"]
    names = {"teacher": "custsat-sentiment", "student": "custsat-sentiment-fast", "baseline": "custsat-sentiment",
             "topics": "custsat-topics"}
    lines = []
    for who, d in registry.items():
        what = f"{names.get(who, who)} v{d['version']} ({d.get('kind', who)})"
        verdict = d["decision"].upper() + (" (forced)" if d.get("forced") else "")
        lines.append(f"registry: {what} -> {verdict}")
        lines += [f"    {r}" for r in d.get("reasons", [])]
    return lines


def format_topic_summary(summary: dict) -> str:
    lines = [f"topics: mode {summary['mode']}, {summary['n_labels']} labels"]
    for name, res in (summary.get("eval") or {}).items():
        lines.append(f"  {name:<10} micro-F1 {100 * res['micro_f1']:.2f}  macro-F1 {100 * res['macro_f1']:.2f}")
    base = summary.get("baseline_eval")
    if base:
        lines.append(f"  keywords-only baseline: micro-F1 {100 * base['micro_f1']:.2f}  macro-F1 "
                     f"{100 * base['macro_f1']:.2f}")
    if "cv" in summary:
        lines.append(f"  5-fold CV on the labels: micro-F1 {100 * summary['cv']['micro_f1']:.2f}")
    lines += registry_lines(summary.get("registry"))
    return "\n".join(lines)
