"""ONNX Runtime export of the text encoders (optional fast path for CPU inference).

``export(module, out_dir)`` writes ``model.onnx`` (fp32; inputs ``input_ids``,
``attention_mask`` int64 [batch, tokens]) and ``model.int8.onnx``: ONNX Runtime dynamic
quantization (int8 weights of MatMul/Gemm, activations quantized on the fly; the embedding
lookup stays fp32). Sessions use ``CUSTSAT_TORCH_THREADS`` (default 2) intra-op threads.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FP32 = "model.onnx"
INT8 = "model.int8.onnx"


class _EmbeddingOnly:
    """Wrap a BertModel so that the exported graph returns the L2-normalised mean-pooled embedding."""

    @staticmethod
    def build(bert):
        import torch

        from custsat.models.text.encoder import mean_pool

        class _M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask):
                h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                return torch.nn.functional.normalize(mean_pool(h, attention_mask), dim=-1)

        return _M().eval()


def export(module, out_dir: str | Path, output_names: list[str], quantize: bool = True) -> Path:
    """Export ``module(input_ids, attention_mask)`` to ``out_dir/model.onnx`` (+ int8 copy)."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 150, 2, 1, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.long)
    dyn = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    for name in output_names:
        dyn[name] = {0: "batch"}
    tmp = out_dir / (FP32 + ".part")
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, (ids, mask), str(tmp), input_names=["input_ids", "attention_mask"],
                          output_names=output_names, dynamic_axes=dyn, opset_version=17, dynamo=False)
    tmp.replace(out_dir / FP32)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qtmp = out_dir / (INT8 + ".part")
        quantize_dynamic(str(out_dir / FP32), str(qtmp), weight_type=QuantType.QInt8)
        qtmp.replace(out_dir / INT8)
    return out_dir


def _session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(os.environ.get("CUSTSAT_TORCH_THREADS", 2))
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _onnx_dir(model_dir: Path) -> Path:
    d = model_dir / "onnx"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_text("x")
        probe.unlink()
        return d
    except OSError:
        return Path(tempfile.mkdtemp(prefix="custsat-onnx-"))


def load_session(model_dir: str | Path, quantized: bool = True):
    """Session for a saved SentimentClassifier folder (exported on first use; outputs logits, embedding)."""
    from custsat.models.text.sentiment import SentimentClassifier

    model_dir = Path(model_dir)
    d = _onnx_dir(model_dir)
    target = d / (INT8 if quantized else FP32)
    if not target.exists():
        clf = SentimentClassifier.load(model_dir)
        export(clf.net_, d, ["logits", "embedding"], quantize=quantized)
    return _session(target)


def load_encoder_session(model_dir: str | Path, bert, quantized: bool = True):
    """Session for a base encoder (output: embedding), exported next to the model on first use."""
    d = _onnx_dir(Path(model_dir))
    target = d / (INT8 if quantized else FP32)
    if not target.exists():
        export(_EmbeddingOnly.build(bert), d, ["embedding"], quantize=quantized)
    return _session(target)


def load_joint_session(sentiment, module, quantized: bool = True):
    """Session for the joint sentiment + base-embedding graph (:mod:`custsat.models.text.joint`),
    exported next to the saved sentiment model on first use (outputs logits, embedding, base_embedding)."""
    base = str(getattr(sentiment, "base_model_", None) or "base").replace("/", "_")
    home = getattr(sentiment, "path_", None)
    d = (_onnx_dir(Path(home)) if home else Path(tempfile.mkdtemp(prefix="custsat-onnx-"))) / f"joint-{base}"
    target = d / (INT8 if quantized else FP32)
    if not target.exists():
        export(module, d, ["logits", "embedding", "base_embedding"], quantize=quantized)
    return _session(target)
