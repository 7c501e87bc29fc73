# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Customer lifetime value with survival models
# Kaplan–Meier curves by segment, the survival regression and its checks, CLV with 80%
# intervals, and the CDNOW head-to-head against BG/NBD + Gamma-Gamma (the `make eval-clv`
# protocol: calibration 1997-01-01..1997-09-30, holdout 1997-10-01..1998-06-30).

# %% tags=["parameters"]
fast = True
n_customers = 3000
seed = 42
as_of = "2026-06-30"

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from lifelines import KaplanMeierFitter

from custsat import tracking
from custsat.data.synth import generate_crm
from custsat.models.clv.estimator import SurvivalCLV
from custsat.models.clv.evaluate import plot_deciles, run_cdnow_benchmark
from custsat.models.clv.summary import customer_summary, interpurchase_gaps
from custsat.models.clv.survival import churn_labels, inactivity_threshold

n = 800 if fast else n_customers
crm = generate_crm(n, seed=seed, as_of=as_of)
transactions = crm.tables["transactions"]

# %% [markdown]
# ## Kaplan–Meier: time to declared churn, by segment
# A customer is declared churned after an inactivity gap longer than the 90th percentile of
# observed inter-purchase gaps; customers still active at `as_of` are right-censored.

# %%
threshold = inactivity_threshold(interpurchase_gaps(transactions, pd.Timestamp(as_of)))
summary = customer_summary(transactions, pd.Timestamp(as_of))
labels = churn_labels(summary, threshold).join(crm.tables["customers"].set_index("customer_id")["segment"])
fig, ax = plt.subplots(figsize=(7, 4))
for segment, group in labels.groupby("segment"):
    KaplanMeierFitter(label=str(segment)).fit(group.iloc[:, 0], group.iloc[:, 1]).plot_survival_function(ax=ax)
ax.set(title=f"Survival to declared churn (threshold {threshold:.0f} days)", xlabel="days since first purchase")
fig

# %% [markdown]
# ## The survival regression, its checks and CLV with intervals

# %%
clv = SurvivalCLV(seed=seed).fit(transactions, pd.Timestamp(as_of), contracts=crm.tables.get("contracts"))
pd.Series(clv.summary(), name="fitted").to_frame()

# %%
predicted = clv.predict(transactions, pd.Timestamp(as_of), contracts=crm.tables.get("contracts"))
predicted[["expected_remaining_lifetime_days", "survival_at_horizon", "expected_spend_horizon", "clv", "clv_low", "clv_high", "clv_tier"]].describe().T

# %%
truth = crm.truth["customers"].set_index("customer_id")
check = predicted.join(truth[["value", "satisfaction"]])
check[["clv", "value", "satisfaction"]].corr(method="spearman")

# %% [markdown]
# ## CDNOW head-to-head against BG/NBD + Gamma-Gamma
# Full mode runs the full 23,570 customers; fast mode the 2,357-customer sample.

# %%
try:
    from custsat.data.fetch import load_cdnow

    cdnow = load_cdnow(sample=fast)
    benchmark = run_cdnow_benchmark(cdnow["transactions"], seed=seed, label="sample" if fast else "full")
    display_table = benchmark["table"]
    reproduction = benchmark["reproduction"]
except (FileNotFoundError, ImportError) as missing:
    display_table, reproduction, benchmark = str(missing), None, None
display_table

# %%
reproduction

# %%
if benchmark is not None:
    plot_deciles(benchmark["deciles"], f"CDNOW {benchmark['label']}: holdout spend by predicted decile")

# %%
with tracking.start_run("notebooks", run_name="04-clv-survival", params={"fast": fast, "n_customers": n}):
    mlflow.log_metric("inactivity_threshold_days", float(threshold))
