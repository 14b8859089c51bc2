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
