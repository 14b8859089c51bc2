"""What the notebooks in notebooks/ share: a config composed as a Hydra main would, and exact-duplicate images."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from fer_lightning.runtime.experiments import apply_swaps
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes


def compose_config(
    config_name: str, overrides: Sequence[str] = (), run_dir: str | Path | None = None
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with `overrides` as its Hydra main would, without the command line.

    The run dir is `run_dir`, or the one the command line would make (`hydra.run.dir`, e.g.
    outputs/evals/<timestamp>); `train`, `evaluate` and `visualize` then write into it and record the
    overrides, so a results table built from several composed runs shows which settings differ.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
        apply_swaps(cfg)  # a group given next to an experiment comes with its own values, as in a run
    run_dir = Path(run_dir if run_dir is not None else cfg.hydra.run.dir).expanduser().resolve()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
        if "paths" in cfg:
            cfg.paths.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def duplicate_groups(images: Mapping[str, torch.Tensor]) -> list[list[tuple[str, int]]]:
    """Groups of byte-identical images as (split, index) pairs, across all the given splits; largest group first.

    A group that spans splits is an image seen in training and scored again in validation or test.
    """
    members: dict[str, list[tuple[str, int]]] = {}
    for split, batch in images.items():
        flat = batch.detach().cpu().contiguous().flatten(1).numpy()
        for i, row in enumerate(flat):
            members.setdefault(hashlib.sha1(row.tobytes()).hexdigest(), []).append((split, i))
    groups = [g for g in members.values() if len(g) > 1]
    return sorted(groups, key=len, reverse=True)
