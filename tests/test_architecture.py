"""The package keeps its layering: data -> features -> models -> serving -> cli; MLflow and the
environment each behind one module; and the estimators follow the scikit-learn contract."""

from __future__ import annotations

import pytest

from architecture import check_source, check_tree


def test_the_package_breaks_no_layering_rule():
    assert [str(v) for v in check_tree()] == []


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("custsat.features.builder", "from custsat.models import churn", "features never import models"),
    ("custsat.features.builder", "from ..serving.score import score_tables", "features never import serving"),
    ("custsat.models.churn.train", "import custsat.serving.models", "models never import serving"),
    ("custsat.models.clv.train", "from custsat.cli import app", "models never import cli"),
    ("custsat.data.io", "from custsat import features", "data imports none of features"),
    ("custsat.serving.score", "from custsat.cli.app import console", "only cli imports cli"),
    ("custsat.serving.models", "import mlflow.pyfunc", "only custsat.tracking imports mlflow"),
    ("custsat.models.text.encoder", "import os\nthreads = os.environ.get('X')", "only custsat.config reads"),
    ("custsat.features.engine", "from os import getenv", "only custsat.config reads"),
])
def test_a_deliberate_violation_is_caught(module, source, rule):
    violations = check_source(source, module)
    assert violations and rule in violations[0].rule


@pytest.mark.parametrize(("module", "source"), [
    ("custsat.serving.score", "from custsat.features import signals\nfrom custsat.models import churn"),
    ("custsat.models.churn.train", "from custsat import tracking\nfrom custsat.data import io"),
    ("custsat.cli.score", "from custsat.cli.app import console\nfrom custsat.serving import score"),
    ("custsat.tracking", "import mlflow"),
    ("custsat.config", "import os\nos.environ.get('CUSTSAT_SEED')"),
])
def test_allowed_imports_pass(module, source):
    assert check_source(source, module) == []


def test_relative_imports_resolve_to_their_part():
    source = "from ..serving import score"
    assert check_source(source, "custsat.models.clv.train") == []  # custsat.models.serving: not the serving part
    assert check_source("from ...serving import score", "custsat.models.clv.train")
