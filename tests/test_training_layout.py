"""The layout of `training/`: the engine reaches SynthDiff only through `training.synthdiff.interface`, and the
data-reading modules live in `training/data/`."""

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[1] / "training"
WING = TRAINING / "synthdiff"


def _imported_modules(path: Path) -> list[str]:
    """Absolute dotted names of the modules `path` imports (relative imports resolved against its package)."""
    package = path.relative_to(TRAINING.parent).with_suffix("").parts[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_engine_imports_synthdiff_only_through_its_interface():
    crossings = {}
    for path in sorted(TRAINING.rglob("*.py")):
        if WING in path.parents:
            continue
        for name in _imported_modules(path):
            if name.startswith("training.synthdiff") and name != "training.synthdiff.interface":
                crossings.setdefault(str(path.relative_to(TRAINING.parent)), []).append(name)
    assert crossings == {}, ("modules outside training/synthdiff/ must import SynthDiff through "
                             f"training.synthdiff.interface (add the name there): {crossings}")


def test_interface_exports_resolve():
    from training.synthdiff import interface

    missing = [name for name in interface.__all__ if not hasattr(interface, name)]
    assert missing == []


def test_relative_imports_resolve_at_every_depth():
    # guards the crossing test above: relative imports one and two packages deep are seen with their full names
    assert "training.synthdiff.catalogue" in _imported_modules(WING / "pair_facts.py")
    assert "training.synthdiff.interface" in _imported_modules(TRAINING / "data" / "stage_data.py")
    assert "training.data.eval_set" in _imported_modules(TRAINING / "evaluation" / "__init__.py")


def test_data_room_holds_the_data_readers():
    assert {"stage_data.py", "loader.py", "eval_set.py"} <= {p.name for p in (TRAINING / "data").glob("*.py")}
    old = [TRAINING / "stage_data.py", TRAINING / "loader.py", TRAINING / "evaluation" / "data.py"]
    assert [p for p in old if p.exists()] == []
