"""Training plan arithmetic, the wall-clock cut, 3-class metrics and the urgency rule split."""

from __future__ import annotations

import re

import numpy as np
import pytest

from custsat.models.text.evaluation import three_class_metrics
from custsat.models.text.training import StepPlan, TrainingLoop, epoch_order


def test_step_plan_schedule_hand_computed():
    plan = StepPlan.from_epochs(batches_per_epoch=40, epochs=2.5, warmup_frac=0.1)
    assert (plan.steps, plan.warmup) == (100, 10)
    assert plan.lr_factor(0) == pytest.approx(0.1) and plan.lr_factor(9) == pytest.approx(1.0)
    assert plan.lr_factor(55) == pytest.approx(45 / 90) and plan.lr_factor(99) == pytest.approx(1 / 90)


def test_epoch_order_is_whole_permutations():
    order = epoch_order(5, 12, np.random.default_rng(0))
    assert len(order) == 12 and sorted(order[:5]) == sorted(order[5:10]) == list(range(5))
    assert order == epoch_order(5, 12, np.random.default_rng(0))


def test_training_loop_cut_short_is_incomplete():
    with TrainingLoop(10, "x", max_minutes=1e-9, progress=False) as loop:
        while not loop.should_stop():
            loop.step(0.5, 4)
    assert loop.record.steps < 10 and not loop.record.complete
    with TrainingLoop(3, "x", progress=False) as loop:
        while not loop.should_stop():
            loop.step(0.5, 4)
    assert loop.record.as_dict()["complete"] and loop.record.examples == 12


def test_three_class_metrics_hand_computed():
    y = ["negative", "neutral", "neutral", "positive", "positive", "negative"]
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1],
                      [0.4, 0.5, 0.1]])
    m = three_class_metrics(y, proba)
    # predicted: neg, neu, pos, pos, neu, neu -> neutral P = 1/3, R = 1/2
    assert m["neutral_precision"] == pytest.approx(1 / 3) and m["neutral_recall"] == pytest.approx(0.5)
    f_neg, f_neu, f_pos = 2 / 3, 0.4, 0.5  # neg P1 R1/2; neu P1/3 R1/2; pos P1/2 R1/2
    assert m["macro_f1"] == pytest.approx((f_neg + f_neu + f_pos) / 3)
    # polarity on the 4 clear items by p_pos >= p_neg: neg ok, pos ok, pos wrong (0.1 < 0.3), neg ok
    assert m["polarity_accuracy_clear"] == pytest.approx(0.75) and m["clear_called_neutral"] == pytest.approx(0.5)


def test_urgency_split_rules_match_the_combined_patterns():
    import unicodedata

    from custsat.models.text import urgency

    for group, patterns in urgency._RULES.items():
        for p in patterns:  # every regex word needs a Latin letter (texts without one skip them)
            assert urgency._is_literal(p) or re.search("[a-z]", p), (group, p)
    combined = {k: re.compile("|".join(v)) for k, v in urgency._RULES.items()}
    texts = ["产品起火了", "I will sue you", "第三次投诉，至今没人理", "Again?! still not fixed", "12315", "a", "",
             "烫傷了", "the FIRE alarm", "lawyered up", "消協"]
    for t in texts:
        low = unicodedata.normalize("NFKC", t).lower()
        flags = urgency.urgency_flags(t)
        for k in ("safety", "legal", "repeated"):
            assert flags[k] == bool(t.strip() and combined[k].search(low)), (t, k)


def test_long_passes_report_progress_in_a_log(capsys):
    """Without a terminal (a log file, CI) a pass over batches prints plain progress lines."""
    from custsat.models.text.encoder import _progress

    assert list(_progress(range(3), False, "x")) == [0, 1, 2]  # off: the items, nothing printed
    assert list(_progress(range(20), True, "encoding")) == list(range(20))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("encoding: 20/20 batches") and "ETA 0.0 min" in lines[-1]
