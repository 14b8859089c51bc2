"""The FER2013 results page: one row per recipe (claim vs measured), curves of every run, the machine.

Run folders hold checkpoints and are never committed, so they do not outlive the machine that trained them. The
page therefore keeps what it says about each run beside itself (`fer2013/runs/<recipe>/row.json` and the run's
`epoch_metrics.json`): a recipe whose run folder is not on this machine keeps its archived row, with the machine
that measured it, and a recipe trained or probed here replaces it.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from fer_lightning.reproduce.plan import Recipe, epochs_done, read_json, run_state
from fer_lightning.runtime.jsonio import atomic_path, write_json, write_text

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
    "machine",
]


def machine_label(info: dict | None) -> str | None:
    """'<CPU model>, bf16|no bf16[, <GPU>]' of a machine_info() record."""
    if not info:
        return None
    label = f"{info.get('cpu', 'unknown CPU')}, {'bf16' if info.get('avx512_bf16') else 'no bf16'}"
    return label + (f", {info['gpu']}" if info.get("gpu") else "")


def _run_machine(run_dir: Path, probe: dict) -> str | None:
    launches = (read_json(run_dir / "reproduce.json") or {}).get("launches") or []
    return machine_label(launches[-1] if launches else probe.get("machine"))


def _report_fields(recipe: Recipe) -> dict:
    """The row's columns that come from the recipe's config (the report and its claim), not from a run."""
    return {
        "recipe": recipe.name,
        "seed_report": recipe.seed,
        "claim": recipe.claim,
        "claim_split": recipe.claim_split,
        "report_epochs": recipe.epochs,
    }


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
        **_report_fields(recipe),
        "state": "needs a GPU" if recipe.gpu else run_state(run_dir),
        "epochs": len(rows) if rows else None,
        "best_val_acc": metrics.get("best_val_acc"),
        "public_test_acc": evals["none"],
        "public_test_acc_flip": evals["flip"],
        "sec_per_epoch": statistics.median(seconds) if seconds else None,
        "total_min": sum(seconds) / 60 if seconds else None,
        "cpu_probe_sec_per_epoch": probe.get("sec_per_epoch"),
        "machine": _run_machine(run_dir, probe),
    }


def has_measurements(recipe: Recipe, run_dir: Path) -> bool:
    """Whether the run folder holds anything the page reports (epochs trained, or a probe of a GPU recipe)."""
    if recipe.gpu:
        return (run_dir / "cpu_probe.json").is_file()
    return bool(epochs_done(run_dir))


def current_row(recipe: Recipe, run_dir: Path, archive: Path) -> tuple[dict, list[dict]]:
    """The recipe's row and epoch history: measured from its run folder when this machine has it (and then
    archived under `archive`), else the archived ones (none yet: an empty row in state 'new')."""
    if has_measurements(recipe, run_dir):
        row, history = collect_row(recipe, run_dir), epochs_done(run_dir)
        write_json(archive / "row.json", row)
        write_json(archive / "epoch_metrics.json", history)
        return row, history
    kept = read_json(archive / "row.json")
    if kept:
        # the report's texts come from the config of today; the measurements from the archive
        kept.update(_report_fields(recipe))
        kept.setdefault("machine", None)
        return kept, epochs_done(archive)
    return collect_row(recipe, run_dir), []


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
        "PublicTest acc | + flip TTA | s / epoch (run) | s / epoch (probe) | total min | machine |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in df.to_dict("records"):
        if r["state"] == "needs a GPU":
            probe = _num(r["cpu_probe_sec_per_epoch"], ".0f")
            lines.append(
                f"| `{r['recipe']}` | {r['seed_report']} | {r['claim']} ({r['claim_split']}) | — ({r['report_epochs']}) "
                f"| needs a GPU | needs a GPU | needs a GPU | — | {probe} (CPU) | — | {r['machine'] or '—'} |"
            )
            continue
        epochs = f"{_num(r['epochs'], 'd')} ({r['report_epochs']})"
        lines.append(
            f"| `{r['recipe']}` | {r['seed_report']} | {r['claim']} ({r['claim_split']}) | {epochs} "
            f"| {_pct(r['best_val_acc'])} | {_pct(r['public_test_acc'])} | {_pct(r['public_test_acc_flip'])} "
            f"| {_num(r['sec_per_epoch'], '.1f')} | {_num(r['cpu_probe_sec_per_epoch'], '.0f')} "
            f"| {_num(r['total_min'], '.1f')} | {r['machine'] or '—'} |"
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
    assets = results_dir / "fer2013"
    rows = {r.name: current_row(r, out_dir / r.name, assets / "runs" / r.name) for r in recipes}
    df = pd.DataFrame([row for row, _ in rows.values()], columns=COLUMNS)
    out = {"md": results_dir / "fer2013.md", "csv": assets / "report.csv", "curves": assets / "curves.png"}
    assets.mkdir(parents=True, exist_ok=True)
    with atomic_path(out["csv"]) as tmp:
        df.to_csv(tmp, index=False)
    plot_run_curves({r.name: rows[r.name][1] for r in recipes if not r.gpu}, out["curves"])
    machine_lines = "\n".join(f"- {k}: `{v}`" for k, v in machine.items())
    launches = []
    for r in recipes:
        archived = assets / "runs" / r.name / "launches.json"
        record = read_json(out_dir / r.name / "reproduce.json") or {}
        if record.get("launches"):
            write_json(archived, record["launches"])
        for launch in record.get("launches") or read_json(archived) or []:
            launches.append(
                f"- `{r.name}`: {launch.get('started')} at commit `{launch.get('commit')}` on "
                f"{machine_label(launch)}"
            )
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
        + f"\n\nThis page was last written by `{command}` on:\n\n"
        + machine_lines
        + "\n\nThe table's numbers are also in [`fer2013/report.csv`](fer2013/report.csv). s / epoch is the median "
        "wall time of a training epoch including its validation pass, as the run recorded it (on a shared machine it "
        "includes other load); s / epoch (probe) is the training images of one epoch divided by the img/s of timed "
        "training steps of the same recipe (`python -m fer_lightning.reproduce.probe`), measured after the trainings.\n"
    )
    write_text(out["md"], text)
    return out
