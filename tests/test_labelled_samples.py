"""The hand-labelled evaluation samples in data/labels match their real sources exactly and stay
apart from each other, from the training seeds and from the topic evaluation sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_labelled_samples_are_valid_and_disjoint():
    if not (ROOT / "data/interim/reviews_zh.parquet").exists():
        pytest.skip("the real review datasets have not been fetched (custsat data fetch)")
    done = subprocess.run([sys.executable, str(ROOT / "data/labels/tools/check_labels.py")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: all checks passed" in done.stdout
