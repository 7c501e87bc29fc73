"""Registered model names and the quality gate that decides which version serves.

Every model family registers its versions under one name (below). A new version becomes
``champion`` only when it passes the gate: it must beat each baseline of its own training
run and the current champion, metric by metric, on the same held-out data. Otherwise it
is registered as ``challenger`` and the reasons are recorded on the run and on the version.
``force`` promotes anyway and records that the promotion was forced; a run cut short
(``complete=False``) is never promoted, forced or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from custsat import tracking

SENTIMENT_MODEL = "custsat-sentiment"
#: the distilled few-layer student that scoring uses by default (``custsat-sentiment`` is the teacher)
SENTIMENT_FAST_MODEL = "custsat-sentiment-fast"
TOPIC_MODEL = "custsat-topics"
CHURN_MODEL = "custsat-churn"
CLV_MODEL = "custsat-clv"
#: uplift models are registered per action: ``custsat-uplift-<action id>``
UPLIFT_MODEL_PREFIX = "custsat-uplift-"


def uplift_model_name(action: str) -> str:
    return UPLIFT_MODEL_PREFIX + action


class ModelInputError(ValueError):
    """A registered model refuses its input (e.g. text where it reads numbers); serving
    reports it as a schema mismatch that names the model."""


@dataclass(frozen=True)
class Comparison:
    """One metric of the candidate against one reference (a baseline or the champion)."""

    metric: str
    against: str
    candidate: float
    reference: float
    higher_is_better: bool = True

    @property
    def won(self) -> bool:
        """Strictly better; a tie does not displace the reference."""
        if self.higher_is_better:
            return self.candidate > self.reference
        return self.candidate < self.reference

    def describe(self) -> str:
        verdict = "beats" if self.won else "does not beat"
        return f"{self.metric} {self.candidate:.4f} {verdict} {self.against} ({self.reference:.4f})"


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided for a candidate version, and why."""

    alias: str
    passed: bool
    forced: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        head = f"{self.alias}" + (" (forced)" if self.forced else "")
        return head + ": " + "; ".join(self.reasons) if self.reasons else head


def gate(comparisons: Sequence[Comparison], *, complete: bool = True, force: bool = False) -> GateDecision:
    """Champion when every comparison is won (or ``force``), and the run was complete."""
    lost = [c for c in comparisons if not c.won]
    passed = complete and not lost
    reasons = [c.describe() for c in comparisons]
    if not complete:
        reasons.insert(0, "the training run was cut short (incomplete): never promoted")
    if passed:
        return GateDecision(tracking.CHAMPION, True, False, tuple(reasons))
    if force and complete:
        return GateDecision(tracking.CHAMPION, False, True, tuple(reasons))
    return GateDecision(tracking.CHALLENGER, False, False, tuple(reasons))


def apply_decision(model_name: str, version: str, decision: GateDecision) -> str:
    """Point ``decision.alias`` at ``version`` and record the decision; return the alias."""
    previous = tracking.champion_version(model_name)
    tracking.assign_alias(model_name, version, decision.alias, record={
        "promotion_decision": decision.alias,
        "promotion_forced": str(decision.forced).lower(),
        "gate_passed": str(decision.passed).lower(),
        "gate_reasons": " | ".join(decision.reasons)[:4900],
        "previous_champion_version": previous or "none",
    })
    return decision.alias
