"""The built package carries the application and none of its tests: the files setuptools' `build_py`
would put in the wheel, with the project's own configuration, are every module and template of the
application packages and nothing of the test kit (`testkit/`, beside the package) or of any `tests`
package."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

import causeway

ROOT = Path(causeway.__file__).parent.parent


def _is_test_file(path: str) -> bool:
    parts = Path(path).parts
    return "tests" in parts or parts[0] == "testkit"


def test_the_wheel_ships_no_test_kit_and_no_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    dist = Distribution({"script_name": "setup.py"})
    with warnings.catch_warnings():
        # Older setuptools call their reading of `[tool.setuptools]` beta; what it reads is the same.
        warnings.simplefilter("ignore")
        apply_configuration(dist, "pyproject.toml")
    build_py = dist.get_command_obj("build_py")
    build_py.ensure_finalized()
    modules = {filename for _, _, filename in build_py.find_all_modules()}
    data = {str(Path(src) / name) for _, src, _, names in build_py.data_files for name in names}
    shipped = modules | data

    every = {str(path.relative_to(ROOT)) for path in (ROOT / "causeway").rglob("*.py")}
    kit = {str(path.relative_to(ROOT)) for path in (ROOT / "testkit").rglob("*")}
    assert {p for p in every | kit if _is_test_file(p)} >= {
        "testkit/factories.py",
        "causeway/tests/test_layering.py",
        "causeway/access/tests/test_giving.py",
        "testkit/support.py",
        "testkit/hashers.py",
        "testkit/vendor/axe-4.14.1.min.js",
    }  # the control: the tree has them
    assert not {p for p in shipped if _is_test_file(p)}
    assert not {p for p in shipped if Path(p).name == "conftest.py" or Path(p).stem.startswith("testing")}
    assert modules == {p for p in every if not _is_test_file(p)}
    assert any(p.startswith("causeway/web/templates/") for p in data)
