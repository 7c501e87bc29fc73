"""The layering rules of the custsat package, checked on the source's syntax trees.

Data flows one way: ``data`` -> ``features`` -> ``models`` -> ``serving`` -> ``cli``.
``python tests/architecture.py`` prints every violation and exits 1 when there is one
(``make lint`` runs it).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "custsat"
SRC = Path(__file__).resolve().parents[1] / "src"

#: (importing part, imported part) pairs that are forbidden; a part is the first name below custsat.
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("features", "models", "features never import models"),
    ("features", "serving", "features never import serving"),
    ("models", "serving", "models never import serving"),
    ("models", "cli", "models never import cli"),
    ("data", "features", "data imports none of features, models or serving"),
    ("data", "models", "data imports none of features, models or serving"),
    ("data", "serving", "data imports none of features, models or serving"),
)
#: Only these modules may import the named external package.
EXCLUSIVE_IMPORTS = {"mlflow": "tracking"}
#: Only this module reads or writes environment variables.
ENVIRONMENT_MODULE = "config"


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def module_name(path: Path, src: Path = SRC) -> str:
    """``src/models/churn/train.py`` -> ``custsat.models.churn.train``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from custsat import tracking` imports custsat.tracking
                yield node.lineno, f"{target}.{alias.name}"


def part_of(module: str) -> str | None:
    """The first name below ``custsat`` (``data``, ``features``, ``tracking``...), or None."""
    names = module.split(".")
    return names[1] if len(names) > 1 and names[0] == PACKAGE else None


def uses_environment(tree: ast.AST) -> Iterator[int]:
    """Lines that touch ``os.environ`` or call ``getenv``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "unsetenv"):
            yield node.lineno
        elif isinstance(node, ast.Name) and node.id in ("environ", "getenv"):
            yield node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv") for a in node.names):
            yield node.lineno


def check_source(source: str, module: str, *, is_package: bool = False, path: str = "<source>") -> list[Violation]:
    """Every rule broken by one module's source."""
    tree = ast.parse(source)
    own = part_of(module)
    found: set[Violation] = set()
    for line, target in imported_names(tree, module, is_package):
        imported = part_of(target)
        for importer, forbidden, rule in FORBIDDEN:
            if own == importer and imported == forbidden:
                found.add(Violation(path, line, f"{rule} ({module} imports {target})"))
        if imported == "cli" and own != "cli":
            found.add(Violation(path, line, f"only cli imports cli ({module} imports {target})"))
        top = target.split(".")[0]
        if top in EXCLUSIVE_IMPORTS and own != EXCLUSIVE_IMPORTS[top]:
            found.add(Violation(path, line, f"only {PACKAGE}.{EXCLUSIVE_IMPORTS[top]} imports {top} ({module})"))
    if own != ENVIRONMENT_MODULE:
        for line in uses_environment(tree):
            found.add(Violation(path, line, f"only {PACKAGE}.{ENVIRONMENT_MODULE} reads environment variables ({module})"))
    return sorted(found, key=lambda v: (v.path, v.line, v.rule))


def check_tree(src: Path = SRC) -> list[Violation]:
    violations: list[Violation] = []
    for path in sorted(src.rglob("*.py")):
        violations += check_source(path.read_text(encoding="utf-8"), module_name(path, src),
                                   is_package=path.name == "__init__.py", path=str(path.relative_to(src.parent)))
    return violations


if __name__ == "__main__":
    problems = check_tree()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} architecture violation(s)" if problems else "architecture rules hold")
    sys.exit(1 if problems else 0)
