"""The results report of a folder of runs: report.csv / report.md, curves.png, summary.png and k-fold folds.csv."""

from __future__ import annotations

from pathlib import Path

from fer_lightning.errors import ConfigError
from fer_lightning.reporting.plots import plot_curves, plot_summary
from fer_lightning.reporting.table import build_table, fold_summary, to_markdown
from fer_lightning.runtime.jsonio import atomic_path, write_text


def write_report(root: str | Path, sort_by: str = "best_val_acc") -> dict[str, Path]:
    """Write report.csv, report.md, curves.png and summary.png (and folds.csv for k-fold runs) into `root`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"report: {root} is not a directory; pass a sweep dir (outputs/multirun/<ts>) or outputs/runs"
        )
    df = build_table(root, sort_by=None)
    if df.empty:
        raise ConfigError(f"report: no runs (folders with metrics.json or .hydra/config.yaml) under {root}")
    columns = [c for c in df.columns if not c.startswith("_")]
    if sort_by not in columns:
        raise ConfigError(
            f"sort_by={sort_by}: no such column; allowed: {', '.join(columns)} (the table's columns)"
        )
    df = df.sort_values(sort_by, ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    out = {
        "csv": root / "report.csv",
        "md": root / "report.md",
        "curves": root / "curves.png",
        "summary": root / "summary.png",
    }
    with atomic_path(out["csv"]) as tmp:
        df.drop(columns=["_history"]).to_csv(tmp, index=False)
    text = f"# Results: {root}\n\n{len(df)} runs, sorted by {sort_by}.\n\n" + to_markdown(df)
    folds = fold_summary(df)
    if folds is not None:
        out["folds"] = root / "folds.csv"
        with atomic_path(out["folds"]) as tmp:
            folds.to_csv(tmp, index=False)
        text += "\n## k-fold mean ± std\n\n" + to_markdown(folds)
    write_text(out["md"], text)
    plot_curves(df, out["curves"])
    plot_summary(df, out["summary"])
    return out
