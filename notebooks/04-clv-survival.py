# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Customer lifetime value with a survival lifetime
# Kaplan–Meier curves by segment, the survival CLV model (Pareto/NBD-type lifetime × NBD
# purchases × Gamma-Gamma spend, with a learned correction of who buys) on the synthetic
# company checked against its hidden future, and the CDNOW protocol of `make eval-clv`
# against BG/NBD + Gamma-Gamma and the simple baselines.

# %% tags=["parameters"]
fast = True
n_customers = 3000
seed = 42
as_of = "2026-06-30"

# %%
import matplotlib.pyplot as plt
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy import stats

from custsat import tracking
from custsat.data.synth import generate_crm
from custsat.models.clv import SurvivalCLV, SurvivalNBD, build_scoring_frame, customer_summary
from custsat.models.clv.crm_tables import satisfaction_source
from custsat.models.clv.protocol import CDNOW_SPLITS, EvaluationData, default_models, evaluate_clv_protocol
from custsat.models.clv.purchase_history import interpurchase_gaps
from custsat.models.clv.report import HEADLINE_HEADER, headline_rows, plot_deciles
from custsat.models.clv.survival import churn_labels, inactivity_threshold

n = 800 if fast else n_customers
crm = generate_crm(n, seed=seed, as_of=as_of)
tables = crm.tables
last_day = crm.as_of.floor("D") - pd.Timedelta(days=1)  # the export holds events up to as_of's midnight

# %% [markdown]
# ## Kaplan–Meier: time to declared churn, by segment
# A customer is declared churned after an inactivity gap longer than the 90th percentile of
# observed inter-purchase gaps; customers still active are right-censored. (The CLV model does
# not use this hard rule: its lifetime is latent and fitted by marginal likelihood.)

# %%
threshold = inactivity_threshold(interpurchase_gaps(tables["transactions"], last_day))
summary = customer_summary(tables["transactions"], last_day)
labels = churn_labels(summary, threshold).join(tables["customers"].set_index("customer_id")["segment"])
fig, ax = plt.subplots(figsize=(7, 4))
for segment, group in labels.groupby("segment"):
    KaplanMeierFitter(label=str(segment)).fit(group.iloc[:, 0], group.iloc[:, 1]).plot_survival_function(ax=ax)
ax.set(title=f"Survival to declared churn (threshold {threshold:.0f} days)", xlabel="days since first purchase")
fig

# %% [markdown]
# ## The survival CLV model on the synthetic company
# Satisfaction features (computed as known on each cut-off day) act on the lifetime scale and
# feed the learned purchase correction; contracts give a known state.

# %%
features = satisfaction_source(tables)
model = SurvivalCLV(purchase_model=SurvivalNBD(covariates=("csat_mean", "complaints_total", "feedback_count")),
                    seed=seed).fit(tables["transactions"], last_day, features, tables["contracts"])
pd.Series(model.summary(), name="fitted").to_frame()

# %%
frame = build_scoring_frame(tables["transactions"], last_day, features(last_day), tables["contracts"])
predicted = model.predict_frame(frame)
predicted[["expected_remaining_lifetime_days", "survival_at_horizon", "expected_spend_horizon", "clv", "clv_low",
           "clv_high", "p_alive"]].describe().T

# %% [markdown]
# Against the generator's hidden next twelve months: rank correlation of predicted and true
# future spend, and how often the true spend falls in the 80% interval.

# %%
future = crm.truth["future_transactions"]
future = future[future["timestamp"] < last_day + pd.Timedelta(days=366)]
truth_spend = future.groupby("customer_id")["amount"].sum().reindex(predicted.index).fillna(0.0).clip(lower=0)
inside = (truth_spend >= predicted["spend_low"] - 1e-9) & (truth_spend <= predicted["spend_high"] + 1e-9)
check = pd.Series({
    "Spearman (predicted vs true 12-month spend)": stats.spearmanr(predicted["expected_spend_horizon"], truth_spend).statistic,
    "total predicted / true spend": predicted["expected_spend_horizon"].sum() / truth_spend.sum(),
    "80% coverage, all": inside.mean(),
    "80% coverage, buyers": inside[truth_spend > 0].mean(),
})
check.to_frame("value")

# %% [markdown]
# ## CDNOW: the multi-split protocol
# Fast mode runs the 2,357-customer sample on the first split with a short bootstrap; full mode
# runs CDNOW full on the three splits (the report of `make eval-clv` also covers the sample and
# the synthetic company).

# %%
try:
    from custsat.data.fetch import load_cdnow

    cdnow = load_cdnow(sample=fast)["transactions"]
    data = EvaluationData("CDNOW sample" if fast else "CDNOW full", cdnow, CDNOW_SPLITS[:1] if fast else CDNOW_SPLITS)
    results = evaluate_clv_protocol([data], models=default_models(seed), n_boot=50 if fast else 200, seed=seed)
except FileNotFoundError as missing:
    results = []
    print(f"CDNOW not fetched ({missing}); run `make data`")
pd.DataFrame(headline_rows(results), columns=HEADLINE_HEADER) if results else None

# %%
results[0].metrics.round(3) if results else None

# %%
plot_deciles(results[0]) if results else None

# %%
with tracking.start_run("notebooks", run_name="04-clv-survival", params={"fast": fast, "n_customers": n}):
    tracking.log_metrics({"inactivity_threshold_days": float(threshold),
                          "synthetic_spearman_future_spend": float(check.iloc[0])})
