"""Load any saved sentiment model folder, in the runtime the caller asks for.

A folder holds one of: the fine-tuned teacher (``sentiment_meta.json``), the distilled student
(``student_meta.json``) or a baseline (``baseline_meta.json``). The runtime (``settings.text_runtime``
or a command-line option) is an explicit argument:

==================  ==============================  ==================================
runtime             teacher (12 layers)             student
==================  ==============================  ==================================
``torch``           PyTorch fp32                    PyTorch fp32 (the default)
``torch-fp32``      PyTorch fp32                    PyTorch fp32
``torch-int8``      PyTorch fp32                    PyTorch dynamic int8
``onnx-fp32``       ONNX Runtime fp32               PyTorch fp32
``onnx-int8``       ONNX Runtime, frozen layers     PyTorch dynamic int8
                    int8
``onnx-int8-all``   ONNX Runtime, all int8          PyTorch dynamic int8
==================  ==============================  ==================================

Baselines have no runtime choice.
"""

from __future__ import annotations

from pathlib import Path

RUNTIMES = ("torch", "torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8", "onnx-int8-all")


def check_runtime(runtime: str | None) -> str:
    runtime = runtime or "torch"
    if runtime not in RUNTIMES:
        raise ValueError(f"text runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    return runtime


def teacher_onnx(runtime: str | None) -> bool | str:
    """The teacher's ``onnx`` argument for a runtime (False = PyTorch)."""
    return {"onnx-fp32": "fp32", "onnx-int8": "int8", "onnx-int8-all": "int8-all"}.get(check_runtime(runtime), False)


def student_int8(runtime: str | None) -> bool:
    # fp32 by default: dynamic int8 is 1.5x faster but cost the student 0.7 (zh) and 1.6 (en)
    # points of held-out accuracy, enough to lose to the baselines
    return check_runtime(runtime) in ("torch-int8", "onnx-int8", "onnx-int8-all")


def saved_kind(path: str | Path) -> str:
    """'teacher', 'student' or the baseline kind of a saved folder."""
    import json

    from custsat.models.text.baselines import META_FILE as BASELINE_META
    from custsat.models.text.sentiment import META_FILE as TEACHER_META
    from custsat.models.text.student import META_FILE as STUDENT_META

    path = Path(path)
    if (path / STUDENT_META).exists():
        return "student"
    if (path / TEACHER_META).exists():
        return "teacher"
    if (path / BASELINE_META).exists():
        return json.loads((path / BASELINE_META).read_text())["kind"]
    raise FileNotFoundError(f"{path}: not a saved custsat sentiment model (no {TEACHER_META}, {STUDENT_META} "
                            f"or {BASELINE_META})")


def load_sentiment_model(path: str | Path, runtime: str | None = None):
    """The model saved in ``path`` (teacher, student or baseline), set up for ``runtime``."""
    kind = saved_kind(path)
    if kind == "student":
        from custsat.models.text.student import StudentClassifier

        return StudentClassifier.load(path, int8=student_int8(runtime))
    if kind == "teacher":
        from custsat.models.text.sentiment import SentimentClassifier

        return SentimentClassifier.load(path, onnx=teacher_onnx(runtime))
    from custsat.models.text.baselines import load_baseline

    return load_baseline(path)


def with_runtime(model, runtime: str | None):
    """The same fitted model set up for ``runtime`` (a no-op when it already is)."""
    from custsat.models.text.sentiment import SentimentClassifier
    from custsat.models.text.student import StudentClassifier

    if isinstance(model, StudentClassifier):
        model.int8 = student_int8(runtime)
        return model
    if isinstance(model, SentimentClassifier):
        onnx = teacher_onnx(runtime)
        if onnx and getattr(model, "onnx_flavour_", False) != onnx:
            if getattr(model, "path_", None) is None:
                raise ValueError("an ONNX runtime needs a saved sentiment model (SentimentClassifier.save first)")
            from custsat.models.text.onnx_export import flavour, load_session

            model.onnx_session_ = load_session(model.path_, quantized=flavour(onnx))
            model.onnx_flavour_ = onnx
        elif not onnx:
            model.onnx_session_, model.onnx_flavour_ = None, False
        return model
    return model
