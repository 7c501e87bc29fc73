"""Shared pieces of the text-model training loops: a fixed step plan, progress and the wall-clock cut.

A training run follows a fixed plan (:class:`StepPlan`: a number of optimiser steps and a
linear warm-up/decay schedule over exactly those steps), so the same data, seed and plan on
the same machine give the same model. ``max_minutes`` is an optional safety limit: when the
elapsed wall-clock time passes it, the loop stops early and the run is *incomplete*
(:attr:`LoopRecord.complete` is ``False``); the registry never promotes an incomplete run.

Progress goes to stderr as a rich progress bar: step / planned steps, the mean loss of the
last 20 steps, examples per second and the remaining time.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepPlan:
    """``steps`` optimiser steps; the learning rate rises linearly over ``warmup`` steps, then
    falls linearly to 0 at the last step."""

    steps: int
    warmup: int

    @classmethod
    def from_epochs(cls, batches_per_epoch: int, epochs: float, warmup_frac: float) -> StepPlan:
        steps = max(1, int(round(batches_per_epoch * epochs)))
        return cls(steps=steps, warmup=max(1, int(warmup_frac * steps)))

    def lr_factor(self, step: int) -> float:
        """Multiplier of the base learning rate at 0-based ``step``."""
        rise = (step + 1) / self.warmup
        fall = (self.steps - step) / max(1, self.steps - self.warmup)
        return max(0.0, min(rise, fall))


def epoch_order(n_batches: int, steps: int, rng) -> list[int]:
    """Batch indices for ``steps`` steps: epoch after epoch, each a fresh permutation."""
    order: list[int] = []
    for _ in range(math.ceil(steps / max(1, n_batches))):
        order += rng.permutation(n_batches).tolist()
    return order[:steps]


@dataclass
class LoopRecord:
    """What one training loop did: steps, examples, seconds, and whether the plan finished."""

    planned_steps: int
    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_minutes: float | None = None
    log: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.steps >= self.planned_steps

    def as_dict(self) -> dict:
        return {"planned_steps": self.planned_steps, "steps": self.steps, "examples": self.examples,
                "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                "max_minutes": self.max_minutes, "complete": self.complete}


class TrainingLoop:
    """Counts steps, shows progress and applies the optional wall-clock cut.

    Use as ``with TrainingLoop(plan.steps, "student", max_minutes=...) as loop:`` and call
    :meth:`should_stop` before and :meth:`step` after every optimiser step.
    """

    def __init__(self, planned_steps: int, description: str, *, max_minutes: float | None = None,
                 progress: bool = True, log_every: int = 50):
        self.record = LoopRecord(planned_steps=planned_steps, max_minutes=max_minutes)
        self.description = description
        self.progress = progress
        self.log_every = log_every
        self._losses: list[float] = []

    def __enter__(self) -> TrainingLoop:
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        self._bar = _ProgressBar(self.description, self.record.planned_steps) if self.progress else None
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.record.seconds = time.perf_counter() - self._t0
        self.record.cpu_seconds = time.process_time() - self._c0
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def should_stop(self) -> bool:
        """True when the plan is done or the wall-clock limit has passed."""
        if self.record.steps >= self.record.planned_steps:
            return True
        limit = self.record.max_minutes
        return bool(limit) and time.perf_counter() - self._t0 > 60.0 * limit

    def step(self, loss: float, examples: int) -> None:
        self.record.steps += 1
        self.record.examples += examples
        self._losses.append(loss)
        elapsed = time.perf_counter() - self._t0
        recent = sum(self._losses[-20:]) / len(self._losses[-20:])
        if self._bar is not None:
            self._bar.update(self.record.steps, recent, self.record.examples / max(elapsed, 1e-9))
        if self.record.steps % self.log_every == 0:
            self.record.log.append({"step": self.record.steps, "loss": round(recent, 5),
                                    "examples": self.record.examples})


class _ProgressBar:
    """rich progress bar on stderr: step/total, loss, examples/s, elapsed and remaining time.

    When stderr is not a terminal (a log file, CI), one plain line every 5 % of the steps instead.
    """

    def __init__(self, description: str, total: int):
        import time as _time

        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self._description, self._total, self._t0, self._clock = description, total, _time.perf_counter(), _time
        self._every = max(1, total // 20)
        self._progress = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} ex/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=console, transient=False)
            self._task = self._progress.add_task(description, total=total, loss="-", rate="-")

    def __enter__(self):
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def update(self, steps: int, loss: float, rate: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=steps, loss=f"{loss:.4f}", rate=f"{rate:.1f}")
        elif steps % self._every == 0 or steps == self._total:
            import sys

            elapsed = self._clock.perf_counter() - self._t0
            eta = elapsed / steps * (self._total - steps)
            print(f"{self._description}: step {steps}/{self._total}, loss {loss:.4f}, {rate:.1f} ex/s, "
                  f"elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence library chatter that says nothing to a custsat user: transformers' weight-loading
    bars and "Token indices sequence length" (custsat cuts long texts itself), MLflow's
    type-hint and environment notes."""
    import logging
    import warnings

    from custsat.config import quiet_artifact_transfers

    quiet_artifact_transfers()
    loggers = [logging.getLogger(name) for name in ("transformers", "mlflow", "mlflow.models",
                                                    "mlflow.pyfunc", "mlflow.utils.requirements_utils")]
    levels = [lg.level for lg in loggers]
    try:
        from transformers.utils import logging as hf_logging

        hf_verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - transformers is a hard dependency
        hf_logging = None
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*type hint.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
        warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")  # torch, saving int8 weights
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
            if hf_logging is not None:
                hf_logging.set_verbosity(hf_verbosity)
                hf_logging.enable_progress_bar()
