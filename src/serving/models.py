"""Load registered champion models, check their input schema and apply them in chunks.

No modelling happens here: the churn and CLV models are MLflow pyfunc models registered by
their training code; serving only loads them by alias, checks that the features it has
match the model's input signature, and calls ``predict`` (in chunks of customers, or
through ``mlflow.pyfunc.spark_udf`` on Spark).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.models.registry import ModelInputError

_NUMERIC_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}


class SchemaMismatchError(ValueError):
    """The features do not match a model's input signature; the model is refused."""


@dataclass
class ServedModel:
    """A champion model as loaded for scoring."""

    name: str
    version: str
    model: Any
    input_names: list[str] = field(default_factory=list)
    input_types: dict[str, str] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """The exact registered version (not the alias, which may move while scoring)."""
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def load_served(model_name: str, version: str | None = None) -> ServedModel:
    """Load the champion of ``model_name`` (or the given ``version``).

    A missing champion raises ``ModelNotFoundError``, naming the model and the command that
    trains it (``make train``).
    """
    if version is None:
        model, version = tracking.load_champion(model_name)
    else:
        model = tracking.load_version(model_name, version)
    schema = model.metadata.get_input_schema()
    names, types, required = [], {}, []
    if schema is not None and schema.has_input_names():
        for spec in schema.inputs:
            names.append(spec.name)
            types[spec.name] = getattr(spec.type, "name", str(spec.type))
            if getattr(spec, "required", True):
                required.append(spec.name)
    return ServedModel(model_name, str(version), model, names, types, required)


def check_schema(served: ServedModel, frame: pd.DataFrame, *, what: str = "features") -> None:
    """Refuse ``served`` when ``frame`` lacks a required input or holds text where it wants numbers.

    The error lists the missing columns, the columns ``frame`` has that the model does not
    know (extra), and how to fix it (retrain on the current features: ``make train``).
    """
    if not served.input_names:
        raise SchemaMismatchError(
            f"{served.label} has no input signature; serving refuses models it cannot check. "
            "Retrain it with `make train` (the training code logs a signature)."
        )
    columns = set(frame.columns)
    missing = [c for c in served.required if c not in columns]
    wrong_type = []
    for name in served.input_names:
        if name not in columns:
            continue
        want = served.input_types.get(name, "")
        series = frame[name]
        if want in _NUMERIC_TYPES and not (
            pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series) or series.isna().all()
        ):
            converted = pd.to_numeric(series, errors="coerce")
            if (converted.isna() & series.notna()).any():
                example = series[converted.isna() & series.notna()].iloc[0]
                wrong_type.append(f"{name} (model wants {want}, got text such as {example!r})")
    if missing or wrong_type:
        extra = sorted(columns - set(served.input_names) - {"customer_id"})
        parts = [f"{what} do not match the input schema of {served.label}; the model is refused."]
        if missing:
            parts.append(f"Missing column(s) ({len(missing)}): {', '.join(missing)}.")
        if wrong_type:
            parts.append(f"Wrong type: {'; '.join(wrong_type)}.")
        if extra:
            shown = ", ".join(extra[:30]) + (f", ... ({len(extra) - 30} more)" if len(extra) > 30 else "")
            parts.append(f"Extra column(s) the model does not know ({len(extra)}): {shown}.")
        parts.append(
            "The model was trained on a different feature set: retrain it on the current features "
            f"with `make train` (or `{tracking.train_command(served.name)}`)."
        )
        raise SchemaMismatchError(" ".join(parts))


def model_input(served: ServedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, in signature order, cast to the signature's types."""
    cols = [c for c in served.input_names if c in frame.columns]
    out = frame[cols].copy()
    for name in cols:
        want = served.input_types.get(name, "")
        series = out[name]
        if want in _NUMERIC_TYPES:
            numbers = pd.to_numeric(series, errors="coerce")
            integer_with_gaps = want in ("long", "integer") and numbers.isna().any()
            out[name] = numbers.astype("float64" if integer_with_gaps else _NUMERIC_TYPES[want])
        elif want == "boolean":
            out[name] = series.astype(bool)
        elif want == "string":
            if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_object_dtype(series):
                out[name] = series.astype(object).where(series.notna(), None)
    return out


def predict_chunks(
    served: ServedModel,
    frame: pd.DataFrame,
    *,
    chunk_size: int = 50_000,
    params: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Apply ``served`` to ``frame`` in chunks of ``chunk_size`` rows; keep ``frame``'s index.

    ``progress(n_rows_done)`` is called after each chunk. Memory grows with one chunk of
    model intermediates, not with the number of customers.
    """
    check_schema(served, frame)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    parts = []
    for start in range(0, len(frame), chunk_size):
        chunk = model_input(served, frame.iloc[start : start + chunk_size])
        try:
            out = served.model.predict(chunk, params=dict(params) if params else None)
        except Exception as error:  # noqa: BLE001 - re-raised with the model named
            if isinstance(error, tracking.MlflowException | ModelInputError):
                raise SchemaMismatchError(f"{served.label} refused the features: {error}") from error
            raise
        out = pd.DataFrame(out)
        if len(out) != len(chunk):
            raise RuntimeError(f"{served.label} returned {len(out)} rows for {len(chunk)} inputs")
        out.index = chunk.index
        parts.append(out)
        if progress is not None:
            progress(len(chunk))
    if not parts:
        return pd.DataFrame(index=frame.index)
    return pd.concat(parts)


def predict_spark(
    served: ServedModel,
    frame: pd.DataFrame,
    *,
    id_column: str = "customer_id",
    params: Mapping[str, Any] | None = None,
    spark=None,
    sample_rows: int = 20,
) -> pd.DataFrame:
    """Apply ``served`` on Spark with ``mlflow.pyfunc.spark_udf`` (env_manager="local").

    The result schema is read from the model's output signature, or from a prediction on
    the first ``sample_rows`` rows. Returns a pandas frame indexed like ``frame``.
    """
    from pyspark.sql import functions as F

    from custsat.features.engine import get_spark

    check_schema(served, frame)
    spark = spark or get_spark()
    X = model_input(served, frame)
    key = "__row__"
    X_with_key = X.assign(**{key: np.arange(len(X), dtype="int64")})
    result_type = _result_struct(served, X.head(sample_rows), params)
    udf = tracking.spark_udf(spark, served.uri, result_type=result_type, params=params)
    sdf = _spark_frame(spark, X_with_key)
    scored = sdf.select(F.col(key), udf(F.struct(*[F.col(f"`{c}`") for c in X.columns])).alias("out"))
    result = scored.select(key, "out.*").toPandas().sort_values(key).reset_index(drop=True)
    result.index = frame.index[result[key].to_numpy()]
    return result.drop(columns=[key])


def _result_struct(served: ServedModel, sample: pd.DataFrame, params):
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    out = pd.DataFrame(served.model.predict(sample, params=dict(params) if params else None))
    fields = []
    for name in out.columns:
        s = out[name]
        if pd.api.types.is_bool_dtype(s):
            t = BooleanType()
        elif pd.api.types.is_integer_dtype(s):
            t = LongType()
        elif pd.api.types.is_float_dtype(s):
            t = DoubleType()
        else:
            t = StringType()
        fields.append(StructField(str(name), t, True))
    return StructType(fields)


def _spark_frame(spark, frame: pd.DataFrame):
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
    return spark.createDataFrame(table.cast(pa.schema(fields)))


def versions(models: Sequence[ServedModel]) -> dict[str, str]:
    return {m.name: m.version for m in models}
