"""The root ``custsat`` app: command groups, the ``--debug`` switch and one-line errors."""

from __future__ import annotations

import errno
import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

console = Console(stderr=True)
_state = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by inputs, models or settings: shown as one clear message, no traceback."""
    from custsat.data.contracts import ContractError
    from custsat.data.fetch import DatasetNotFetchedError, FetchError
    from custsat.data.io import InputFileError
    from custsat.data.mapping import MappingError
    from custsat.features.builder import FeatureInputError, LeakageError
    from custsat.models.churn import ChurnDataError
    from custsat.models.drivers import DriversInputError
    from custsat.models.text.encoder import BaseModelMissingError
    from custsat.models.text.topics import TaxonomyError
    from custsat.serving.evaluate_actions import ActionEvaluationError
    from custsat.serving.models import SchemaMismatchError
    from custsat.serving.pipeline import ScoringInputError
    from custsat.serving.policy import PolicyError
    from custsat.serving.triage import TriageInputError
    from custsat.tracking import ModelNotFoundError, TrackingUnavailableError

    return (ContractError, InputFileError, MappingError, FetchError, DatasetNotFetchedError, FeatureInputError,
            LeakageError, ChurnDataError, SchemaMismatchError, PolicyError, ScoringInputError, ModelNotFoundError,
            BaseModelMissingError, TaxonomyError, TrackingUnavailableError, ActionEvaluationError, DriversInputError, TriageInputError)


#: Errors of the machine rather than of custsat (a full disk, a read-only folder): one line too.
SYSTEM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _print_line(label: str, message: str) -> None:
    """``label: message`` on stderr, masked, as one logical line."""
    from rich.markup import escape

    from custsat.privacy import mask_pii

    console.print(label + " " + escape(mask_pii(message)), soft_wrap=True)


def _print_error(message: str) -> None:
    _print_line("[red]error:[/red]", message)


def _print_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                   line: str | None = None) -> None:
    """A warning as one masked line, without the source location (that is for ``--debug``)."""
    _print_line("[yellow]warning:[/yellow]", str(message))


def report_errors(command: F) -> F:
    """Run ``command``; a user error becomes one masked line on stderr and exit code 1, and a
    warning one masked line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                if not _state["debug"]:
                    warnings.showwarning = _print_warning
                return command(*args, **kwargs)
        except user_errors() as error:
            if _state["debug"]:
                raise
            _print_error(str(error))
            raise typer.Exit(code=1) from None
        except OSError as error:
            if _state["debug"] or error.errno not in SYSTEM_ERRNOS:
                raise
            where = f" {error.filename}" if error.filename else ""
            _print_error(f"cannot write{where}: {error.strerror}; earlier outputs are left as they were")
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


app = typer.Typer(
    help="custsat: turn customer records into a scored customer list "
    "(tiers, complaints, churn risk, lifetime value, next action).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors.")) -> None:
    _state["debug"] = debug


def _register() -> None:
    from custsat.cli import data, evaluate, features, feedback, models, score, train

    app.add_typer(data.app, name="data")
    app.add_typer(features.app, name="features")
    app.add_typer(feedback.app, name="feedback")
    app.add_typer(train.app, name="train")
    app.add_typer(evaluate.app, name="evaluate")
    app.add_typer(models.app, name="models")
    app.command("score")(score.score)
    app.command("ingest")(data.ingest)
    app.command("contracts")(data.contracts)
    app.command("mlflow-uri")(models.mlflow_uri)


_register()


def main() -> None:  # pragma: no cover - the console-script entry point
    app()
