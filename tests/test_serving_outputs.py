"""Scored-list outputs: top topics, run id, ordering, atomic and deterministic writers, XLSX, report."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from custsat.serving import outputs
from custsat.serving.outputs import (
    SCORED_LIST_COLUMNS,
    order_columns,
    scoring_run_id,
    sort_by_priority,
    summary_table,
    top_topics,
    write_scored,
)
from custsat.serving.policy import assign_actions, load_policy


def make_scored(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A hand-made scored list with the documented columns (no models involved)."""
    rng = np.random.default_rng(seed)
    value = rng.choice(["high", "medium", "low"], n, p=[0.2, 0.3, 0.5])
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "rfm_segment": rng.choice(["Champions", "Loyal Customers", "At Risk", "Promising", "Lost", None], n),
        "abc_class": np.select([value == "high", value == "medium"], ["A", "B"], "C"),
        "value_tier": value,
        "lifecycle_stage": rng.choice(["prospect", "new", "repeat", "loyal", "lapsed"], n),
        "satisfaction_tier": rng.choice(["high", "medium", "low", None], n),
        "satisfaction_source": "csat",
        "nps_category": rng.choice(["promoter", "passive", "detractor", None], n),
        "sentiment_mean": rng.uniform(-1, 1, n).round(3),
        "complaints_open": rng.integers(0, 3, n),
        "complaints_total": rng.integers(0, 5, n),
        "recency_days": rng.integers(0, 400, n).astype(float),
        "top_negative_topic": rng.choice(["delivery", "after_sales", None], n),
        "negative_feedback_recent": rng.integers(0, 2, n),
        "urgent_complaints_recent": rng.integers(0, 2, n),
        "top_topics": rng.choice(["delivery:3; after_sales:1", "price_value:1", ""], n),
        "churn_probability": rng.uniform(0, 1, n).round(4),
        "churn_reasons": "recency_days=200 (raises risk)",
        "clv": rng.gamma(2.0, 300.0, n).round(2),
        "expected_remaining_lifetime_days": rng.uniform(0, 365, n).round(1),
    })
    frame["churn_risk_tier"] = np.where(frame["churn_probability"] >= 0.5, "high",
                                        np.where(frame["churn_probability"] >= 0.2, "medium", "low"))
    frame["clv_low"] = (frame["clv"] * 0.5).round(2)
    frame["clv_high"] = (frame["clv"] * 1.8).round(2)
    frame["clv_tier"] = pd.qcut(frame["clv"], 3, labels=["low", "medium", "high"]).astype(str)
    frame = pd.concat([frame, assign_actions(frame, load_policy())], axis=1)
    for key in ("sentiment_model_version", "topic_model_version", "churn_model_version", "clv_model_version"):
        frame[key] = "1"
    frame["scoring_run_id"] = "score-test"
    return order_columns(sort_by_priority(frame))


def test_top_topics_counts_ties_and_empty():
    features = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "topic_delivery_count": [3, 0, 1, np.nan],
        "topic_after_sales_count": [1, 0, 1, np.nan],
        "topic_price_value_count": [0, 0, 2, np.nan],
        "topic_packaging_count": [0, 0, 1, np.nan],
        "topic_delivery_share": [0.9, 0, 0, 0],  # not a count column: ignored
    })
    out = top_topics(features, k=3)
    assert out.tolist() == [
        "delivery:3; after_sales:1",
        "",
        "price_value:2; after_sales:1; delivery:1",  # ties: alphabetical; k=3 drops packaging
        "",
    ]


def test_scoring_run_id_deterministic_and_sensitive():
    base = dict(input_fingerprints={"customers": "a", "transactions": "b"},
                model_versions={"churn_model_version": "3"}, as_of="2026-06-30", policy_fingerprint="p")
    first = scoring_run_id(**base)
    assert first == scoring_run_id(**{**base, "input_fingerprints": {"transactions": "b", "customers": "a"}})
    assert re.fullmatch(r"score-[0-9a-f]{16}", first)
    for change in (
        {"input_fingerprints": {"customers": "a", "transactions": "c"}},
        {"model_versions": {"churn_model_version": "4"}},
        {"as_of": "2026-07-01"},
        {"policy_fingerprint": "q"},
    ):
        assert scoring_run_id(**{**base, **change}) != first


def test_sorted_by_priority_then_value_at_risk():
    scored = make_scored()
    assert scored["priority"].is_monotonic_increasing
    for _, group in scored.groupby("priority"):
        risk = (group["clv"] * group["churn_probability"]).to_numpy()
        assert (np.diff(risk) <= 1e-9).all()
    documented = [c for c in SCORED_LIST_COLUMNS if c in scored.columns]
    assert list(scored.columns[: len(documented)]) == documented


def test_csv_parquet_byte_identical_and_bom(tmp_path):
    scored = make_scored()
    digests = []
    for run in range(2):
        for suffix in ("csv", "parquet"):
            path = write_scored(scored.copy(), tmp_path / f"run{run}.{suffix}")
            digests.append((suffix, hashlib.sha256(path.read_bytes()).hexdigest()))
    assert digests[0] == digests[2] and digests[1] == digests[3]
    plain = (tmp_path / "run0.csv").read_bytes()
    assert not plain.startswith(b"\xef\xbb\xbf")
    bom = write_scored(scored, tmp_path / "bom.csv", csv_bom=True).read_bytes()
    assert bom.startswith(b"\xef\xbb\xbf") and bom[3:] == plain
    back = pd.read_parquet(tmp_path / "run0.parquet")
    pd.testing.assert_frame_equal(back, scored.reset_index(drop=True), check_dtype=False)
    text = plain.decode("utf-8")
    assert "服务补救" in text  # Chinese action names survive UTF-8


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "scored.csv"
    target.write_text("previous good output\n", encoding="utf-8")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_scored(make_scored(20), target)
    assert target.read_text(encoding="utf-8") == "previous good output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scored.csv"], "no temp file left behind"


def test_unknown_format_refused(tmp_path):
    with pytest.raises(ValueError, match="use .csv, .parquet or .xlsx"):
        write_scored(make_scored(5), tmp_path / "out.json")
    with pytest.raises(ValueError, match="--format must be one of"):
        write_scored(make_scored(5), tmp_path / "out.csv", fmt="json")


def test_xlsx_formatting_and_summary(tmp_path):
    from openpyxl import load_workbook

    scored = make_scored(120)
    path = write_scored(scored, tmp_path / "scored.xlsx", summary=summary_table(scored))
    wb = load_workbook(path)
    assert wb.sheetnames == ["customers", "summary"]
    ws = wb["customers"]
    assert ws.freeze_panes == "B2"
    assert [c.value for c in ws[1]] == list(scored.columns)
    assert ws["A1"].font.bold
    assert ws.max_row == len(scored) + 1
    assert ws.auto_filter.ref.startswith("A1:")
    rules = {str(r.sqref): r for r in ws.conditional_formatting}
    risk_col = outputs_column_letter(scored, "churn_risk_tier")
    assert any(key.startswith(f"{risk_col}2:") for key in rules), "risk tier colouring"
    summary = wb["summary"]
    header = [c.value for c in summary[1]]
    assert header == ["section", "value", "customers", "share", "clv_total", "value_at_risk"]
    values = {(r[0], r[1]): r[2] for r in summary.iter_rows(min_row=2, values_only=True)}
    assert values[("total", "all customers")] == len(scored)
    assert values[("churn_risk_tier", "high")] == int((scored["churn_risk_tier"] == "high").sum())


def outputs_column_letter(frame, column):
    from openpyxl.utils import get_column_letter

    return get_column_letter(list(frame.columns).index(column) + 1)


def test_summary_value_at_risk_matches_hand_sum():
    scored = make_scored(50)
    table = summary_table(scored)
    total = table[(table["section"] == "total")].iloc[0]
    assert total["value_at_risk"] == pytest.approx(float((scored["clv"] * scored["churn_probability"]).sum()))
    by_action = table[table["section"] == "recommended_action"]
    assert by_action["customers"].sum() == len(scored)


def test_xlsx_row_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(outputs, "XLSX_MAX_ROWS", 10)
    with pytest.raises(ValueError, match="do not fit in one Excel sheet"):
        write_scored(make_scored(20), tmp_path / "big.xlsx")
    assert not (tmp_path / "big.xlsx").exists()
