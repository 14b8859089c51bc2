"""Collect every run under a folder from its saved files (never from logs) into one table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

COLUMNS = [
    "run",
    "status",
    "params",
    "sec_per_epoch",
    "epochs",
    "train_acc",
    "val_acc",
    "best_val_acc",
    "test_acc",
    "test_precision",
    "test_recall",
    "test_f1",
    "error",
]

_METRIC_COLUMNS = {
    "train_acc": "train/acc",
    "val_acc": "val/acc",
    "best_val_acc": "val/acc_best",
    "test_acc": "test/acc",
    "test_precision": "test/precision",
    "test_recall": "test/recall",
    "test_f1": "test/f1",
}


def find_runs(root: Path) -> list[Path]:
    """Run dirs below `root`: those Hydra started (a .hydra/ folder) or that left a metrics.json."""
    # a match of ".hydra/config.yaml" is the file itself: the run dir is two levels up
    found = {p.parent.parent for p in root.rglob(".hydra/config.yaml")} | {
        p.parent for p in root.rglob("metrics.json")
    }
    # eval outputs also hold a metrics.json but no train config; keep training runs only
    return sorted(
        p for p in found if (p / "config.yaml").is_file() or (p / ".hydra" / "config.yaml").is_file()
    )


def _overrides(run: Path) -> list[str]:
    path = run / ".hydra" / "overrides.yaml"
    if path.is_file():
        return [str(o) for o in (yaml.safe_load(path.read_text()) or [])]
    metrics = run / "metrics.json"
    if metrics.is_file():
        return list(json.loads(metrics.read_text()).get("overrides") or [])
    return []


def read_run(run: Path, root: Path) -> dict:
    """One table row from a run's metrics.json, epoch_metrics.json and overrides."""
    row: dict = {"run": str(run.relative_to(root)) if run != root else run.name}
    metrics_path = run / "metrics.json"
    summary = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {"status": "incomplete"}
    row["status"] = summary.get("status", "incomplete")
    row["error"] = summary.get("error", "")
    row["params"] = summary.get("params")
    row["epochs"] = summary.get("epochs")
    row["sec_per_epoch"] = summary.get("seconds_per_epoch")
    values = summary.get("metrics") or {}
    for column, key in _METRIC_COLUMNS.items():
        row[column] = values.get(key)
    history_path = run / "epoch_metrics.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    if row["epochs"] is None and history:  # a failed or killed run still shows how far it got
        row["epochs"] = len(history)
        seconds = [h["seconds"] for h in history if h.get("seconds")]
        row["sec_per_epoch"] = sum(seconds) / len(seconds) if seconds else None
    row["_overrides"] = _overrides(run)
    row["_history"] = history
    return row


def _split_override(o: str) -> tuple[str, str]:
    key, _, value = o.partition("=")
    return key.lstrip("+~"), value


def build_table(root: Path, sort_by: str | None = "best_val_acc") -> pd.DataFrame:
    """All runs under `root`, with one column per override that differs between runs, sorted best first."""
    rows = [read_run(run, root) for run in find_runs(root)]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    parsed = [dict(_split_override(o) for o in r["_overrides"]) for r in rows]
    keys = sorted({k for p in parsed for k in p})
    varying = [k for k in keys if len({p.get(k) for p in parsed}) > 1]
    for row, p in zip(rows, parsed, strict=True):
        for k in varying:
            row[k] = p.get(k, "")
    df = pd.DataFrame(rows)
    df = df[["run", "status", *varying, *[c for c in COLUMNS if c not in ("run", "status")], "_history"]]
    # counts stay integers when a failed run leaves them empty (a plain column would turn float: 981191.0000)
    df = df.astype({"params": "Int64", "epochs": "Int64"})
    if sort_by:
        df = df.sort_values(sort_by, ascending=False, na_position="last", kind="stable").reset_index(
            drop=True
        )
    df.attrs["varying"] = varying
    return df


def fold_summary(df: pd.DataFrame) -> pd.DataFrame | None:
    """Mean and std of the metrics over k-fold runs that share every other override; None without folds."""
    if "data.fold" not in df.columns:
        return None
    done = df[df["status"] == "completed"]
    group_keys = [k for k in df.attrs.get("varying", []) if k != "data.fold"]
    metrics = [c for c in _METRIC_COLUMNS if done[c].notna().any()]
    if done.empty or not metrics:
        return None
    grouped = done.groupby(group_keys, dropna=False) if group_keys else [((), done)]
    rows = []
    for key, part in grouped:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(group_keys, key, strict=True))
        row["folds"] = len(part)
        for m in metrics:
            values = part[m].astype(float)
            row[f"{m}_mean"] = values.mean()
            row[f"{m}_std"] = values.std(ddof=0) if len(values) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """A Markdown table without needing the optional `tabulate` package."""
    shown = df.drop(columns=[c for c in df.columns if c.startswith("_")])

    def cell(v) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"
