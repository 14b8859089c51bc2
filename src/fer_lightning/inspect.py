"""Inspect a dataset before training: `python -m fer_lightning.inspect data=<name> [format=json]`."""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.schema import check_config_types


def inspect_data(cfg: DictConfig) -> dict:
    """Per-split and per-class counts in the canonical label space, dropped rows, the cache path, size and mode."""
    from fer_lightning.build import build_datamodule  # torch loads only once a dataset is read

    datamodule = build_datamodule(cfg)
    return datamodule.summary()


def format_table(summary: dict) -> str:
    """Render the summary as a plain-text table: one row per split, one column per class."""
    splits = summary["splits"]
    classes = list(next(iter(splits.values()))["per_class"]) if splits else []
    header = ["split", "n", *classes]
    rows = [[name, str(s["n"]), *(str(s["per_class"][c]) for c in classes)] for name, s in splits.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"source: {summary['source']}"]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    dropped = ", ".join(f"{k}: {v}" for k, v in summary["dropped"].items()) or "none"
    cache = summary["cache"] or "not cached"
    if summary["cache"]:
        held = "held in memory" if summary["cache_mode"] == "memory" else "memory-mapped (data.in_memory)"
        cache += f" ({summary['cache_bytes'] / 2**20:,.1f} MiB on disk, {held})"
    lines += [f"dropped: {dropped}", f"cache: {cache}"]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="inspect")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra entry point: print the table, or one JSON object with format=json."""
    exit_on_error(check_config_types, cfg)
    summary = exit_on_error(inspect_data, cfg)
    print(json.dumps(summary) if cfg.format == "json" else format_table(summary))


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
