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
# # 05 — Scoring the demo company and the report
# Score every customer with the registered champions, apply the action policy, look at the
# scored list, write the report and check drift. In fast mode (CI) the feedback arrives
# pre-labelled with the synthetic ground truth, as if the company's ticketing tool had
# tagged it, so no text model is needed; in full mode the registered text champions
# classify it. Missing churn/CLV champions are trained first on the same company.

# %% tags=["parameters"]
fast = True
n_customers = 3000
seed = 42
as_of = "2026-06-30"

# %%
import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from custsat import tracking
from custsat.data.synth import generate_crm, write_crm
from custsat.models.churn import train_churn_from_tables
from custsat.models.clv.train import train_and_register
from custsat.serving.policy import load_policy
from custsat.serving.report import write_scoring_report
from custsat.serving.score import score_tables

n = 600 if fast else n_customers
crm = generate_crm(n, seed=seed, as_of=as_of)
tables = dict(crm.tables)
if fast:
    truth = crm.truth["feedback"].set_index("feedback_id").loc[tables["feedback"]["feedback_id"]]
    tables["feedback"] = tables["feedback"].assign(
        sentiment=truth["sentiment"].to_numpy(),
        sentiment_score=truth["latent_score"].clip(-1, 1).to_numpy(),
        topics=truth["topics"].to_numpy(),
    )

# %% [markdown]
# ## Champions: use the registered ones, train them if missing

# %%
if tracking.champion_version("custsat-churn") is None:
    train_churn_from_tables(tables, n_trials=0, seed=seed)
if tracking.champion_version("custsat-clv") is None:
    folder = Path(tempfile.mkdtemp())
    write_crm(crm, folder)
    train_and_register(folder)
{name: tracking.champion_version(name) for name in ("custsat-churn", "custsat-clv", "custsat-sentiment", "custsat-topics")}

# %% [markdown]
# ## The action policy (data, not code)

# %%
policy = load_policy()
pd.DataFrame(
    [{"priority": rank, "action": rule.id, "en": rule.en, "zh": rule.zh, "when": rule.when.model_dump(exclude_none=True, by_alias=True)} for rank, rule in enumerate(policy.rules, 1)]
    + [{"priority": len(policy.rules) + 1, "action": policy.default.id, "en": policy.default.en, "zh": policy.default.zh, "when": "otherwise"}]
)

# %% [markdown]
# ## Score

# %%
result = score_tables(tables, as_of, policy=policy, text_cache=False)
scored = result.scored
scored.head(15)

# %%
scored["recommended_action"].value_counts().to_frame("customers")

# %%
pd.crosstab(scored["value_tier"], scored["churn_risk_tier"])

# %% [markdown]
# ## Drift between training and scoring features (PSI; > 0.2 is worth a look)

# %%
result.drift.sort_values("psi", ascending=False).head(10) if result.drift is not None else "the churn model carries no feature reference"

# %% [markdown]
# ## The report

# %%
report = write_scoring_report(Path(tempfile.mkdtemp()) / "scoring_report.html", scored, feedback=result.feedback, drift=result.drift, metadata=result.metadata)
print(report, report.stat().st_size, "bytes")

# %%
with tracking.start_run("notebooks", run_name="05-scoring-and-report", params={"fast": fast, "n_customers": n}):
    mlflow.log_metrics({"customers_scored": float(len(scored)), "value_at_risk": float((scored["clv"].fillna(0) * scored["churn_probability"]).sum())})
