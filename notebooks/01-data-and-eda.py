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
# # 01 — Data and EDA
# The input contracts and their validation report, the real datasets' profiles, RFM and ABC
# (a Pareto curve) and lifecycle stages on the synthetic demo company.
# Everything here calls the `custsat` package; nothing is re-implemented.

# %% tags=["parameters"]
fast = True  # CI runs with fast=True on a small company
n_customers = 1500
seed = 42
as_of = "2026-06-30"

# %%
import matplotlib.pyplot as plt
import mlflow
import pandas as pd

from custsat import tracking
from custsat.data import fetch
from custsat.data.contracts import ContractError, contract_markdown, validate_tables
from custsat.data.synth import generate_crm
from custsat.features import build_customer_features, company_nps

n = 400 if fast else n_customers
run = tracking.start_run("notebooks", run_name="01-data-and-eda", params={"fast": fast, "n_customers": n})
run.__enter__()

# %% [markdown]
# ## Contracts and a validation report

# %%
print(contract_markdown())
crm = generate_crm(n, seed=seed, as_of=as_of)
tables = validate_tables(crm.tables)
{name: len(frame) for name, frame in tables.items()}

# %% [markdown]
# Bad input is refused with the table, the column, the rule and the offending rows:

# %%
broken = dict(crm.tables)
broken["transactions"] = crm.tables["transactions"].assign(amount=crm.tables["transactions"]["amount"].astype(str))
broken["transactions"].loc[broken["transactions"].index[:3], "amount"] = "n/a"
try:
    validate_tables(broken)
except ContractError as error:
    print(error)

# %% [markdown]
# ## The real datasets

# %%
profiles = {}
try:
    cdnow = fetch.load_cdnow()
    profiles["CDNOW transactions"] = len(cdnow["transactions"])
    profiles["CDNOW customers"] = cdnow["transactions"]["customer_id"].nunique()
    zh, en, telco = fetch.load_reviews_zh(), fetch.load_reviews_en(), fetch.load_telco()
    profiles.update({
        "zh reviews (pos/neg)": f"{(zh.label == 'positive').sum()} / {(zh.label == 'negative').sum()}",
        "en reviews (train/test)": f"{(en.split == 'train').sum()} / {(en.split == 'test').sum()}",
        "telco customers (churn rate)": f"{len(telco)} ({telco['churned'].mean():.1%})",
    })
except FileNotFoundError as missing:
    print(missing)
pd.Series(profiles, name="value").to_frame()

# %% [markdown]
# ## RFM, ABC and lifecycle on the demo company

# %%
features = build_customer_features(tables, as_of)
buyers = features[features["frequency"] > 0]
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
buyers["rfm_segment"].value_counts().plot.barh(ax=axes[0], title="RFM segments")
revenue = buyers["monetary_total"].sort_values(ascending=False).clip(lower=0)
cumulative = revenue.cumsum() / revenue.sum()
axes[1].plot(range(1, len(cumulative) + 1), cumulative.values)
axes[1].axhline(0.8, ls="--", c="grey")
axes[1].axhline(0.95, ls=":", c="grey")
axes[1].set(title="Pareto curve (ABC: 80% / 95%)", xlabel="customers by revenue", ylabel="cumulative revenue share")
features["lifecycle_stage"].value_counts().plot.bar(ax=axes[2], title="Lifecycle stages")
fig.tight_layout()
mlflow.log_figure(fig, "rfm_abc_lifecycle.png")

# %%
abc = features.groupby("abc_class", dropna=False).agg(customers=("customer_id", "size"), revenue=("monetary_total", "sum"))
abc["revenue_share"] = abc["revenue"] / abc["revenue"].sum()
abc

# %%
pd.concat([company_nps(tables["feedback"]), company_nps(tables["feedback"], by="segment", customers=tables["customers"])])

# %%
mlflow.log_metrics({"customers": float(len(features)), "buyers": float(len(buyers))})
run.__exit__(None, None, None)
