"""The notebooks in notebooks/ run top to bottom on synthetic data, and are committed without outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
import torch
from conftest import THREADS
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from fer_lightning.notebook_utils import compose_config, duplicate_groups

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "fer-lightning-tests"
# Appended to the executed copy: the kernel must be this interpreter's environment, not whatever a user-level
# `python3` kernelspec points at.
PROBE = "import sys\nprint(sys.prefix)"
PARAMETER_VARS = ("FER_DATA", "FER_DATA_ROOT", "FER_SWEEP_DIR", "FER_CKPT")
# Smaller data and network than the notebooks' own (which aim at telling pictures in ~30 s): the test checks
# the plumbing, not the accuracy.
SMALLER_RUNS = """
def _smaller(overrides):
    keep = [o for o in overrides if not o.startswith(("data.n_", "trainer.max_epochs="))]
    return [
        *keep,
        "data.n_train=256",
        "data.n_val=64",
        "data.n_test=64",
        "trainer.max_epochs=2",
        "model.blocks=[{channels:8},{channels:16}]",
        "model.fc=[{features:32}]",
    ]
"""


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec running this test's own interpreter, in a private folder (nothing installed globally)."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))
    return [str(prefix / "share" / "jupyter" / "kernels")]


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The kernel's environment: outputs under tmp (FER_ROOT), temp dirs under tmp, no notebook parameters set."""
    for var in PARAMETER_VARS:
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "root").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("FER_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("OMP_NUM_THREADS", str(THREADS))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return tmp_path


def execute(name: str, kernel_dirs: list[str], scratch: Path, parameters: str = "") -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel from `scratch/cwd`; a failing cell raises CellExecutionError.

    `parameters` is code run right after the notebook's parameters cell, as papermill injects it.
    """
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if parameters:
        (at,) = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(parameters))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
    client = NotebookClient(nb, km=km, timeout=240, resources={"metadata": {"path": str(scratch / "cwd")}})
    client.execute()
    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert Path(probe) == Path(sys.prefix), f"the kernel ran {probe}, not this environment ({sys.prefix})"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    return nb


def images_shown(nb: nbformat.NotebookNode) -> int:
    """How many PNG images the notebook displayed."""
    return sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type in ("display_data", "execute_result")
    )


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code), (
        "clear the outputs before committing"
    )
    assert any("parameters" in c.metadata.get("tags", []) for c in code), (
        "a parameters cell reads the env vars"
    )


def test_duplicate_groups_finds_identical_images_across_splits():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=g)
    val = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8, generator=g)
    train[4] = train[1]
    val[2] = train[1]
    val[0] = val[1]
    groups = duplicate_groups({"train": train, "val": val})
    assert groups == [[("train", 1), ("train", 4), ("val", 2)], [("val", 0), ("val", 1)]]
    assert duplicate_groups({"train": train[:4]}) == []


def test_compose_config_sets_the_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_ROOT", str(tmp_path))
    cfg = compose_config("eval", ["ckpt_path=x.ckpt"])
    assert Path(cfg.paths.output_dir).parent == tmp_path / "outputs" / "evals"
    cfg = compose_config("train", ["optimizer.lr=0.01"], run_dir=tmp_path / "run")
    assert cfg.paths.output_dir == str(tmp_path / "run")
    assert list(cfg.hydra.overrides.task) == ["optimizer.lr=0.01"]


def test_dataset_tour(kernel_dirs, scratch):
    nb = execute("01_dataset_tour", kernel_dirs, scratch)
    # class bars, faces per class, two augmentation grids (synthetic faces have no blanks or duplicates)
    assert images_shown(nb) >= 4
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "0 blank images" in text
    assert not (scratch / "root" / "outputs").exists(), "the tour writes no run"


@pytest.mark.slow
@pytest.mark.real_data
def test_dataset_tour_on_fer2013(kernel_dirs, scratch, fer2013_gz, monkeypatch):
    monkeypatch.setenv("FER_DATA", "fer2013")
    monkeypatch.setenv("FER_DATA_ROOT", str(fer2013_gz.parent))
    nb = execute("01_dataset_tour", kernel_dirs, scratch)
    assert images_shown(nb) >= 5  # and the duplicates found (FER2013 has some)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "source: fer2013:" in text


@pytest.mark.slow
def test_sweep_analysis(kernel_dirs, scratch):
    nb = execute("02_sweep_analysis", kernel_dirs, scratch, SMALLER_RUNS + "BASE = _smaller(BASE)")
    # accuracy per hyperparameter, lr x batch heatmap, curves of 3 runs, confusion matrix, misclassified
    assert images_shown(nb) >= 7
    (report,) = (scratch / "tmp").glob("fer-sweep-*/report.csv")
    assert len(report.read_text().splitlines()) == 5
    (evaluation,) = (scratch / "root" / "outputs" / "evals").iterdir()
    assert (evaluation / "confusion_matrix.png").is_file()
    assert (evaluation / "misclassified.png").is_file()


@pytest.mark.slow
def test_model_inspection(kernel_dirs, scratch):
    nb = execute(
        "03_model_inspection", kernel_dirs, scratch, SMALLER_RUNS + "TINY = _smaller(TINY)\nMAX_CHANNELS = 16"
    )
    # filters and activations of each of the 2 conv layers, occlusion, Grad-CAM, Grad-CAM per class
    assert images_shown(nb) >= 7
    outputs = scratch / "root" / "outputs"
    for name in ("gradcam.png", "occlusion.png", "visualize.json"):
        assert list(outputs.rglob(name)), f"visualize wrote no {name} under {outputs}"
    assert list((scratch / "tmp").glob("fer-model-*/checkpoints/*.ckpt"))
