"""The house: imports run one way (down the layers of docs/architecture.md), no circles, no
module over 400 lines, and the document's picture is the one the code gives today."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tacrefine_layers", ROOT / "scripts" / "layers.py")
layers = importlib.util.module_from_spec(_spec)
sys.modules["tacrefine_layers"] = layers  # dataclasses look their module up while it loads
_spec.loader.exec_module(layers)

MAX_LINES = 400


def test_no_import_runs_against_the_layers_and_there_is_no_circle():
    modules, edges = layers.all_imports()
    assert len(modules) > 80 and len(edges) > 300  # it read the library, not an empty folder
    assert layers.violations(modules, edges) == []


def test_every_module_belongs_to_a_layer():
    for module in layers.module_files():
        assert layers.layer_of(module) in layers.LAYER_NAMES


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in ("tacrefine", "tacrefine/sim", "tacrefine/cli", "envs"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").touch()
    return tmp_path


def test_the_check_catches_an_upward_import_inside_a_function_and_a_circle(tmp_path):
    root = _tree(tmp_path, {
        "tacrefine/sim/low.py": "def f():\n    from tacrefine.cli import top\n    return top\n",
        "tacrefine/cli/top.py": "import tacrefine.sim.low\n",
        "tacrefine/sim/a.py": "from tacrefine.sim import b\n",
        "tacrefine/sim/b.py": "from . import a\n",
        "tacrefine/sim/old.py": "from tacrefine.sim.gone import x\n",
    })
    modules, edges = layers.all_imports(root)
    problems = layers.violations(modules, edges)
    assert any("tacrefine.sim.low:2" in p and "a layer above it" in p for p in problems)
    assert "circle: tacrefine.sim.a -> tacrefine.sim.b" in problems
    assert "circle: tacrefine.cli.top -> tacrefine.sim.low" in problems
    assert any("tacrefine.sim.gone" in p and "no module of the library" in p for p in problems)
    assert not any(p.startswith("tacrefine.cli.top") for p in problems)  # down is fine


def test_the_architecture_picture_is_the_one_the_code_gives():
    modules, edges = layers.all_imports()
    assert layers.doc_block_in_file() == layers.doc_block(modules, edges), (
        "docs/architecture.md is out of date: run python scripts/layers.py --write-doc")


def test_no_module_is_over_400_lines():
    long = {m: n for m, p in layers.module_files().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
