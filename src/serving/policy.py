"""Next-best-action policy as data: load, validate and apply.

A policy (YAML, see ``resources/policy/default_policy.yaml``) is an ordered list of rules,
each ``{id, en, zh, when, reason_en, reason_zh}``, plus a ``default`` action. Rules are tried
in order; the first whose condition holds assigns the action, so every customer gets
exactly one action with its reason and ``priority`` (1 = first rule; the default comes
last).

Conditions are a tiny, safe language (no ``eval``): a leaf tests one column
(``{column: churn_probability, gte: 0.5}``; operators ``eq ne in not_in gt gte lt lte
is_null``), and ``all`` / ``any`` / ``not`` combine them. Missing values never pass a
comparison (SQL semantics); ``is_null`` tests for them. Reasons are templates filled from
the customer's row: ``{column}`` or ``{column:<format spec>}``, where the spec may only
use the characters of numeric formats (``.0%``, ``,.0f``).

Control groups: each action may set ``holdout_share`` (a share in [0, 1) of the customers
who get it that are held out, receive the ``default`` action instead and measure what the
action changes); actions that do not set it use the policy's ``holdout_share`` (10%).
Assignment lives in :mod:`custsat.serving.campaigns`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custsat.config import RESOURCES_DIR

DEFAULT_POLICY_PATH = RESOURCES_DIR / "policy" / "default_policy.yaml"

COMPARATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([0-9.,%+\- fdeg]*))?\}")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
#: Extra template fields filled by the policy itself (not columns of the scored table).
TEMPLATE_FIELDS = ("team_en", "team_zh")


class PolicyError(ValueError):
    """A policy file that is not valid, or that names columns the scored table lacks."""


class Condition(BaseModel):
    """One node of a rule condition: a column test, or ``all`` / ``any`` / ``not``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    column: str | None = None
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    is_null: bool | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        combos = [k for k in ("all", "any", "not_") if getattr(self, k) is not None]
        tests = [k for k in COMPARATORS if getattr(self, "in_" if k == "in" else k) is not None]
        if self.column is None:
            if tests:
                raise ValueError(f"operator(s) {tests} need a 'column'")
            if len(combos) != 1:
                raise ValueError(
                    "a condition must be either {column: NAME, <operator>: VALUE} or exactly one of "
                    f"all/any/not; got {len(combos)} combinators"
                )
            for key in ("all", "any"):
                if getattr(self, key) == []:
                    raise ValueError(f"'{key}' needs at least one condition")
        else:
            if combos:
                raise ValueError(f"a column test cannot also have {[c.rstrip('_') for c in combos]}")
            if not tests:
                raise ValueError(
                    f"column '{self.column}' has no operator; use one of {', '.join(COMPARATORS)}"
                )
        return self

    def columns(self) -> set[str]:
        """Every column this condition reads."""
        if self.column is not None:
            return {self.column}
        out: set[str] = set()
        for child in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            out |= child.columns()
        return out

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask over ``frame``'s rows (missing values never pass a comparison)."""
        if self.all is not None:
            mask = np.ones(len(frame), dtype=bool)
            for child in self.all:
                mask &= child.evaluate(frame)
            return mask
        if self.any is not None:
            mask = np.zeros(len(frame), dtype=bool)
            for child in self.any:
                mask |= child.evaluate(frame)
            return mask
        if self.not_ is not None:
            return ~self.not_.evaluate(frame)
        values = frame[self.column]
        present = values.notna().to_numpy()
        mask = np.ones(len(frame), dtype=bool)
        if self.is_null is not None:
            mask &= (~present) if self.is_null else present
        for op in ("eq", "ne"):
            target = getattr(self, op)
            if target is not None:
                hit = _equal(values, target)
                mask &= present & (hit if op == "eq" else ~hit)
        if self.in_ is not None:
            mask &= present & _isin(values, self.in_)
        if self.not_in is not None:
            mask &= present & ~_isin(values, self.not_in)
        for op, fn in (("gt", np.greater), ("gte", np.greater_equal), ("lt", np.less), ("lte", np.less_equal)):
            bound = getattr(self, op)
            if bound is not None:
                numeric = _numeric(values, self.column)
                with np.errstate(invalid="ignore"):
                    mask &= present & fn(numeric, bound)
        return mask


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        example = values[bad].iloc[0]
        raise PolicyError(
            f"policy compares column '{column}' with a number, but it holds text (e.g. {example!r})"
        )
    return converted.to_numpy(dtype="float64", na_value=np.nan)


def _normalise(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def _equal(values: pd.Series, target: Any) -> np.ndarray:
    return _isin(values, [target])


def _isin(values: pd.Series, targets: Iterable[Any]) -> np.ndarray:
    targets = list(targets)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = [float(t) for t in targets if isinstance(t, (int, float)) and not isinstance(t, bool)]
        return values.isin(numbers).to_numpy()
    as_text = values.astype("string")
    return as_text.isin([str(_normalise(t)) for t in targets]).fillna(False).to_numpy(dtype=bool)


class Action(BaseModel):
    """An action with readable names and reason templates."""

    model_config = ConfigDict(extra="forbid")

    id: str
    en: str
    zh: str
    reason_en: str
    reason_zh: str
    holdout_share: float | None = Field(
        default=None, ge=0.0, lt=1.0,
        description="Share of this action's customers held out as a control group (None: the policy's).",
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"action id {value!r} must be lower-case letters, digits and '_'")
        return value

    @field_validator("en", "zh", "reason_en", "reason_zh")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("reason_en", "reason_zh")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        stripped = _PLACEHOLDER.sub("", value)
        if "{" in stripped or "}" in stripped:
            raise ValueError(
                f"reason template {value!r} has a malformed placeholder; use {{column}} or "
                "{column:.0%} (numeric formats only)"
            )
        return value

    def template_columns(self) -> set[str]:
        names = {m.group(1) for t in (self.reason_en, self.reason_zh) for m in _PLACEHOLDER.finditer(t)}
        return names - set(TEMPLATE_FIELDS)


class Rule(Action):
    """An action with the condition that triggers it."""

    when: Condition


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str
    zh: str


URGENCIES = ("high", "normal")


def _check_zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai or UTC)") from None
    return name


class TriageDeadline(BaseModel):
    """Hours to first response and to resolution for items matching urgency x channel x topic.

    A missing key matches any value; the most specific matching entry wins (ties: the first).
    """

    model_config = ConfigDict(extra="forbid")

    urgency: str | None = None
    channel: str | None = None
    topic: str | None = None
    respond_hours: float = Field(gt=0)
    resolve_hours: float = Field(gt=0)
    clock: Literal["business", "calendar"] = Field(
        default="business", description="business: count only business hours (when configured); calendar: 24/7.")

    @model_validator(mode="after")
    def _respond_first(self) -> TriageDeadline:
        if self.resolve_hours < self.respond_hours:
            raise ValueError(f"resolve_hours ({self.resolve_hours}) must be >= respond_hours ({self.respond_hours})")
        return self


class TriageBusinessHours(BaseModel):
    """Opening hours (local wall time in ``timezone``) that business-clock deadlines count."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="18:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday.")
    holidays: list[str] = Field(default_factory=list, description="Closed dates, YYYY-MM-DD.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("weekdays")
    @classmethod
    def _valid_days(cls, value: list[int]) -> list[int]:
        if not value or any(d not in range(7) for d in value):
            raise ValueError(f"weekdays must be a non-empty list of 0 (Monday) .. 6 (Sunday), got {value}")
        return sorted(set(value))

    @field_validator("holidays")
    @classmethod
    def _valid_dates(cls, value: list[str]) -> list[str]:
        for day in value:
            try:
                pd.Timestamp(str(day))
            except ValueError:
                raise ValueError(f"holiday {day!r} is not a date (use YYYY-MM-DD)") from None
        return [str(d) for d in value]

    @model_validator(mode="after")
    def _opens_before_closing(self) -> TriageBusinessHours:
        if self.end <= self.start:
            raise ValueError(f"business hours end ({self.end}) must be after start ({self.start})")
        return self


class TriageWeights(BaseModel):
    """Weights of the priority score's components (each component lies in [0, 1])."""

    model_config = ConfigDict(extra="forbid")

    urgency: float = Field(default=3.0, ge=0)
    negativity: float = Field(default=2.0, ge=0)
    repeat: float = Field(default=1.5, ge=0)
    value: float = Field(default=1.0, ge=0)
    churn: float = Field(default=1.5, ge=0)
    overdue: float = Field(default=1.0, ge=0)


class TriagePolicy(BaseModel):
    """The ``triage:`` section: deadlines, business hours, priority weights, windows."""

    model_config = ConfigDict(extra="forbid")

    lookback_days: int = Field(default=30, ge=1, description="Resolved items stay in the queue this many days.")
    stale_after_days: int | None = Field(
        default=180, ge=1, description="Open items received longer ago are left out of the queue (counted apart).")
    repeat_window_days: int = Field(default=90, ge=1, description="Earlier complaints of the customer counted as repeats.")
    repeat_saturation: int = Field(default=3, ge=1, description="This many earlier complaints give the full repeat score.")
    analytics_weeks: int = Field(default=12, ge=1, description="Weeks of follow-up analytics (by week received).")
    data_timezone: str = Field(default="UTC", description="Time zone of the input's naive timestamps.")
    business_hours: TriageBusinessHours | None = None
    deadlines: list[TriageDeadline] = Field(default_factory=lambda: [
        TriageDeadline(urgency="high", respond_hours=4, resolve_hours=24),
        TriageDeadline(urgency="normal", respond_hours=24, resolve_hours=72),
    ])
    weights: TriageWeights = Field(default_factory=TriageWeights)

    @field_validator("data_timezone")
    @classmethod
    def _known_data_zone(cls, value: str) -> str:
        return _check_zone(value)

    @model_validator(mode="after")
    def _catch_all(self) -> TriagePolicy:
        general = {d.urgency for d in self.deadlines if d.channel is None and d.topic is None}
        missing = [u for u in URGENCIES if u not in general and None not in general]
        if missing:
            raise ValueError(
                f"triage.deadlines needs an entry without channel/topic for urgency {missing} "
                "(or one without urgency), so that every item gets a deadline"
            )
        return self


class Policy(BaseModel):
    """An ordered set of rules plus a default action (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    recent_days: int = Field(default=30, ge=1, description="Window (days before as_of) of the recent-feedback signals.")
    holdout_share: float = Field(
        default=0.10, ge=0.0, lt=1.0,
        description="Control-group share of every rule that does not set its own holdout_share.",
    )
    rules: list[Rule] = Field(min_length=1)
    default: Action
    topic_teams: dict[str, Team] = Field(default_factory=dict)
    default_team: Team
    triage: TriagePolicy = Field(default_factory=TriagePolicy)

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        ids = [r.id for r in self.rules] + [self.default.id]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            raise ValueError(f"action ids must be unique; duplicated: {dups}")
        if self.default.holdout_share:
            raise ValueError(
                "the default action cannot have a holdout_share: control customers receive it"
            )
        return self

    @property
    def actions(self) -> list[Action]:
        """Every action in priority order (rules, then the default)."""
        return [*self.rules, self.default]

    def holdout_for(self, action_id: str) -> float:
        """The control-group share of ``action_id``: its own, else the policy's; 0 for the
        default action (its control group would get the very same action)."""
        if action_id == self.default.id:
            return 0.0
        for rule in self.rules:
            if rule.id == action_id:
                return self.holdout_share if rule.holdout_share is None else float(rule.holdout_share)
        raise KeyError(f"action '{action_id}' is not in the policy; its actions are {[a.id for a in self.actions]}")

    def required_columns(self) -> set[str]:
        cols: set[str] = set()
        for rule in self.rules:
            cols |= rule.when.columns()
        for action in self.actions:
            cols |= action.template_columns()
        return cols

    def team_for(self, topic: Any) -> Team:
        if topic is None or (isinstance(topic, float) and np.isnan(topic)):
            return self.default_team
        return self.topic_teams.get(str(topic), self.default_team)


def _format_errors(error: ValidationError, source: str, data: Any = None) -> str:
    lines = [f"invalid action policy {source}:"]
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(p) for p in loc) or "<top level>"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data, dict):
            try:
                rule_id = data["rules"][loc[1]].get("id")
            except (AttributeError, IndexError, KeyError, TypeError):
                rule_id = None
            if rule_id:
                where += f" (rule '{rule_id}')"
        lines.append(f"  - at {where}: {item['msg']}")
    lines.append("See the comments at the top of src/resources/policy/default_policy.yaml for the format.")
    return "\n".join(lines)


def parse_policy(data: Any, *, source: str = "<dict>") -> Policy:
    """Validate a policy given as parsed YAML; raise :class:`PolicyError` with every problem."""
    if not isinstance(data, dict):
        raise PolicyError(f"invalid action policy {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise PolicyError(_format_errors(error, source, data)) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy YAML file (default: the packaged default policy)."""
    path = Path(path) if path else DEFAULT_POLICY_PATH
    if not path.exists():
        raise PolicyError(f"action policy file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PolicyError(f"invalid action policy {path}: not valid YAML ({error})") from None
    return parse_policy(data, source=str(path))


def _format_value(value: Any, spec: str | None) -> str:
    """One template value as text: missing -> "n/a", whole floats without a spec as integers."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and not spec:
        value = int(value)
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    return str(value)


def _fill_rows(template: str, columns: Mapping[str, Sequence[Any]], n: int) -> np.ndarray:
    """``template`` filled for ``n`` rows: one pass per placeholder (not one regex per row)."""
    out = np.full(n, "", dtype=object)
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        name, spec = match.group(1), match.group(2)
        values = columns.get(name)
        text = (["n/a"] * n if values is None else [_format_value(v, spec) for v in values])
        out = out + template[pos : match.start()] + np.asarray(text, dtype=object)
        pos = match.end()
    return out + template[pos:]


def check_columns(policy: Policy, columns: Iterable[str]) -> None:
    """Refuse a policy that reads columns the scored table does not have."""
    available = set(columns)
    missing = sorted(policy.required_columns() - available)
    if missing:
        users = {
            c: [a.id for a in policy.actions if c in a.template_columns() or (isinstance(a, Rule) and c in a.when.columns())]
            for c in missing
        }
        raise PolicyError(
            "action policy uses column(s) the scored table does not have: "
            + "; ".join(f"'{c}' (in {', '.join(users[c])})" for c in missing)
            + f". Available columns: {', '.join(sorted(available))}"
            + _uplift_hint(missing)
        )


def _uplift_hint(missing: Sequence[str]) -> str:
    """Uplift columns exist only while an uplift champion is registered for the action."""
    actions = sorted({c.removeprefix("expected_saved_value_").removeprefix("uplift_")
                      for c in missing if c.startswith(("uplift_", "expected_saved_value_"))})
    if not actions:
        return ""
    return ("; uplift columns come from a champion of " + ", ".join(f"custsat-uplift-{a}" for a in actions)
            + " (train one with `custsat train uplift --action ACTION` on a past campaign with control groups)")


def assign_actions(frame: pd.DataFrame, policy: Policy, *, language: str = "both") -> pd.DataFrame:
    """Return ``frame``'s index with action_id, recommended_action, action_reason, priority.

    ``language``: ``"en"``, ``"zh"`` or ``"both"`` (``"中文 / English"``) for the readable
    name and reason. Exactly one action per row: the first matching rule, else the default.
    """
    if language not in ("en", "zh", "both"):
        raise ValueError(f"language must be 'en', 'zh' or 'both', got {language!r}")
    check_columns(policy, frame.columns)
    n = len(frame)
    chosen = np.full(n, len(policy.rules), dtype=np.int64)  # default index
    unassigned = np.ones(n, dtype=bool)
    for i, rule in enumerate(policy.rules):
        hit = rule.when.evaluate(frame) & unassigned
        chosen[hit] = i
        unassigned &= ~hit
    actions = policy.actions
    topics = frame["top_negative_topic"] if "top_negative_topic" in frame else pd.Series(None, index=frame.index)
    teams = [policy.team_for(t) for t in topics.tolist()]
    names = np.empty(n, dtype=object)
    reasons = np.empty(n, dtype=object)
    for idx in np.unique(chosen):
        rows = np.flatnonzero(chosen == idx)
        action = actions[idx]
        part = frame.iloc[rows]
        columns: dict[str, Sequence[Any]] = {
            c: part[c].tolist() for c in action.template_columns() if c in part.columns
        }
        columns["team_en"] = [teams[i].en for i in rows]
        columns["team_zh"] = [teams[i].zh for i in rows]
        en = _fill_rows(action.reason_en, columns, len(rows))
        zh = _fill_rows(action.reason_zh, columns, len(rows))
        if language == "en":
            names[rows], reasons[rows] = action.en, en
        elif language == "zh":
            names[rows], reasons[rows] = action.zh, zh
        else:
            names[rows], reasons[rows] = f"{action.zh} / {action.en}", zh + " / " + en
    return pd.DataFrame(
        {
            "action_id": [actions[i].id for i in chosen],
            "recommended_action": names,
            "action_reason": reasons,
            "priority": (chosen + 1).astype("int64"),
        },
        index=frame.index,
    )
