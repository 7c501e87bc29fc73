"""Tests for the synthetic company generator (custsat.data.synth)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from custsat.data import synth_text as st
from custsat.data.synth import (
    SyntheticCRM,
    _churn_times,
    generate_crm,
    read_crm,
    true_churn_labels,
    write_crm,
)

AS_OF = pd.Timestamp("2026-06-30")
TOPICS = list(st.TOPICS)


@pytest.fixture(scope="module")
def crm() -> SyntheticCRM:
    return generate_crm(4000, seed=11, as_of="2026-06-30")


@pytest.fixture(scope="module")
def big() -> SyntheticCRM:
    """Large enough for the statistical relationships (about 2 s)."""
    return generate_crm(20000, seed=3)


def _frames(c: SyntheticCRM) -> dict[str, pd.DataFrame]:
    return {**c.tables, **{f"truth/{k}": v for k, v in c.truth.items()}}


# ---------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------
def test_same_seed_identical_frames():
    a, b = generate_crm(500, seed=5), generate_crm(500, seed=5)
    fa, fb = _frames(a), _frames(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        pd.testing.assert_frame_equal(fa[name], fb[name], check_exact=True, obj=name)


def test_different_seed_different_frames():
    a, b = generate_crm(500, seed=5), generate_crm(500, seed=6)
    assert not a.tables["transactions"]["amount"].equals(b.tables["transactions"]["amount"])
    assert not a.tables["feedback"]["text"].equals(b.tables["feedback"]["text"])
    assert not a.truth["customers"]["satisfaction"].equals(b.truth["customers"]["satisfaction"])


def test_seed_defaults_to_settings(monkeypatch):
    from custsat.config import get_settings

    monkeypatch.setenv("CUSTSAT_SEED", "123")
    get_settings.cache_clear()
    try:
        a = generate_crm(200)
        b = generate_crm(200, seed=123)
    finally:
        get_settings.cache_clear()
    assert a.meta["seed"] == 123
    pd.testing.assert_frame_equal(a.tables["feedback"], b.tables["feedback"])


# ---------------------------------------------------------------------------------------
# contract: columns, dtypes, validation
# ---------------------------------------------------------------------------------------
def test_columns_and_dtypes(crm):
    t = crm.tables
    assert set(t) == {"customers", "transactions", "feedback", "contracts"}
    assert list(t["customers"].columns) == ["customer_id", "signup_date", "region", "channel", "segment"]
    assert list(t["transactions"].columns) == [
        "customer_id", "timestamp", "amount", "order_id", "quantity", "category"]
    assert list(t["feedback"].columns) == [
        "feedback_id", "customer_id", "timestamp", "channel", "text", "rating", "nps", "resolved_at",
        "responded_at", "team", "assignee", "status", "resolution_rating"]
    assert list(t["contracts"].columns) == ["customer_id", "start_date", "end_date", "cancelled_at"]
    for name, col in [("customers", "signup_date"), ("transactions", "timestamp"),
                      ("feedback", "timestamp"), ("feedback", "resolved_at"),
                      ("contracts", "start_date"), ("contracts", "end_date"),
                      ("contracts", "cancelled_at")]:
        assert t[name][col].dtype == "datetime64[ns]", (name, col)
    for name, col in [("transactions", "amount"), ("transactions", "quantity"),
                      ("feedback", "rating"), ("feedback", "nps")]:
        assert t[name][col].dtype == np.float64, (name, col)
    for name, col in [("customers", "customer_id"), ("transactions", "customer_id"),
                      ("transactions", "order_id"), ("feedback", "feedback_id"), ("feedback", "text")]:
        assert t[name][col].map(type).eq(str).all(), (name, col)
    assert re.fullmatch(r"C\d{7}", t["customers"]["customer_id"].iloc[0])
    assert t["customers"]["customer_id"].is_unique
    assert t["transactions"]["order_id"].is_unique
    assert t["feedback"]["feedback_id"].is_unique
    assert set(t["feedback"]["channel"]) <= {"survey", "email", "phone", "chat", "social", "review", "app"}


def test_passes_contract_validation(crm):
    from custsat.data import contracts
    parsed = contracts.validate_tables(crm.tables, now=AS_OF, unknown_customers="error")
    assert len(parsed["transactions"]) == len(crm.tables["transactions"])


def test_value_ranges(crm):
    fb = crm.tables["feedback"]
    r, nps = fb["rating"].dropna(), fb["nps"].dropna()
    assert r.between(1, 5).all() and (r == r.round()).all()
    assert nps.between(0, 10).all() and (nps == nps.round()).all()
    assert 0.2 < fb["rating"].isna().mean() < 0.6  # absent for some channels
    assert fb["nps"].notna().mean() > 0.1
    tx = crm.tables["transactions"]
    assert (tx["quantity"] >= 0).all()
    assert tx["category"].isin(st.CATEGORIES).all()


# ---------------------------------------------------------------------------------------
# time semantics and churn
# ---------------------------------------------------------------------------------------
def test_tables_cut_at_as_of_and_future_in_truth(crm):
    t, truth = crm.tables, crm.truth
    end = AS_OF + pd.Timedelta(days=365)
    assert (t["transactions"]["timestamp"] <= AS_OF).all()
    assert (t["feedback"]["timestamp"] <= AS_OF).all()
    assert (t["feedback"]["resolved_at"].dropna() <= AS_OF).all()
    assert (t["customers"]["signup_date"] <= AS_OF).all()
    assert (t["contracts"]["start_date"] <= AS_OF).all()
    assert (t["contracts"]["cancelled_at"].dropna() <= AS_OF).all()
    ft, ff = truth["future_transactions"], truth["future_feedback"]
    assert len(ft) > 0 and len(ff) > 0
    assert ((ft["timestamp"] > AS_OF) & (ft["timestamp"] < end)).all()
    assert ((ff["timestamp"] > AS_OF) & (ff["timestamp"] < end)).all()
    # history spans ~1000 days before as_of
    first = t["transactions"]["timestamp"].min()
    assert AS_OF - pd.Timedelta(days=1000) <= first < AS_OF - pd.Timedelta(days=900)
    assert list(ft.columns) == list(t["transactions"].columns)
    # truth covers every feedback id, past and future, once
    ids = pd.concat([t["feedback"]["feedback_id"], ff["feedback_id"]])
    assert sorted(ids) == sorted(truth["feedback"]["feedback_id"])


def test_no_event_after_churn(crm):
    churn = crm.truth["customers"].set_index("customer_id")["churn_time"]
    assert churn.notna().any() and (churn > AS_OF).any() and (churn <= AS_OF).any()
    for frame in (crm.tables["transactions"], crm.truth["future_transactions"],
                  crm.tables["feedback"], crm.truth["future_feedback"]):
        ct = frame["customer_id"].map(churn)
        assert not (frame["timestamp"] >= ct).any()


def test_churned_customers_stop_buying_and_prospects_never_buy(crm):
    tc = crm.truth["customers"].set_index("customer_id")
    tx = pd.concat([crm.tables["transactions"], crm.truth["future_transactions"]])
    last = tx.groupby("customer_id")["timestamp"].max()
    churned = tc.index[tc["churned_by_as_of"]]
    assert (last.reindex(churned).dropna() < tc.loc[churned, "churn_time"].reindex(
        last.reindex(churned).dropna().index)).all()
    assert not tx["customer_id"].isin(tc.index[tc["is_prospect"]]).any()
    buyers = set(crm.tables["transactions"]["customer_id"])
    no_purchase = (~tc.index.isin(buyers)).mean()
    assert 0.02 < no_purchase < 0.15
    assert tc.loc[tc["is_prospect"], "churn_time"].isna().all()


def test_churn_inversion_matches_hand_computation():
    """One customer, sat 0, one complaint (resolved) at day 100: hazard h0 then h0*e^0.35."""
    cust = {"sat": np.zeros(3), "segment": np.zeros(3, int), "contract": np.zeros(3, bool),
            "prospect": np.zeros(3, bool), "signup": np.array([0.0, 0.0, 50.0])}
    fb = {"sentiment": np.array([0, 2]), "cust": np.array([0, 1]), "day": np.array([100.0, 100.0]),
          "never": np.array([False, False])}
    annual = 1.5
    got = _churn_times(cust, fb, end=1e9, annual_churn=annual, rng=np.random.default_rng(0))
    e = np.random.default_rng(0).exponential(1.0, 3)
    h0 = annual / 365.0
    exp0 = e[0] / h0 if e[0] <= h0 * 100 else 100 + (e[0] - h0 * 100) / (h0 * np.exp(0.35))
    np.testing.assert_allclose(got, [exp0, e[1] / h0, 50 + e[2] / h0], rtol=1e-12)


def test_complaints_raise_churn_hazard():
    cust = {"sat": np.zeros(20000), "segment": np.zeros(20000, int),
            "contract": np.zeros(20000, bool), "prospect": np.zeros(20000, bool),
            "signup": np.zeros(20000)}
    calm = {"sentiment": np.zeros(0, int), "cust": np.zeros(0, int), "day": np.zeros(0),
            "never": np.zeros(0, bool)}
    idx = np.arange(20000)
    angry = {"sentiment": np.zeros(20000, int), "cust": idx, "day": np.full(20000, 10.0),
             "never": idx % 2 == 0}
    a = _churn_times(cust, calm, 365.0, 0.3, np.random.default_rng(1))
    b = _churn_times(cust, angry, 365.0, 0.3, np.random.default_rng(1))
    assert np.isfinite(b).mean() > np.isfinite(a).mean() * 1.3
    # unresolved complaints weigh more than resolved ones
    assert np.isfinite(b[idx % 2 == 0]).mean() > np.isfinite(b[idx % 2 == 1]).mean()


def test_satisfaction_drives_ratings_texts_and_churn(big):
    tc = big.truth["customers"]
    fb = big.tables["feedback"].merge(tc[["customer_id", "satisfaction"]], on="customer_id")
    fb = fb.merge(big.truth["feedback"][["feedback_id", "sentiment"]], on="feedback_id")
    assert fb[["satisfaction", "rating"]].corr().iloc[0, 1] > 0.55
    assert fb[["satisfaction", "nps"]].corr().iloc[0, 1] > 0.5
    q = pd.qcut(fb["satisfaction"], 4, labels=False)
    neg_share = fb["sentiment"].eq("negative").groupby(q).mean()
    assert neg_share.is_monotonic_decreasing and neg_share[0] > 3 * neg_share[3]
    # ratings agree with text sentiment
    mean_rating = fb.groupby("sentiment")["rating"].mean()
    assert mean_rating["negative"] < 2.3 < mean_rating["neutral"] < 3.7 < mean_rating["positive"]
    # unhappy customers leave more
    qc = pd.qcut(tc["satisfaction"], 4, labels=False)
    churn = tc["churned_by_as_of"].groupby(qc).mean()
    assert churn.is_monotonic_decreasing and churn[0] > 3 * churn[3]
    # complaints are resolved more slowly, and more are left open
    neg = fb["sentiment"] == "negative"
    assert fb.loc[neg, "resolved_at"].isna().mean() > 2 * fb.loc[~neg, "resolved_at"].isna().mean()
    # value and satisfaction drive spend
    spend = big.tables["transactions"].groupby("customer_id")["amount"].sum()
    tv = tc.set_index("customer_id").join(spend.rename("spend")).dropna()
    assert tv[["value", "spend"]].corr(method="spearman").iloc[0, 1] > 0.3


def test_refunds_and_contracts_consistent(crm):
    tx = crm.tables["transactions"]
    refunds = tx[tx["amount"] < 0]
    assert 0.005 < len(refunds) / len(tx) < 0.06
    assert refunds["order_id"].str.endswith("-R").all()
    src = tx.set_index("order_id")
    orig = refunds["order_id"].str[:-2]
    present = orig.isin(src.index)
    assert present.all()  # the purchase is before the refund, so it is in the table too
    assert (src.loc[orig, "timestamp"].to_numpy() < refunds["timestamp"].to_numpy()).all()
    assert (-refunds["amount"].to_numpy() <= src.loc[orig, "amount"].to_numpy() + 1e-9).all()
    ct = crm.tables["contracts"].merge(crm.truth["customers"], on="customer_id")
    assert len(ct) > 0 and ct["customer_id"].is_unique
    cancelled = ct["cancelled_at"].notna()
    assert (ct.loc[cancelled, "cancelled_at"] == ct.loc[cancelled, "churn_time"].dt.floor("s")).all()
    assert not ct.loc[~cancelled, "churned_by_as_of"].any()
    assert (ct["end_date"] > ct["start_date"]).all()
    assert (ct.loc[~cancelled, "end_date"] > AS_OF).all()


def test_churn_labels(crm):
    lab = true_churn_labels(crm, 90)
    tc = crm.truth["customers"]
    assert list(lab["customer_id"]) == list(tc["customer_id"])
    ct = tc["churn_time"]
    expected = (~(ct <= AS_OF)) & ~tc["is_prospect"] & (ct <= AS_OF + pd.Timedelta(days=90))
    assert (lab["churn_in_window"].to_numpy() == expected.to_numpy()).all()
    assert 0.01 < lab.loc[lab["active_at_as_of"], "churn_in_window"].mean() < 0.2
    with pytest.raises(ValueError, match="horizon"):
        true_churn_labels(crm, 400)


# ---------------------------------------------------------------------------------------
# texts
# ---------------------------------------------------------------------------------------
def test_languages_topics_and_sentiments_present(crm):
    tf = crm.truth["feedback"]
    zh = (tf["language"] == "zh").mean()
    assert 0.5 < zh < 0.72
    has_cjk = crm.tables["feedback"]["text"].str.contains(r"[\u4e00-\u9fff]")
    lang = crm.tables["feedback"][["feedback_id"]].merge(tf, on="feedback_id")["language"]
    assert (has_cjk.to_numpy() == (lang == "zh").to_numpy()).all()  # no zh phrase in en texts
    found = tf["topics"].str.split(";").explode()
    assert set(TOPICS) <= set(found)
    assert set(tf["n_topics"]) == {0, 1, 2}
    assert set(tf["sentiment"]) == {"negative", "neutral", "positive"}
    assert (tf.loc[tf["n_topics"] == 0, "topics"] == "").all()
    two = tf.loc[tf["n_topics"] == 2, "topics"].str.split(";")
    assert two.map(lambda t: len(t) == 2 and t[0] != t[1] and TOPICS.index(t[0]) < TOPICS.index(t[1])).all()
    assert tf["traditional"].any()
    assert tf["urgency"].isin(["high", "normal"]).all()


def test_texts_vary_and_are_not_keyword_separable(crm):
    fb = crm.tables["feedback"].merge(crm.truth["feedback"][["feedback_id", "sentiment", "language"]],
                                      on="feedback_id")
    assert fb["text"].nunique() / len(fb) > 0.85
    for (_, _), g in fb.groupby(["language", "sentiment"]):
        assert g["text"].nunique() / len(g) > 0.75
    assert (fb["text"].str.len() > 0).all()
    # praise words inside negative texts and "problem" words inside positive ones
    neg, pos = fb[fb["sentiment"] == "negative"]["text"], fb[fb["sentiment"] == "positive"]["text"]
    assert neg.str.contains("不错|很好|满意|great|better|quick|friendly").mean() > 0.03
    assert pos.str.contains("问题|慢|差|complain|no lag|issue|slow").mean() > 0.03
    # a bag-of-words model learns sentiment but does not solve it perfectly
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2)
    x = vec.fit_transform(fb["text"])
    half = len(fb) // 2
    model = LogisticRegression(max_iter=2000).fit(x[:half], fb["sentiment"][:half])
    acc = (model.predict(x[half:]) == fb["sentiment"][half:].to_numpy()).mean()
    assert 0.6 < acc < 0.985  # about 0.95 for seed 11


def test_pii_in_a_small_share(crm):
    fb = crm.tables["feedback"].merge(crm.truth["feedback"][["feedback_id", "pii"]], on="feedback_id")
    share = (fb["pii"] != "").mean()
    assert 0.02 < share < 0.07
    phone = fb["text"].str.contains(r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}|\+1 \d{3}-\d{3}-\d{4}")
    email = fb["text"].str.contains(r"[\w.]+@[\w.]+\.com")
    assert phone[fb["pii"] == "phone"].all() and email[fb["pii"] == "email"].all()
    assert not email[fb["pii"] == ""].any()


def test_phrase_expansion():
    out = st.expand("{p}质量{i}差", "zh", "negative", ["手机", "耳机"])
    assert len(out) == 2 * len(st.INTENSIFIERS[("zh", "negative")]) and len(set(out)) == len(out)
    assert st.expand("plain", "en", "neutral", None) == ["plain"]
    assert st.product_nouns("zh", "functionality", "grocery", "茶叶") == st.GENERIC_NOUNS["zh"]
    assert st.product_nouns("zh", "delivery", "grocery", "茶叶") == ["茶叶"]
    for lang in st.LANGUAGES:
        for topic in st.TOPICS:
            for s in st.SENTIMENTS:
                assert len(st.CLAUSES[lang][topic][s]) >= 4, (lang, topic, s)
    assert "質量" in "质量".translate(st.S2T)


# ---------------------------------------------------------------------------------------
# I/O, CLI and bad input
# ---------------------------------------------------------------------------------------
def test_write_and_read_roundtrip(tmp_path):
    c = generate_crm(300, seed=2)
    out = write_crm(c, tmp_path / "synthetic")
    assert {p.name for p in out.glob("*.parquet")} == {
        "customers.parquet", "transactions.parquet", "feedback.parquet", "contracts.parquet"}
    assert {p.name for p in (out / "truth").glob("*.parquet")} == {
        "customers.parquet", "feedback.parquet", "future_transactions.parquet", "future_feedback.parquet",
        "events.parquet"}
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic"]  # no temp dirs left
    back = read_crm(out)
    for name, frame in _frames(c).items():
        other = back.tables[name] if "/" not in name else back.truth[name.split("/")[1]]
        pd.testing.assert_frame_equal(frame, other, check_exact=True, obj=name)
    assert back.meta["seed"] == 2 and back.meta["rows"]["transactions"] == len(c.tables["transactions"])
    # rewriting replaces the files and keeps unrelated ones
    (out / "notes.txt").write_text("keep me")
    write_crm(generate_crm(100, seed=3), out)
    assert read_crm(out).meta["n_customers"] == 100 and (out / "notes.txt").exists()


def test_cli_function(tmp_path):
    from typer.testing import CliRunner

    from custsat.cli import app

    res = CliRunner().invoke(app, ["data", "synth", "--customers", "150", "--seed", "4", "--out",
                                   str(tmp_path / "o"), "--as-of", "2025-12-31"])
    assert res.exit_code == 0, res.output
    back = read_crm(tmp_path / "o")
    assert back.meta["seed"] == 4 and back.meta["as_of"] == "2025-12-31 00:00:00"
    assert (back.tables["transactions"]["timestamp"] <= pd.Timestamp("2025-12-31")).all()
    bad = CliRunner().invoke(app, ["data", "synth", "--customers", "10", "--as-of", "notadate",
                                   "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "as_of" in bad.output


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_customers": 0}, "positive integer"), ({"n_customers": 2.5}, "positive integer"),
     ({"n_customers": 10, "as_of": "yesterday-ish"}, "as_of"),
     ({"n_customers": 10, "horizon_days": -1}, "horizon_days"),
     ({"n_customers": 10, "pii_share": 1.5}, "pii_share"),
     ({"n_customers": 10, "history_days": 10}, "history_days")],
)
def test_bad_input_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_crm(seed=1, **kwargs)


def test_tiny_company_works():
    c = generate_crm(1, seed=0)
    assert len(c.tables["customers"]) == 1
    assert set(c.tables) == {"customers", "transactions", "feedback", "contracts"}


def test_topics_match_default_taxonomy():
    import yaml

    from custsat.config import DEFAULT_TAXONOMY

    ids = [t["id"] for t in yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))["topics"]]
    assert ids == list(st.TOPICS)
