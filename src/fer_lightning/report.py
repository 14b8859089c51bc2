"""Results table of a sweep or runs folder: `python -m fer_lightning.report <dir>` (or `dir=<dir>`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fer_lightning.errors import ConfigError
from fer_lightning.reporting.plots import plot_curves, plot_summary
from fer_lightning.reporting.table import build_table, fold_summary, to_markdown
from fer_lightning.runtime.resolvers import CONF_DIR


def write_report(root: str | Path, sort_by: str = "best_val_acc") -> dict[str, Path]:
    """Write report.csv, report.md, curves.png and summary.png (and folds.csv for k-fold runs) into `root`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"report: {root} is not a directory; pass a sweep dir (outputs/multirun/<ts>) or outputs/runs"
        )
    df = build_table(root, sort_by=sort_by)
    if df.empty:
        raise ConfigError(f"report: no runs (folders with metrics.json or .hydra/config.yaml) under {root}")
    out = {
        "csv": root / "report.csv",
        "md": root / "report.md",
        "curves": root / "curves.png",
        "summary": root / "summary.png",
    }
    df.drop(columns=["_history"]).to_csv(out["csv"], index=False)
    text = f"# Results: {root}\n\n{len(df)} runs, sorted by {sort_by}.\n\n" + to_markdown(df)
    folds = fold_summary(df)
    if folds is not None:
        out["folds"] = root / "folds.csv"
        folds.to_csv(out["folds"], index=False)
        text += "\n## k-fold mean ± std\n\n" + to_markdown(folds)
    out["md"].write_text(text)
    plot_curves(df, out["curves"])
    plot_summary(df, out["summary"])
    return out


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        written = write_report(cfg.dir, sort_by=cfg.sort_by)
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    print((Path(cfg.dir) / "report.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Accept the dir as a plain positional argument as well as `dir=...`."""
    sys.argv = sys.argv[:1] + [a if ("=" in a or a.startswith("-")) else f"dir={a}" for a in sys.argv[1:]]
    _hydra_main()


if __name__ == "__main__":
    main()
