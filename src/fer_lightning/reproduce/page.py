"""The FER2013 results page: one row per recipe (claim vs measured), curves of every run, the machine."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from fer_lightning.reproduce.plan import Recipe, epochs_done, read_json, run_state
from fer_lightning.runtime.jsonio import atomic_path, write_text

COLUMNS = [
    "recipe",
    "seed_report",
    "claim",
    "claim_split",
    "state",
    "epochs",
    "report_epochs",
    "best_val_acc",
    "public_test_acc",
    "public_test_acc_flip",
    "sec_per_epoch",
    "total_min",
    "cpu_probe_sec_per_epoch",
]


def collect_row(recipe: Recipe, run_dir: Path) -> dict:
    """Everything the page says about one recipe, read from the files its runs saved."""
    metrics = read_json(run_dir / "metrics.json") or {}
    rows = epochs_done(run_dir)
    seconds = [r["seconds"] for r in rows if r.get("seconds")]
    evals = {
        tta: (read_json(run_dir / f"eval_{tta}" / "metrics.json") or {}).get("accuracy")
        for tta in ("none", "flip")
    }
    probe = read_json(run_dir / "cpu_probe.json") or {}
    return {
        "recipe": recipe.name,
        "seed_report": recipe.seed,
        "claim": recipe.claim,
        "claim_split": recipe.claim_split,
        "state": "needs a GPU" if recipe.gpu else run_state(run_dir),
        "epochs": len(rows) if rows else None,
        "report_epochs": recipe.epochs,
        "best_val_acc": metrics.get("best_val_acc"),
        "public_test_acc": evals["none"],
        "public_test_acc_flip": evals["flip"],
        "sec_per_epoch": statistics.median(seconds) if seconds else None,
        "total_min": sum(seconds) / 60 if seconds else None,
        "cpu_probe_sec_per_epoch": probe.get("sec_per_epoch"),
    }


def _pct(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{100 * v:.2f} %"


def _num(v, fmt: str) -> str:
    if v is None or pd.isna(v):
        return "—"
    return format(int(v) if fmt == "d" else float(v), fmt)


def markdown_table(df: pd.DataFrame) -> str:
    """The page's main table: the report's claim beside the measured accuracy and the time it took."""
    head = (
        "| recipe | report | report's claim (its split) | epochs (report) | val acc (carved, best) | "
        "PublicTest acc | + flip TTA | s / epoch (run) | s / epoch (probe) | total min |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in df.to_dict("records"):
        if r["state"] == "needs a GPU":
            probe = _num(r["cpu_probe_sec_per_epoch"], ".0f")
            lines.append(
                f"| `{r['recipe']}` | {r['seed_report']} | {r['claim']} ({r['claim_split']}) | — ({r['report_epochs']}) "
                f"| needs a GPU | needs a GPU | needs a GPU | — | {probe} (CPU) | — |"
            )
            continue
        epochs = f"{_num(r['epochs'], 'd')} ({r['report_epochs']})"
        lines.append(
            f"| `{r['recipe']}` | {r['seed_report']} | {r['claim']} ({r['claim_split']}) | {epochs} "
            f"| {_pct(r['best_val_acc'])} | {_pct(r['public_test_acc'])} | {_pct(r['public_test_acc_flip'])} "
            f"| {_num(r['sec_per_epoch'], '.1f')} | {_num(r['cpu_probe_sec_per_epoch'], '.0f')} "
            f"| {_num(r['total_min'], '.1f')} |"
        )
    return head + "\n".join(lines) + "\n"


def plot_run_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """Train (dashed) and validation (solid) accuracy and loss per epoch of every run, in one figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for i, (name, rows) in enumerate(runs.items()):
        if not rows:
            continue
        epochs = [r["epoch"] + 1 for r in rows]
        for ax, metric in zip(axes, ("acc", "loss"), strict=True):
            ax.plot(epochs, [r.get(f"val/{metric}") for r in rows], color=colors[i % 10], label=f"{name} val")
            ax.plot(
                epochs,
                [r.get(f"train/{metric}") for r in rows],
                color=colors[i % 10],
                ls="--",
                label=f"{name} train",
            )
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].set_title("accuracy (solid: validation carved from Training; dashed: train, augmented)")
    axes[1].set_title("loss")
    axes[0].legend(fontsize=7, ncol=2)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def write_page(
    recipes: list[Recipe], out_dir: Path, results_dir: Path, *, machine: dict, command: str, notes: str
) -> dict[str, Path]:
    """Write `fer2013.md`, `fer2013/report.csv` and `fer2013/curves.png` under results_dir."""
    df = pd.DataFrame([collect_row(r, out_dir / r.name) for r in recipes], columns=COLUMNS)
    assets = results_dir / "fer2013"
    out = {"md": results_dir / "fer2013.md", "csv": assets / "report.csv", "curves": assets / "curves.png"}
    assets.mkdir(parents=True, exist_ok=True)
    with atomic_path(out["csv"]) as tmp:
        df.to_csv(tmp, index=False)
    plot_run_curves({r.name: epochs_done(out_dir / r.name) for r in recipes if not r.gpu}, out["curves"])
    machine_lines = "\n".join(f"- {k}: `{v}`" for k, v in machine.items())
    launches = []
    for r in recipes:
        record = read_json(out_dir / r.name / "reproduce.json") or {}
        for launch in record.get("launches", []):
            launches.append(f"- `{r.name}`: {launch.get('started')} at commit `{launch.get('commit')}`")
    text = (
        "# FER2013: the seed reports' recipes, reproduced\n\n"
        "Every run trains on FER2013 `Training` less a stratified 10 % validation split carved from it "
        "(`data.val_source=carve`); the checkpoint with the best validation accuracy is then evaluated once on "
        "`PublicTest` (3,589 faces), plain and with flip test-time augmentation. This copy of FER2013 has no "
        "`PrivateTest`, so PublicTest is the reported split and it never chose a checkpoint.\n\n"
        + markdown_table(df)
        + "\n![training and validation curves of every run](fer2013/curves.png)\n\n"
        + notes.strip()
        + "\n\n## How it was made\n\n"
        + "```bash\npython -m fer_lightning.reproduce data_root=<dir with fer2013.csv.gz> out_dir=<runs dir>\n```\n\n"
        + "It trains (or resumes) each recipe, evaluates it and probes its speed; the trainings may run as several "
        "`only=[...]` invocations at once. The runs' trainings started (and resumed) as follows:\n\n"
        + ("\n".join(launches) or "- (no launch recorded)")
        + f"\n\nThis page was written by `{command}` on:\n\n"
        + machine_lines
        + "\n\nThe table's numbers are also in [`fer2013/report.csv`](fer2013/report.csv). s / epoch is the median "
        "wall time of a training epoch including its validation pass, as the run recorded it (on a shared machine it "
        "includes other load); s / epoch (probe) is the training images of one epoch divided by the img/s of timed "
        "training steps of the same recipe (`python -m fer_lightning.reproduce.probe`), measured after the trainings.\n"
    )
    write_text(out["md"], text)
    return out
