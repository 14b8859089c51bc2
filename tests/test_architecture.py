"""The import structure: the import-linter contracts in pyproject.toml hold, and the model zoo registers by import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def test_import_contracts_hold():
    """Layers run one way, no package has an import circle, the plain-PyTorch modules import no Lightning."""
    # A subprocess: the linter prints its report through its own console, which pytest's capture cannot read.
    result = subprocess.run(
        [sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", report)
    assert kept is not None and int(kept.group(1)) >= 3, report


def test_every_model_family_is_imported_by_the_models_package():
    """Adding a model is one file plus one import line in models/__init__.py; the registry imports no model file."""
    graph = grimp.build_graph("fer_lightning", cache_dir=None)
    package, registry = "fer_lightning.models", "fer_lightning.models.registry"
    # the families: the modules that use the decorator (the package re-exports it, and is not one)
    families = {
        module
        for module in graph.find_modules_that_directly_import(registry) - {package}
        if any(
            "register_model" in detail["line_contents"]
            for detail in graph.get_import_details(importer=module, imported=registry)
        )
    }
    assert {"fer_lightning.models.vgg", "fer_lightning.models.paper.kahar"} <= families
    assert families <= graph.find_modules_directly_imported_by(package)
    assert not graph.find_modules_directly_imported_by(registry) & (
        graph.find_descendants(package) | {package}
    )


def test_module_file_names_are_unique():
    """No two modules share a file name, so a name in a traceback or an import says which file it is."""
    names = [p.name for p in (ROOT / "src" / "fer_lightning").rglob("*.py")]
    shared = {n for n in names if names.count(n) > 1} - {"__init__.py", "__main__.py"}
    assert not shared, f"file names used twice: {sorted(shared)}"


def test_config_targets_name_no_command_module():
    """`_target_` in the config tree points at library code, never at a command module (the top layer)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli there
        import tomli as tomllib
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    top_layer = next(c for c in contracts if c["type"] == "layers")["layers"][0]
    commands = {f"fer_lightning.{name.strip()}" for name in top_layer.split("|")}
    assert "fer_lightning.train" in commands
    targets = set()
    for path in (ROOT / "src" / "fer_lightning" / "conf").rglob("*.yaml"):
        targets |= set(re.findall(r"_target_:\s*(fer_lightning\.[\w.]+)", path.read_text()))
    assert any(t.startswith("fer_lightning.models.") for t in targets)
    upward = sorted(t for t in targets if any(t == c or t.startswith(c + ".") for c in commands))
    assert not upward, f"config targets in command modules: {upward}"
