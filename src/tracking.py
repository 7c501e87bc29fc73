"""The one module that talks to MLflow: nothing else in custsat imports ``mlflow``.

Defaults need no server: runs go to ``sqlite:///mlruns/mlflow.db`` with artifacts
under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` points custsat at a team server.

Every run is tagged with the git commit, a fingerprint of its input data and the
package version, and models are logged with explicit ``pip_requirements``: MLflow's
own inference is slow (~6 s a model) and would pin a CUDA build of torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat import __version__
from custsat.config import disable_library_telemetry, get_settings

CHAMPION = "champion"
CHALLENGER = "challenger"


class ModelNotFoundError(RuntimeError):
    """A registered model (or its champion alias) that scoring needs does not exist."""


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking server does not answer."""


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Refuse, within ``timeout_s``, an http(s) tracking URI whose host does not accept connections."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout_s):
            return
    except OSError as error:
        raise TrackingUnavailableError(
            f"the MLflow tracking server at {uri} does not answer ({error.strerror or error}); start it, or unset "
            "MLFLOW_TRACKING_URI to use the local store sqlite:///mlruns/mlflow.db"
        ) from None


def _pinned(dist: str) -> str:
    try:
        return f"{dist}=={metadata.version(dist)}"
    except metadata.PackageNotFoundError:  # pragma: no cover - optional dependency absent
        return dist


def pip_requirements() -> list[str]:
    """Requirements written next to every logged model (torch pinned to the CPU release)."""
    deps = ["numpy", "pandas", "scikit-learn", "lightgbm", "lifelines", "pyarrow", "mlflow", "pyyaml"]
    return ["torch==2.13.0", *(_pinned(d) for d in deps), "transformers", "tokenizers"]


PIP_REQUIREMENTS = pip_requirements()


_quiet = False


def _mlflow():
    global _quiet
    disable_library_telemetry()
    import mlflow

    if not _quiet:  # after the import: MLflow sets up its own warning filters there
        _silence_mlflow_notes()
        _quiet = True
    return mlflow


def _silence_mlflow_notes() -> None:
    """MLflow's advice to its own users (type hints on ``predict``, CloudPickle, input-example
    validation) says nothing to a custsat user; real problems still raise."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method.*")
    warnings.filterwarnings("ignore", message=r".*Any type hint is inferred as AnyType.*")
    for name in ("mlflow.pyfunc", "mlflow.models.model", "mlflow.models.signature", "mlflow.types.utils",
                 "mlflow.utils.requirements_utils", "mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)


def __getattr__(name: str) -> Any:
    # ``tracking.PythonModel`` is MLflow's pyfunc base class, imported on first use so that
    # commands which never touch a model do not pay for importing MLflow.
    if name == "PythonModel":
        return _mlflow().pyfunc.PythonModel
    if name == "MlflowException":
        from mlflow.exceptions import MlflowException

        return MlflowException
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_reachable: set[str] = set()


def configure() -> str:
    """Point MLflow at the configured store (creating the local one) and return its URI."""
    settings = get_settings()
    uri = settings.resolved_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif uri not in _reachable:
        check_reachable(uri)
        _reachable.add(uri)
    mlflow = _mlflow()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _experiment_id(name: str) -> str:
    mlflow = _mlflow()
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if get_settings().resolved_tracking_uri.startswith("sqlite:"):
        artifact_location = f"{get_settings().artifact_root}/{name}"
    return mlflow.create_experiment(name, artifact_location=artifact_location)


def git_commit(cwd: Path | None = None) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _frame_header(frame: pd.DataFrame) -> str:
    return repr(list(zip(frame.columns, map(str, frame.dtypes), strict=True)))


def _row_hashes(frame: pd.DataFrame) -> bytes:
    # categorize=False gives the same hashes; factorising millions of distinct ids first
    # (the default) only made it slower
    return pd.util.hash_pandas_object(frame, index=False, categorize=False).values.tobytes()


def fingerprint_frames(*frames: pd.DataFrame) -> str:
    """A stable SHA-256 (first 16 hex digits) over the frames' columns, dtypes and values."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(_frame_header(frame).encode())
        digest.update(_row_hashes(frame))
    return digest.hexdigest()[:16]


def batch_hashes(frame: pd.DataFrame) -> tuple[str, bytes]:
    """What :class:`FrameFingerprint` takes of a batch: its columns/dtypes and its row hashes."""
    return _frame_header(frame), _row_hashes(frame)


class FrameFingerprint:
    """:func:`fingerprint_frames` of one table, fed one batch of rows at a time.

    Rows hash independently, so the batches of a table give the digest of the whole table,
    provided every batch has the table's columns and dtypes (checked).
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._header: str | None = None

    def update(self, frame: pd.DataFrame) -> FrameFingerprint:
        return self.update_hashes(*batch_hashes(frame))

    def update_hashes(self, header: str, row_hashes: bytes) -> FrameFingerprint:
        """Add a batch from its :func:`batch_hashes` (computed, e.g., in another process)."""
        if self._header is None:
            self._header = header
            self._digest.update(header.encode())
        elif header != self._header:
            raise ValueError(f"batch columns/dtypes {header} differ from the first batch's {self._header}")
        self._digest.update(row_hashes)
        return self

    def hexdigest(self) -> str:
        return self._digest.hexdigest()[:16]


def fingerprint_files(*paths: str | Path) -> str:
    """A stable SHA-256 (first 16 hex digits) over the files' names and bytes."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def start_run(
    family: str,
    *,
    run_name: str | None = None,
    data_fingerprint: str | None = None,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """Open a tracked run in the experiment ``custsat-<family>``.

    The run carries the tags ``git_commit``, ``data_fingerprint`` and ``custsat_version``.
    """
    configure()
    mlflow = _mlflow()
    run_tags = {
        "git_commit": git_commit(),
        "data_fingerprint": data_fingerprint or "unknown",
        "custsat_version": __version__,
        "model_family": family,
        **(tags or {}),
    }
    with mlflow.start_run(
        experiment_id=_experiment_id(f"custsat-{family}"), run_name=run_name, tags=run_tags
    ) as run:
        if params:
            mlflow.log_params(dict(params))
        yield run


def _active() -> Any:
    mlflow = _mlflow()
    if mlflow.active_run() is None:
        raise RuntimeError("no active MLflow run: call inside `with tracking.start_run(...)`")
    return mlflow


def active_run_id() -> str | None:
    """The id of the active run, or ``None`` outside one."""
    run = _mlflow().active_run()
    return run.info.run_id if run is not None else None


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters on the active run."""
    _active().log_params(dict(params))


def log_metrics(metrics: Mapping[str, float], *, step: int | None = None) -> None:
    """Log the finite metrics of ``metrics`` on the active run (NaN and inf are left out)."""
    finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(float(v))}
    if finite:
        _active().log_metrics(finite, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    _active().set_tags({k: str(v) for k, v in tags.items()})


def log_dict(obj: Any, artifact_file: str) -> None:
    """Log a JSON/YAML-serialisable object as an artifact of the active run."""
    _active().log_dict(obj, artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log text as an artifact of the active run (mask PII before calling)."""
    _active().log_text(text, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Log a matplotlib figure as an artifact of the active run."""
    _active().log_figure(figure, artifact_file)


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    """Log a local file as an artifact of the active run."""
    _active().log_artifact(str(path), artifact_path=artifact_path)


def infer_signature(model_input: Any, model_output: Any = None, params: Mapping[str, Any] | None = None,
                    *, any_input_types: bool = False) -> Any:
    """MLflow's model signature of an input (and output) example.

    ``any_input_types`` keeps the input columns' names but accepts any dtype for them (the
    model checks its values itself), so MLflow does not refuse, say, int64 where it saw floats.
    """
    from mlflow.models import ModelSignature
    from mlflow.models import infer_signature as _infer
    from mlflow.types.schema import AnyType, ColSpec, Schema

    signature = _infer(model_input, model_output, params=dict(params) if params else None)
    if any_input_types:
        inputs = Schema([ColSpec(AnyType(), name) for name in signature.inputs.input_names()])
        signature = ModelSignature(inputs=inputs, outputs=signature.outputs, params=signature.params)
    return signature


def log_pyfunc_model(
    python_model: Any,
    *,
    name: str = "model",
    artifacts: Mapping[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
) -> str:
    """Log a pyfunc model in the active run with explicit requirements; return its URI."""
    mlflow = _mlflow()
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=python_model,
        artifacts=dict(artifacts) if artifacts else None,
        signature=signature,
        input_example=input_example,
        pip_requirements=PIP_REQUIREMENTS,
    )
    return info.model_uri


def register_model(model_uri: str, model_name: str) -> str:
    """Register ``model_uri`` as a new version of ``model_name``; return the version."""
    configure()
    mlflow = _mlflow()
    with _quiet_registry_prints():
        version = mlflow.register_model(model_uri, model_name)
    return str(version.version)


@contextlib.contextmanager
def _quiet_registry_prints() -> Iterator[None]:
    """MLflow prints "Created version 'N' of model ..." straight to its own stream; the training
    commands print the registry decision themselves, with the reasons, so its line only repeats it."""
    from mlflow.utils import logging_utils

    stream = getattr(logging_utils, "MLFLOW_LOGGING_STREAM", None)
    if stream is None:
        yield
        return
    logging_utils.MLFLOW_LOGGING_STREAM = io.StringIO()
    try:
        yield
    finally:
        logging_utils.MLFLOW_LOGGING_STREAM = stream


def _client():
    configure()
    return _mlflow().MlflowClient()


def alias_version(model_name: str, alias: str) -> str | None:
    """The version behind ``alias`` of ``model_name``, or ``None`` when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def champion_version(model_name: str) -> str | None:
    """The version behind the ``champion`` alias, or ``None`` when there is none."""
    return alias_version(model_name, CHAMPION)


def train_command(model_name: str) -> str:
    """The command that trains and registers ``model_name``."""
    family = model_name.removeprefix("custsat-")
    if family.startswith("uplift-"):
        return f"custsat train uplift --action {family.removeprefix('uplift-')} --scored PAST_LIST --input-dir DATA"
    if family.startswith(("sentiment", "topics")):
        return "make train-text"
    if family in ("churn", "clv"):
        return f"make train-{family}"
    return "make train"


def load_champion(model_name: str, *, model_config: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """Load the ``champion`` of ``model_name`` as a pyfunc model; return (model, version).

    ``model_config`` reaches the pyfunc's ``load_context`` (e.g. the text runtime)."""
    version = champion_version(model_name)
    if version is None:
        raise ModelNotFoundError(
            f"No champion version of model '{model_name}' in the MLflow registry at "
            f"{get_settings().resolved_tracking_uri}. Train it with `{train_command(model_name)}` "
            "(or `make train` for all models)."
        )
    return load_version(model_name, version, model_config=model_config), version


def load_version(model_name: str, version: str, *, model_config: Mapping[str, Any] | None = None) -> Any:
    """Load one registered version of ``model_name`` as a pyfunc model."""
    return load_model_uri(f"models:/{model_name}/{version}", model_config=model_config)


def load_model_uri(uri: str, *, model_config: Mapping[str, Any] | None = None) -> Any:
    """Load a pyfunc model from any MLflow model URI (``runs:/…``, ``models:/…``, a path);
    ``model_config`` is handed to the model's ``load_context``."""
    configure()
    return _mlflow().pyfunc.load_model(str(uri), model_config=dict(model_config) if model_config else None)


def version_tags(model_name: str, version: str) -> dict[str, str]:
    """The tags of one registered model version."""
    return dict(_client().get_model_version(model_name, version).tags)


def set_version_tag(model_name: str, version: str, key: str, value: Any) -> None:
    """Set one tag on a registered model version."""
    _client().set_model_version_tag(model_name, version, key, str(value))


def version_run_metrics(model_name: str, version: str) -> dict[str, float]:
    """The metrics of the run that logged a registered model version."""
    client = _client()
    run_id = client.get_model_version(model_name, version).run_id
    return dict(client.get_run(run_id).data.metrics)


def spark_udf(spark: Any, model_uri: str, *, result_type: Any, params: Mapping[str, Any] | None = None) -> Any:
    """A Spark UDF applying a registered model in this Python environment (no conda/virtualenv)."""
    configure()
    return _mlflow().pyfunc.spark_udf(
        spark, model_uri, result_type=result_type, env_manager="local", params=dict(params) if params else None
    )


def decide_promotion(
    candidate_score: tuple[float, ...], champion_score: tuple[float, ...] | None
) -> bool:
    """True when the candidate should become champion: no champion yet, or strictly better.

    Scores compare lexicographically, higher is better; pass ``(auc, -brier)`` so that the
    Brier score breaks ties in AUC.
    """
    if champion_score is None:
        return True
    return tuple(candidate_score) > tuple(champion_score)


def assign_alias(model_name: str, version: str, alias: str, *, record: Mapping[str, str]) -> None:
    """Point ``alias`` of ``model_name`` at ``version``; write ``record`` as tags on the version
    and, when a run is active, on the run."""
    client = _client()
    client.set_registered_model_alias(model_name, alias, version)
    for key, value in record.items():
        client.set_model_version_tag(model_name, version, key, str(value))
    mlflow = _mlflow()
    if mlflow.active_run() is not None:
        mlflow.set_tags({k: str(v) for k, v in record.items()})


def promote(
    model_name: str,
    version: str,
    *,
    candidate_score: tuple[float, ...],
    champion_score: tuple[float, ...] | None,
    force: bool = False,
) -> str:
    """Apply the champion/challenger rule to ``version`` and record the decision.

    Returns ``"champion"`` or ``"challenger"``. ``force=True`` promotes regardless and is
    recorded as a forced promotion. The decision and both scores are logged as tags on the
    active run (when there is one) and on the model version.
    """
    client = _client()
    previous = champion_version(model_name)
    wins = decide_promotion(candidate_score, champion_score)
    decision = CHAMPION if (wins or force) else CHALLENGER
    client.set_registered_model_alias(model_name, decision, version)
    record = {
        "promotion_decision": decision,
        "promotion_forced": str(bool(force and not wins)).lower(),
        "candidate_score": repr(tuple(candidate_score)),
        "champion_score_before": repr(tuple(champion_score)) if champion_score else "none",
        "previous_champion_version": previous or "none",
    }
    for key, value in record.items():
        client.set_model_version_tag(model_name, version, key, value)
    mlflow = _mlflow()
    if mlflow.active_run() is not None:
        mlflow.set_tags(record)
    return decision
