"""HTML report: self-contained, the key numbers present, PII masked, drift warned."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from custsat.models.drift import build_reference, psi_table
from custsat.serving.policy import load_policy
from custsat.serving.report import nps_score, render_report, write_scoring_report
from test_serving_outputs import make_scored

AS_OF = pd.Timestamp("2026-06-30")


def make_feedback(scored: pd.DataFrame, n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [
        "快递太慢了，打电话 13812345678 也没人接",
        "Refund never arrived, email me at jane.doe@example.com",
        "包装破损，客服态度差",
        "Great product, fast delivery",
    ]
    return pd.DataFrame({
        "feedback_id": [f"F{i:05d}" for i in range(n)],
        "customer_id": rng.choice(scored["customer_id"], n),
        "timestamp": AS_OF - pd.to_timedelta(rng.integers(1, 400, n), unit="D"),
        "channel": rng.choice(["email", "chat", "survey"], n),
        "text": rng.choice(texts, n),
        "rating": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, np.nan], n),
        "sentiment": rng.choice(["negative", "neutral", "positive"], n, p=[0.5, 0.2, 0.3]),
        "topics": rng.choice(["delivery", "after_sales;delivery", "packaging;service_attitude", ""], n),
    })


def metadata(**extra):
    policy = load_policy()
    return {
        "as_of": str(AS_OF),
        "scoring_run_id": "score-0123456789abcdef",
        "model_versions": {"sentiment_model_version": "2", "topic_model_version": "1",
                           "churn_model_version": "5", "clv_model_version": "3"},
        "policy_actions": {a.id: {"en": a.en, "zh": a.zh, "priority": i + 1} for i, a in enumerate(policy.actions)},
        "drift_reference": True,
        **extra,
    }


@pytest.fixture(scope="module")
def report_inputs(tmp_path_factory):
    scored = make_scored(300)
    feedback = make_feedback(scored)
    path = write_scoring_report(tmp_path_factory.mktemp("report") / "report.html", scored, feedback=feedback,
                        metadata=metadata())
    return scored, feedback, path.read_text(encoding="utf-8")


def test_report_self_contained_with_sections_and_numbers(report_inputs):
    scored, feedback, text = report_inputs
    for section in ("key-figures", "tiers", "churn-by-segment", "clv", "topics", "nps-csat", "actions", "examples"):
        assert f'id="{section}"' in text, section
    # no external assets: no http(s) links, scripts or external stylesheets
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert "<script" not in text.lower()
    assert "<svg" in text
    value_at_risk = float((scored["clv"] * scored["churn_probability"]).sum())
    assert f'<span id="value-at-risk">{value_at_risk:,.0f}</span>' in text
    assert "score-0123456789abcdef" in text
    assert f"{len(scored):,}" in text
    nps = nps_score(scored)
    promoters = (scored["nps_category"] == "promoter").sum()
    detractors = (scored["nps_category"] == "detractor").sum()
    respondents = scored["nps_category"].notna().sum()
    assert nps == pytest.approx(100 * (promoters - detractors) / respondents)
    assert f'<b id="nps">{nps:+.1f}</b>' in text
    csat = (feedback["rating"].dropna() >= 4).mean()
    assert f'<b id="csat">{csat:.1%}</b>' in text
    for action_count in scored["action_id"].value_counts().items():
        assert f"<td>{action_count[0]}</td>" in text


def test_report_masks_pii_in_examples(report_inputs):
    scored, feedback, text = report_inputs
    assert "13812345678" not in text and "jane.doe@example.com" not in text
    assert "&lt;PHONE&gt;" in text or "&lt;EMAIL&gt;" in text


def test_report_deterministic(report_inputs):
    scored, feedback, text = report_inputs
    assert render_report(scored, feedback=feedback, metadata=metadata()) == text


def test_report_drift_warning():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"recency_days": rng.exponential(30, 2000), "segment": rng.choice(["a", "b"], 2000)})
    now = pd.DataFrame({"recency_days": rng.exponential(120, 2000), "segment": rng.choice(["a", "b"], 2000)})
    drift = psi_table(build_reference(train), now)
    assert drift.loc[drift["feature"] == "recency_days", "drifted"].item()
    text = render_report(make_scored(50), drift=drift, metadata=metadata())
    assert "drifted from the churn model" in text and "recency_days" in text
    quiet = render_report(make_scored(50), drift=None, metadata=metadata(drift_reference=False))
    assert "carries no training-time feature reference" in quiet


def test_report_without_feedback_or_nps():
    scored = make_scored(30).assign(nps_category=None)
    text = render_report(scored, feedback=None, metadata=metadata())
    assert "No NPS answers" in text and "No feedback topics" in text
