"""Rule 10: no module outside the vault imports a cryptography library (checked on the source itself)."""

from __future__ import annotations

import ast
from pathlib import Path

CAUSEWAY = Path(__file__).resolve().parents[2]
FORBIDDEN = {"tink", "cryptography"}


def _imported_roots(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # __import__("tink") and importlib.import_module("tink") hide from a plain import scan.
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in {"__import__", "import_module"} and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


def test_rule_10_no_module_outside_the_vault_imports_tink_or_cryptography():
    offenders = []
    for path in sorted(CAUSEWAY.rglob("*.py")):
        relative = path.relative_to(CAUSEWAY)
        if relative.parts[0] == "vault":
            continue
        roots = _imported_roots(ast.parse(path.read_text(), filename=str(path)))
        offenders += [f"{relative}: {name}" for name in sorted(roots & FORBIDDEN)]
    assert offenders == []


def test_rule_10_the_scan_finds_every_kind_of_import():
    source = "\n".join(
        [
            "import tink",
            "from cryptography.x509 import Name",
            "importlib.import_module('tink.aead')",
            "__import__('os')",
        ]
    )
    assert _imported_roots(ast.parse(source)) == {"tink", "cryptography", "os"}
    assert _imported_roots(ast.parse("from . import tink")) == set()
