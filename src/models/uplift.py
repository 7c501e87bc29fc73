"""Who responds to an action: uplift models learnt from past randomised campaigns.

A customer's **uplift** is the change an action makes to their chance of being retained:
``tau(x) = P(retained | treated, x) - P(retained | control, x)``. Churn risk says who will
leave; uplift says who can be kept. The two differ: a loyal customer at low risk has
nothing to gain, and some high-risk customers leave whatever is done. Learnt from a
campaign with a randomised control group (:mod:`custsat.serving.campaigns`), with
LightGBM as the base learner:

* :class:`TLearner`: one classifier per group, ``tau = mu1(x) - mu0(x)``;
* :class:`XLearner` (Kuenzel et al. 2019): the T-learner's models impute each customer's
  effect (treated: ``y - mu0(x)``; control: ``mu1(x) - y``), a regressor per group learns
  those, and the two are blended by the share treated (known: the groups were drawn at
  random).

Both also give ``predict_control``: the retention chance without the action, whose
complement is a churn risk learnt from the same data, the fair baseline to compare with.

Targeting quality, on held-out customers of a randomised campaign:

* **Qini curve**: customers sorted by score; at the top ``k``, ``Q(k) = R_T(k) - R_C(k)
  N_T(k) / N_C(k)`` (retained treated minus retained control scaled to the treated count):
  the extra customers retained by treating the top ``k``. The **Qini coefficient** is the
  area between that curve and the straight line of random targeting, both as a share of
  all customers over the share targeted (0 = no better than random); **AUUC** is the area
  under the uplift curve ``(R_T(k)/N_T(k) - R_C(k)/N_C(k)) k / N``.
* with known true effects (synthetic data): the value saved by the top share of a ranking
  (sum of true effect x customer value), per 100 customers called.

:func:`train_uplift` registers the model as ``custsat-uplift-<action>``; it becomes the
champion only if its uplift ranking has a higher Qini coefficient on the held-out customers
than the churn risk learnt from the same data (and than the current champion). Scoring then
adds ``uplift_<action>`` and ``expected_saved_value_<action> = uplift x clv`` (currency) to
the scored list, and a rule such as ``{column: expected_saved_value_retention_call, gte: 150}``
calls only customers whose expected saved value exceeds the call's cost (150 here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from custsat import tracking
from custsat.models.registry import (
    Comparison,
    ModelInputError,
    apply_decision,
    gate,
    uplift_model_name,
)

LEARNERS = ("t", "x")


def _lgbm_params(est) -> dict:
    return dict(n_estimators=est.n_estimators, learning_rate=est.learning_rate, num_leaves=est.num_leaves,
                min_child_samples=est.min_child_samples, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                reg_lambda=1.0, random_state=est.random_state, n_jobs=est.n_jobs, verbose=-1)


def _check_xty(X, treatment, y=None):
    X = pd.DataFrame(X).reset_index(drop=True)
    t = np.asarray(treatment)
    if t.dtype == object or t.dtype.kind in "US":
        t = (t == "treated")
    t = t.astype(bool)
    if len(t) != len(X):
        raise ValueError(f"treatment has {len(t)} rows, X has {len(X)}")
    if y is None:
        return X, t, None
    y = np.asarray(y, dtype=float)
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} rows, X has {len(X)}")
    if t.all() or (~t).all():
        raise ValueError("uplift needs treated and control customers; one group is empty")
    if set(np.unique(y)) - {0.0, 1.0}:
        raise ValueError("y must be 0/1 (e.g. retained)")
    return X, t, y


class TLearner(BaseEstimator):
    """Two LightGBM classifiers (treated, control); uplift = the difference of their probabilities."""

    # defaults chosen on development companies (seeds 2001/2002 of bench/bench_whatworks.py),
    # not on the ones reported: small trees and large leaves, the effect being a small signal
    def __init__(self, n_estimators: int = 500, learning_rate: float = 0.02, num_leaves: int = 4,
                 min_child_samples: int = 500, random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, treatment, y) -> TLearner:
        from lightgbm import LGBMClassifier

        X, t, y = _check_xty(X, treatment, y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.model_treated_ = LGBMClassifier(**_lgbm_params(self)).fit(X[t], y[t])
        self.model_control_ = LGBMClassifier(**_lgbm_params(self)).fit(X[~t], y[~t])
        self.treated_share_ = float(t.mean())
        return self

    def predict_treated(self, X) -> np.ndarray:
        return self.model_treated_.predict_proba(pd.DataFrame(X)[self.feature_names_in_])[:, 1]

    def predict_control(self, X) -> np.ndarray:
        """Retention probability without the action (1 - churn risk)."""
        return self.model_control_.predict_proba(pd.DataFrame(X)[self.feature_names_in_])[:, 1]

    def predict(self, X) -> np.ndarray:
        """Uplift: retention probability if treated minus if not."""
        return self.predict_treated(X) - self.predict_control(X)


class XLearner(TLearner):
    """X-learner on LightGBM: imputed effects per group, regressed and blended by the treated share."""

    def fit(self, X, treatment, y) -> XLearner:
        from lightgbm import LGBMRegressor

        super().fit(X, treatment, y)
        X, t, y = _check_xty(X, treatment, y)
        d_treated = y[t] - self.predict_control(X[t])
        d_control = self.predict_treated(X[~t]) - y[~t]
        self.effect_treated_ = LGBMRegressor(**_lgbm_params(self)).fit(X[t], d_treated)
        self.effect_control_ = LGBMRegressor(**_lgbm_params(self)).fit(X[~t], d_control)
        return self

    def predict(self, X) -> np.ndarray:
        X = pd.DataFrame(X)[self.feature_names_in_]
        g = self.treated_share_
        # weight each group's effect model by the other group's share (Kuenzel et al.)
        return g * self.effect_control_.predict(X) + (1 - g) * self.effect_treated_.predict(X)


def make_learner(kind: str = "x", **params) -> TLearner:
    if kind not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, got {kind!r}")
    return (TLearner if kind == "t" else XLearner)(**params)


class UpliftPyfunc(tracking.PythonModel):
    """MLflow pyfunc: ``uplift`` (retention if treated minus if not) per customer row of features."""

    def __init__(self, model: TLearner, action: str) -> None:
        self.model = model
        self.action = action

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        names = list(self.model.feature_names_in_)
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ModelInputError(f"the uplift model of '{self.action}' reads feature column(s) {missing[:10]}, "
                                  "which the input does not have")
        text = [c for c in names if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
        if text:
            raise ModelInputError(f"the uplift model of '{self.action}' reads numbers in column(s) {text[:10]}: they hold text")
        return pd.DataFrame({"uplift": self.model.predict(frame[names].astype("float64"))}, index=frame.index)


# --------------------------------------------------------------------------- metrics
def _sorted(score, treatment, y):
    score = np.asarray(score, dtype=float)
    t = np.asarray(treatment).astype(bool)
    y = np.asarray(y, dtype=float)
    order = np.argsort(-score, kind="stable")
    return t[order], y[order]


def qini_curve(score: Sequence[float], treatment: Sequence[bool], y: Sequence[float]) -> pd.DataFrame:
    """Qini and uplift curves at every cut (the top k customers by ``score``, ties by order).

    Columns: ``k``, ``share`` (k / N), ``qini`` (extra customers retained by treating the
    top k, as a share of N), ``uplift`` (the uplift curve, as a share of N).
    """
    t, y = _sorted(score, treatment, y)
    n = len(t)
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    r_t, r_c = np.cumsum(y * t), np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = np.where(n_c > 0, r_t - r_c * n_t / n_c, r_t)
        rate_diff = np.where((n_t > 0) & (n_c > 0), r_t / n_t - r_c / n_c, 0.0)
    k = np.arange(1, n + 1)
    return pd.DataFrame({"k": np.r_[0, k], "share": np.r_[0.0, k / n], "qini": np.r_[0.0, qini / n],
                         "uplift": np.r_[0.0, rate_diff * k / n]})


def qini_coefficient(score, treatment, y) -> float:
    """Area between the Qini curve and random targeting (trapezoids over the share targeted)."""
    curve = qini_curve(score, treatment, y)
    random_line = curve["share"] * curve["qini"].iloc[-1]
    return float(np.trapezoid(curve["qini"] - random_line, curve["share"]))


def true_qini_coefficient(score, true_effect) -> float:
    """With known individual effects: area between the cumulative true gain of the ranking
    (sum of the effects of the top k, as a share of N) and random targeting."""
    effect = np.asarray(true_effect, dtype=float)[np.argsort(-np.asarray(score, dtype=float), kind="stable")]
    n = len(effect)
    gain = np.r_[0.0, np.cumsum(effect)] / n
    share = np.arange(n + 1) / n
    return float(np.trapezoid(gain - share * gain[-1], share))


def auuc(score, treatment, y) -> float:
    """Area under the uplift curve (trapezoids over the share targeted)."""
    curve = qini_curve(score, treatment, y)
    return float(np.trapezoid(curve["uplift"], curve["share"]))


def top_share(score: Sequence[float], share: float) -> np.ndarray:
    """Boolean mask of the top ``share`` of customers by ``score`` (ties by order)."""
    score = np.asarray(score, dtype=float)
    k = int(round(share * len(score)))
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def true_value_saved(score, true_effect, value, share: float = 0.1) -> dict:
    """With known effects: customers selected, value saved by treating the top ``share``
    (sum of true effect x value) and the same per 100 customers treated."""
    mask = top_share(score, share)
    saved = float(np.sum(np.asarray(true_effect, dtype=float)[mask] * np.asarray(value, dtype=float)[mask]))
    n = int(mask.sum())
    return {"selected": n, "value_saved": saved, "value_saved_per_100": 100.0 * saved / n if n else float("nan")}


def observed_value_saved(score, treatment, y, value, share: float = 0.1) -> float:
    """Estimate from outcomes: (retention rate treated - control) among the top ``share``,
    times their mean value, per 100 customers treated."""
    mask = top_share(score, share)
    t = np.asarray(treatment).astype(bool)[mask]
    y = np.asarray(y, dtype=float)[mask]
    if t.all() or (~t).all():
        return float("nan")
    return float(100.0 * (y[t].mean() - y[~t].mean()) * np.asarray(value, dtype=float)[mask].mean())


def numeric_features(features: pd.DataFrame, exclude: Sequence[str] = ("customer_id",)) -> pd.DataFrame:
    """The numeric (and boolean) feature columns, as float, for the learners."""
    keep = [c for c in features.columns if c not in exclude and (pd.api.types.is_numeric_dtype(features[c])
                                                                  or pd.api.types.is_bool_dtype(features[c]))]
    return features[keep].astype("float64")


#: Outcome and bookkeeping columns that must never be features (they are measured after the start).
NOT_FEATURES = ("retained", "purchased", "purchases", "spend", "csat_before", "csat_after", "csat_change",
                "nps_before", "nps_after", "nps_change", "complaints_new", "complained", "holdout_share", "priority")


def training_frame(tables, campaign_list: pd.DataFrame, action: str, start, window_days: int = 90,
                   *, config=None) -> pd.DataFrame:
    """One row per customer the campaign meant ``action`` for: point-in-time features at
    ``start`` (events before it only), the list's columns (``treatment_group``, ``clv``,
    ``churn_probability``, ...) and the outcomes of the window after it.

    ``tables``: contract tables of data newer than the window (the features use only their
    events before ``start``; the outcomes only the window).
    """
    from custsat.features import build_customer_features
    from custsat.features.outcomes import customer_outcomes

    chosen = campaign_list[campaign_list["intended_action_id"].astype(str) == action]
    if chosen.empty:
        raise ValueError(f"the campaign list has no customers for action '{action}'; actions: "
                         f"{sorted(campaign_list['intended_action_id'].astype(str).unique())}")
    feature_tables = {k: tables[k] for k in ("customers", "transactions", "feedback") if tables.get(k) is not None}
    features = build_customer_features(feature_tables, start, config=config)
    listed = chosen.drop(columns=[c for c in chosen.columns if c in features.columns and c != "customer_id"])
    frame = listed.merge(features, on="customer_id", how="inner", validate="one_to_one")
    outcomes = customer_outcomes(tables, frame["customer_id"], start, window_days, config=config)
    return frame.merge(outcomes, left_on="customer_id", right_index=True, how="left")


def feature_matrix(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """The learners' input: numeric feature columns, no outcomes, no list scores."""
    drop = {"customer_id", *NOT_FEATURES, "churn_probability", "clv", *exclude}
    return numeric_features(frame, exclude=tuple(c for c in frame.columns if c in drop))


def targeting_table(scores: dict[str, np.ndarray], treatment, y, *, true_effect=None, value=None,
                    share: float = 0.1) -> pd.DataFrame:
    """Each ranking's Qini coefficient and AUUC (observed outcomes), the observed value saved
    per 100 treated among its top ``share`` and, with known effects, the true value saved."""
    rows = []
    for name, score in scores.items():
        row = {"ranking": name, "qini": qini_coefficient(score, treatment, y), "auuc": auuc(score, treatment, y)}
        if value is not None:
            row["observed_value_saved_per_100"] = observed_value_saved(score, treatment, y, value, share)
        if true_effect is not None and value is not None:
            truth = true_value_saved(score, true_effect, value, share)
            row["true_value_saved_top"] = truth["value_saved"]
            row["true_value_saved_per_100"] = truth["value_saved_per_100"]
            row["true_qini"] = true_qini_coefficient(score, true_effect)
        rows.append(row)
    return pd.DataFrame(rows)


def split_customers(customer_ids, test_share: float = 0.3, seed: int = 0) -> np.ndarray:
    """True for the held-out customers: a hash of (seed, customer id), stable across reruns."""
    import hashlib

    draws = np.array([int.from_bytes(hashlib.sha256(f"{seed}\x00{c}".encode()).digest()[:8], "big") / 2.0**64
                      for c in map(str, customer_ids)])
    return draws < test_share


@dataclass
class UpliftResult:
    """A fitted uplift model, how its ranking compared on held-out customers, and (when
    logged) its registered version and the gate's decision."""

    model: TLearner
    targeting: pd.DataFrame
    frame: pd.DataFrame
    model_name: str | None = None
    version: str | None = None
    decision: str | None = None
    reasons: tuple[str, ...] = ()


def train_uplift(tables, campaign_list: pd.DataFrame, *, action: str = "retention_call", start=None,
                 window_days: int = 90, learner: str = "x", test_share: float = 0.3, seed: int = 0,
                 n_jobs: int = 1, log_run: bool = True, force: bool = False) -> UpliftResult:
    """Fit an uplift model on a past campaign's randomised ``action`` customers and measure it.

    A stable ``test_share`` of the customers (hash of seed and id) is held out; on them
    the uplift ranking is compared with the churn risk learnt from the same data, churn
    risk x CLV and (when the list has one) the list's own churn score: Qini coefficient,
    AUUC and the observed value saved per 100 treated among the top 10%. The model is
    then refitted on all customers. With ``log_run`` the run goes to MLflow (experiment
    ``custsat-uplift``) and the model is registered as ``custsat-uplift-<action>``: champion
    only if its held-out Qini beats the churn-risk ranking's and the current champion's.
    """
    if start is None:
        start = pd.to_datetime(campaign_list["campaign_start"]).iloc[0]
    frame = training_frame(tables, campaign_list, action, start, window_days)
    treated = frame["treatment_group"].eq("treated").to_numpy()
    if treated.all() or (~treated).all():
        raise ValueError(f"action '{action}' has no control group in this campaign: uplift cannot be learnt")
    x = feature_matrix(frame)
    y = frame["retained"].to_numpy(dtype=float)
    held_out = split_customers(frame["customer_id"], test_share, seed)
    model = make_learner(learner, random_state=seed, n_jobs=n_jobs).fit(x[~held_out], treated[~held_out], y[~held_out])
    up = model.predict(x[held_out])
    risk = 1 - model.predict_control(x[held_out])
    if np.ptp(up) == 0:
        import warnings

        warnings.warn(
            f"uplift for '{action}': {int((~held_out).sum())} training customers are too few for leaves of "
            f"{model.min_child_samples}; the model predicts one value for everyone (collect a larger pilot)",
            UserWarning, stacklevel=2)
    value = frame["clv"].fillna(0).to_numpy(dtype=float)[held_out] if "clv" in frame else np.ones(int(held_out.sum()))
    scores = {"uplift x clv": up * value, "uplift": up, "churn risk": risk, "churn risk x clv": risk * value}
    if "churn_probability" in frame:
        scores["list churn score"] = frame["churn_probability"].fillna(0).to_numpy(dtype=float)[held_out]
    table = targeting_table(scores, treated[held_out], y[held_out], value=value)
    final = make_learner(learner, random_state=seed, n_jobs=n_jobs).fit(x, treated, y)
    result = UpliftResult(final, table, frame)
    if log_run:
        params = {"action": action, "learner": learner, "window_days": window_days, "test_share": test_share,
                  "seed": seed, "campaign_start": str(pd.Timestamp(start)), "n_customers": len(frame),
                  "n_features": x.shape[1], "force": force, **{f"lgbm_{k}": v for k, v in final.get_params().items()}}
        with tracking.start_run("uplift", run_name=f"uplift-{action}", params=params,
                                data_fingerprint=tracking.fingerprint_frames(x.assign(y=y, t=treated))):
            metrics = {}
            for row in table.itertuples(index=False):
                key = row.ranking.replace(" ", "_")
                metrics[f"{key}.qini"] = row.qini
                metrics[f"{key}.auuc"] = row.auuc
                metrics[f"{key}.observed_value_saved_per_100"] = row.observed_value_saved_per_100
            tracking.log_metrics(metrics)
            tracking.log_dict(table.to_dict(orient="records"), "targeting.json")
            register_uplift(result, action, x[held_out], treated[held_out], y[held_out], force=force)
    return result


def uplift_comparisons(targeting: pd.DataFrame, champion_qini: float | None, champion_label: str) -> list[Comparison]:
    """What a new uplift model must beat on the held-out customers: the Qini coefficient of the
    churn risk learnt from the same data (the usual practice: call who is about to leave), and
    the current champion's Qini on the same customers."""
    qini = targeting.set_index("ranking")["qini"]
    comparisons = [Comparison("held-out Qini", "churn risk (same run)", float(qini["uplift"]), float(qini["churn risk"]))]
    if champion_qini is not None:
        comparisons.append(Comparison("held-out Qini", champion_label, float(qini["uplift"]), champion_qini))
    return comparisons


def register_uplift(result: UpliftResult, action: str, x_held: pd.DataFrame, t_held: np.ndarray, y_held: np.ndarray,
                    *, force: bool = False) -> None:
    """Log the fitted model as a pyfunc in the active run, register it and apply the gate."""
    name = uplift_model_name(action)
    champion_qini, champion_label = None, "no champion"
    version = tracking.champion_version(name)
    if version is not None:
        champion_label = f"champion v{version}"
        try:
            previous = tracking.load_version(name, version).predict(x_held)["uplift"].to_numpy()
            champion_qini = qini_coefficient(previous, t_held, y_held)
        except Exception as exc:  # noqa: BLE001 - a champion that cannot read these features cannot serve them
            champion_label = f"champion v{version} (cannot score these customers: {type(exc).__name__})"
            champion_qini = float("-inf")
    comparisons = uplift_comparisons(result.targeting, champion_qini, champion_label)
    decision = gate(comparisons, force=force)
    example = x_held.head(5)
    pyfunc = UpliftPyfunc(result.model, action)
    signature = tracking.infer_signature(example, pyfunc.predict(None, example), any_input_types=True)
    uri = tracking.log_pyfunc_model(pyfunc, name="model", signature=signature, input_example=example)
    result.model_name, result.version = name, tracking.register_model(uri, name)
    result.decision = apply_decision(name, result.version, decision)
    result.reasons = decision.reasons
    tracking.set_tags({"registry_decision": result.decision, "gate_reasons": " | ".join(decision.reasons)[:4900]})
