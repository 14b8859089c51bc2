"""Figures of a results table: validation accuracy per epoch and per minute per run, and test accuracy per run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# Agg figures outside pyplot: files only, and a Jupyter kernel's inline display is left alone.
from fer_lightning.plotting import new_figure, save_figure


def plot_curves(df: pd.DataFrame, path: Path) -> None:
    """One line per run: validation accuracy against epoch, and against wall-clock minutes of training."""
    fig = new_figure(12, 5)
    by_epoch, by_minute = fig.subplots(1, 2)
    # not itertuples(): it renames the underscored _history column to a positional field name
    for run, history in zip(df["run"], df["_history"], strict=True):
        rows = [h for h in history or [] if h.get("val/acc") is not None]
        if not rows:
            continue
        (line,) = by_epoch.plot(
            [h["epoch"] for h in rows], [h["val/acc"] for h in rows], marker="o", ms=3, label=run
        )
        if all(h.get("seconds") is not None for h in rows):
            minutes = pd.Series([h["seconds"] for h in rows]).cumsum() / 60
            by_minute.plot(minutes, [h["val/acc"] for h in rows], marker="o", ms=3, color=line.get_color())
    by_epoch.set_xlabel("epoch")
    by_minute.set_xlabel("wall-clock minutes of training (epoch times as recorded)")
    for ax in (by_epoch, by_minute):
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    if len(df) <= 20:
        by_epoch.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_summary(df: pd.DataFrame, path: Path) -> None:
    """A bar per run: test accuracy (best validation accuracy where there is no test split)."""
    column = "test_acc" if df["test_acc"].notna().any() else "best_val_acc"
    values = df[column].fillna(0.0)
    fig = new_figure(max(6, 0.4 * len(df) + 2), 4.5)
    ax = fig.subplots()
    colors = ["tab:blue" if s == "completed" else "tab:red" for s in df["status"]]
    ax.bar(range(len(df)), values, color=colors)
    ax.set_xticks(range(len(df)), df["run"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(column.replace("_", " "))
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
