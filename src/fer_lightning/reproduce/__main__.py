"""Reproduce the seed reports' FER2013 recipes: `python -m fer_lightning.reproduce [data_root=<dir>]` (`make reproduce`).

Prints the plan and its time estimate, trains each recipe into `out_dir/<recipe>` (skipping finished runs and
resuming interrupted ones), evaluates each best-validation checkpoint on PublicTest (plain and flip TTA), probes
the CPU speed of the recipes that need a GPU, and writes the results page.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR

log = logging.getLogger("fer_lightning")


def reproduce(cfg: DictConfig) -> dict:
    """Run the plan of `cfg` (see conf/reproduce.yaml) and write the results page; return the page's paths."""
    from fer_lightning.reproduce.page import write_page
    from fer_lightning.reproduce.plan import format_plan, recipes_from_config, run_state
    from fer_lightning.reproduce.runner import evaluate_recipe, machine_info, probe_recipe, train_recipe

    data_root = Path(str(cfg.data_root)).expanduser()
    if not cfg.page_only and not cfg.dry_run and not data_root.is_dir():
        raise ConfigError(
            f"data_root={data_root} does not exist; point it at the folder holding fer2013.csv(.gz), "
            "e.g. data_root=../shared/data/fer2013"
        )
    only = list(cfg.only) if cfg.get("only") else None
    configured = (
        OmegaConf.to_container(cfg.recipes, resolve=True),
        OmegaConf.to_container(cfg.gpu_recipes, resolve=True) if cfg.get("gpu_recipes") else None,
    )
    recipes = recipes_from_config(*configured, only)
    out_dir = Path(str(cfg.out_dir)).expanduser().resolve()
    common = [str(o) for o in cfg.get("common_overrides") or []]
    print(format_plan(recipes, out_dir), flush=True)
    if cfg.dry_run:
        return {}
    if not cfg.page_only:
        tta_modes = ["none", str(cfg.tta)] if str(cfg.tta) != "none" else ["none"]
        for recipe in recipes:
            run_dir = out_dir / recipe.name
            if recipe.gpu:
                result = probe_recipe(recipe, run_dir, str(data_root), common, int(cfg.probe_steps))
                probed = "failed" if result is None else f"{result['sec_per_epoch']:.0f} s/epoch"
                print(f"{recipe.name}: needs a GPU; CPU probe {probed}", flush=True)
                continue
            state = train_recipe(recipe, run_dir, str(data_root), common) if cfg.train else run_state(run_dir)
            accs = evaluate_recipe(run_dir, tta_modes) if state == "done" else {}
            print(f"{recipe.name}: {state} " + " ".join(f"{k}={v:.4f}" for k, v in accs.items()), flush=True)
        if cfg.get("probe_cpu_recipes"):
            # after the trainings, so that the probes time a machine that runs nothing else
            for recipe in recipes:
                if not recipe.gpu:
                    probe_recipe(recipe, out_dir / recipe.name, str(data_root), common, int(cfg.probe_steps))
    notes_file = Path(str(cfg.notes_file)) if cfg.get("notes_file") else None
    notes = notes_file.read_text() if notes_file is not None and notes_file.is_file() else ""
    command = "python -m fer_lightning.reproduce " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    # the page always lists every recipe: those outside `only` keep their runs' (or archived) rows
    paths = write_page(
        recipes_from_config(*configured, None),
        out_dir,
        Path(str(cfg.results_dir)).expanduser(),
        machine=machine_info(),
        command=command.strip(),
        notes=notes,
    )
    print(f"results page: {paths['md']}", flush=True)
    return paths


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="reproduce")
def _hydra_main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    exit_on_error(reproduce, cfg)


def main() -> None:
    """Console entry point: user errors are one paragraph and exit code 2."""
    run_cli(_hydra_main)


if __name__ == "__main__":
    main()
