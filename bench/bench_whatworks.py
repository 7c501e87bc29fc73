"""What works: the targets of the control-group, uplift and drivers evaluation.

Three parts, each on data with a known truth (and the real survey):

1. **Outcome evaluation** over ``--seeds`` synthetic companies with a past campaign: per
   action, how often the 95% interval of the retention effect (treated - control,
   Newcombe) contains the true average effect (mean of the customers' potential-outcome
   differences), and the mean error with its Monte-Carlo standard error.
2. **Uplift targeting** of the personal retention call: an X-learner (and a T-learner) is
   fitted on one company's randomised pilot and ranks another company's pilot customers;
   per ranking (uplift x CLV, uplift, churn risk learnt from the same data, churn risk x
   CLV, the company's own risk score, random) the true value saved by calling the top 10%
   and the Qini coefficient. ``--pairs`` train/test company pairs (seeds 3001/3002, ...;
   the learners' defaults were chosen on 2001/2002).
3. **Drivers**: Spearman correlation between estimated relative weights and the true
   weights on ``--seeds`` synthetic survey sets; weights sum to R²; the real customerSat
   ranking with bootstrap CIs (when fetched).

    nice -n 10 .venv/bin/python bench/bench_whatworks.py --seeds 60 --out bench/results/whatworks.json

Prints a summary and writes one JSON file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custsat.data.synth import generate_crm  # noqa: E402
from custsat.data.synth_campaigns import true_average_effects  # noqa: E402
from custsat.features.outcomes import customer_outcomes  # noqa: E402
from custsat.models import uplift as U  # noqa: E402
from custsat.models.drivers import analyse_drivers, ols_r2  # noqa: E402
from custsat.models.effects import OUTCOMES, estimate_effects  # noqa: E402


def campaign_customers(crm) -> pd.DataFrame:
    listed = crm.truth["campaign_list"]
    outcomes = customer_outcomes(crm.tables, listed["customer_id"], listed["campaign_start"].iloc[0], 90)
    return listed.merge(outcomes, left_on="customer_id", right_index=True)


def coverage(seeds: int, customers: int) -> dict:
    rows = []
    retained = [o for o in OUTCOMES if o.column == "retained"]
    for s in range(seeds):
        crm = generate_crm(customers, seed=10_000 + s, past_campaign=True)
        effects = estimate_effects(campaign_customers(crm), outcomes=retained, segments=())
        truth = true_average_effects(crm.truth["campaign_outcomes"]).set_index("action_id")["true_effect_retained"]
        for row in effects.itertuples(index=False):
            t = truth[row.action_id]
            rows.append({"seed": s, "action": row.action_id, "estimate": row.difference, "truth": t,
                         "covered": row.ci_low <= t <= row.ci_high, "n_treated": row.n_treated,
                         "n_control": row.n_control, "width": row.ci_high - row.ci_low})
    frame = pd.DataFrame(rows)
    out = {}
    for action, g in frame.groupby("action"):
        err = g["estimate"] - g["truth"]
        out[action] = {
            "seeds": int(len(g)), "coverage": float(g["covered"].mean()),
            "mean_truth": float(g["truth"].mean()), "mean_estimate": float(g["estimate"].mean()),
            "bias": float(err.mean()), "bias_mc_se": float(err.std(ddof=1) / np.sqrt(len(g))),
            "bias_within_2_se": bool(abs(err.mean()) <= 2 * err.std(ddof=1) / np.sqrt(len(g))),
            "mean_ci_width": float(g["width"].mean()), "mean_n_treated": float(g["n_treated"].mean()),
            "mean_n_control": float(g["n_control"].mean()),
        }
    return out


def pilot(customers: int, seed: int) -> pd.DataFrame:
    crm = generate_crm(customers, seed=seed, past_campaign=True)
    listed = crm.truth["campaign_list"]
    frame = U.training_frame(crm.tables, listed, "retention_call", listed["campaign_start"].iloc[0], 90)
    truth = crm.truth["campaign_outcomes"].set_index("customer_id")[["effect_retained", "annual_value"]]
    return frame.join(truth, on="customer_id")


def uplift(pairs: int, train_customers: int, test_customers: int, share: float = 0.1) -> dict:
    results = []
    for p in range(pairs):
        train, test = pilot(train_customers, 3001 + 2 * p), pilot(test_customers, 3002 + 2 * p)
        x_train = U.feature_matrix(train.drop(columns=["effect_retained", "annual_value"]))
        x_test = U.feature_matrix(test.drop(columns=["effect_retained", "annual_value"]))[x_train.columns]
        treated = test["treatment_group"].eq("treated").to_numpy()
        y = test["retained"].to_numpy()
        clv = test["clv"].to_numpy()
        rng = np.random.default_rng(p)
        for kind in ("x", "t"):
            model = U.make_learner(kind, random_state=0, n_jobs=2).fit(x_train, train["treatment_group"], train["retained"])
            up = model.predict(x_test)
            risk = 1 - model.predict_control(x_test)
            scores = {"uplift x clv": up * clv, "uplift": up, "churn risk (same data)": risk,
                      "churn risk x clv": risk * clv, "company risk score": test["churn_probability"].to_numpy(),
                      "random": rng.random(len(test))}
            table = U.targeting_table(scores, treated, y, true_effect=test["effect_retained"].to_numpy(),
                                      value=test["annual_value"].to_numpy(), share=share)
            table.insert(0, "learner", kind)
            table.insert(0, "pair", p)
            results.append(table)
        oracle = U.true_value_saved(test["effect_retained"] * test["annual_value"], test["effect_retained"],
                                    test["annual_value"], share)
        results[-1] = pd.concat([results[-1], pd.DataFrame([{"pair": p, "learner": "truth", "ranking": "oracle",
                                                              "true_value_saved_per_100": oracle["value_saved_per_100"]}])])
    frame = pd.concat(results, ignore_index=True)
    summary = frame.groupby(["learner", "ranking"], sort=False)[["qini", "true_qini", "auuc", "true_value_saved_per_100",
                                                                 "observed_value_saved_per_100"]].mean()
    x = frame[frame["learner"] == "x"].set_index(["pair", "ranking"])
    ratio = (x.xs("uplift x clv", level="ranking")["true_value_saved_per_100"]
             / x.xs("churn risk (same data)", level="ranking")["true_value_saved_per_100"])
    return {"per_pair": frame.to_dict(orient="records"),
            "mean": summary.reset_index().to_dict(orient="records"),
            "ratio_uplift_clv_vs_churn_risk": ratio.tolist(),
            "train_customers": train_customers, "test_customers": test_customers, "share": share}


def drivers(seeds: int, customers: int) -> dict:
    rhos, gaps = [], []
    for s in range(seeds):
        crm = generate_crm(customers, seed=20_000 + s, surveys=True)
        surveys = crm.tables["surveys"]
        result = analyse_drivers(surveys, "overall_satisfaction", n_boot=0)
        truth = crm.truth["survey_weights"].set_index("attribute")
        est = result.table.set_index("attribute").loc[truth.index, "weight"]
        rhos.append(spearmanr(est, truth["true_weight"]).statistic)
        x = surveys[result.attributes].to_numpy(float)
        gaps.append(abs(result.r2 - ols_r2(x, surveys["overall_satisfaction"].to_numpy(float))))
    out = {"seeds": seeds, "spearman_mean": float(np.mean(rhos)), "spearman_min": float(np.min(rhos)),
           "share_seeds_spearman_ge_0_9": float(np.mean(np.array(rhos) >= 0.9 - 1e-9)),
           "max_abs_weights_minus_r2": float(np.max(gaps))}
    try:
        from custsat.data.fetch import load_customer_sat

        real = analyse_drivers(load_customer_sat(), "overall_satisfaction", n_boot=1000, seed=0)
        out["customer_sat"] = {"r2": real.r2, "n": real.n_respondents,
                               "table": real.table[["attribute", "weight", "weight_low", "weight_high", "share",
                                                    "rank", "rank_low", "rank_high", "performance",
                                                    "quadrant"]].to_dict(orient="records")}
    except FileNotFoundError:
        out["customer_sat"] = "not fetched (custsat data fetch)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--customers", type=int, default=5000, help="customers per company (coverage, drivers)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--train-customers", type=int, default=60_000)
    parser.add_argument("--test-customers", type=int, default=40_000)
    parser.add_argument("--parts", nargs="+", default=["coverage", "uplift", "drivers"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/whatworks.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    started = time.perf_counter()
    if "coverage" in args.parts:
        report["coverage"] = coverage(args.seeds, args.customers)
        print(pd.DataFrame(report["coverage"]).T[["seeds", "coverage", "mean_truth", "bias", "bias_mc_se",
                                                   "mean_n_treated", "mean_n_control"]].to_string(), flush=True)
    if "uplift" in args.parts:
        report["uplift"] = uplift(args.pairs, args.train_customers, args.test_customers)
        print(pd.DataFrame(report["uplift"]["mean"]).to_string(), flush=True)
        print("true value saved, uplift x clv / churn risk:", np.round(report["uplift"]["ratio_uplift_clv_vs_churn_risk"], 2))
    if "drivers" in args.parts:
        report["drivers"] = drivers(args.seeds, args.customers)
        print({k: v for k, v in report["drivers"].items() if k != "customer_sat"}, flush=True)
        if isinstance(report["drivers"]["customer_sat"], dict):
            print(pd.DataFrame(report["drivers"]["customer_sat"]["table"]).round(3).to_string())
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
