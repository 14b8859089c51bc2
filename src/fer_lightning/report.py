"""Results table of a sweep or runs folder: `python -m fer_lightning.report <dir>` (or `dir=<dir>`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import exit_on_error, exit_with_user_error, run_cli
from fer_lightning.runtime.jsonio import atomic_path, write_text
from fer_lightning.runtime.resolvers import CONF_DIR


def write_report(root: str | Path, sort_by: str = "best_val_acc") -> dict[str, Path]:
    """Write report.csv, report.md, curves.png and summary.png (and folds.csv for k-fold runs) into `root`."""
    from fer_lightning.reporting.plots import plot_curves, plot_summary
    from fer_lightning.reporting.table import build_table, fold_summary, to_markdown

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


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def _hydra_main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "dir"):
        exit_with_user_error(
            ConfigError(
                "report: which folder? python -m fer_lightning.report outputs/runs "
                "(a sweep dir, or any folder of runs)"
            )
        )
    written = exit_on_error(write_report, str(cfg.dir), str(cfg.sort_by))
    print((Path(cfg.dir) / "report.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Accept the dir as a plain positional argument as well as `dir=...`."""
    sys.argv = sys.argv[:1] + [a if ("=" in a or a.startswith("-")) else f"dir={a}" for a in sys.argv[1:]]
    run_cli(_hydra_main)


if __name__ == "__main__":
    main()
