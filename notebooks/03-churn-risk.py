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
# # 03 — Churn risk
# Time-based validation on stacked point-in-time snapshots, calibration and gains, feature
# contributions with individual reason codes, and the Telco benchmark. Models trained here
# are registered as `custsat-churn-notebook`, so they never compete with the production
# champion `custsat-churn`.

# %% tags=["parameters"]
fast = True
n_customers = 5000
seed = 42
as_of = "2026-06-30"
horizon_days = 90

# %%
# %matplotlib inline
import mlflow
import pandas as pd

from custsat import tracking
from custsat.config import get_settings
from custsat.data.synth import generate_crm
from custsat.models import metrics
from custsat.models.churn import train_churn_from_table, train_churn_from_tables

n = 1500 if fast else n_customers
trials = 0 if fast else 8

# %% [markdown]
# ## Training on the synthetic company: train on earlier snapshots, validate on the latest

# %%
crm = generate_crm(n, seed=seed, as_of=as_of)
result = train_churn_from_tables(
    crm.tables, horizon_days=horizon_days, seed=seed, n_trials=trials, model_name="custsat-churn-notebook"
)
pd.Series(result.split, name="split").to_frame()

# %%
summary = pd.DataFrame(
    {
        "LightGBM calibrated": {k: result.metrics[f"val_{k}"] for k in ("roc_auc", "pr_auc", "brier", "log_loss")},
        "LightGBM raw": {k: result.metrics.get(f"val_raw_{k}") for k in ("roc_auc", "pr_auc", "brier", "log_loss")},
        "logistic regression": {k: result.metrics.get(f"val_lr_{k}") for k in ("roc_auc", "pr_auc", "brier", "log_loss")},
    }
)
summary

# %% [markdown]
# ## Calibration and gains on the validation snapshot

# %%
valid = result.validation
y = valid["churned"].astype(int).to_numpy()
probability = valid["churn_probability"].to_numpy()
metrics.plot_calibration(y, {"LightGBM calibrated": probability})

# %%
metrics.plot_gains(y, {"LightGBM calibrated": probability})

# %% [markdown]
# ## Why: contributions and individual reason codes

# %%
valid.sort_values("churn_probability", ascending=False).head(10)

# %% [markdown]
# ## The Telco benchmark (real data, stratified 25% test split)

# %%
try:
    from custsat.data.fetch import load_telco

    load_telco()
    telco = train_churn_from_table(
        get_settings().interim_dir / "telco.parquet", label="churned", id_column="customer_id",
        exclude=["churn"], seed=seed, n_trials=trials, cv_folds=3 if fast else 5,
        model_name="custsat-churn-telco-notebook",
    )
    telco_table = pd.DataFrame(
        {"LightGBM": [telco.metrics["val_roc_auc"], telco.metrics["val_brier"]], "logistic regression": [telco.metrics["val_lr_roc_auc"], telco.metrics["val_lr_brier"]]},
        index=["ROC-AUC", "Brier"],
    )
except FileNotFoundError as missing:
    telco_table = str(missing)
telco_table

# %%
with tracking.start_run("notebooks", run_name="03-churn-risk", params={"fast": fast, "n_customers": n}):
    mlflow.log_metrics({"val_roc_auc": result.metrics["val_roc_auc"], "val_brier": result.metrics["val_brier"]})
