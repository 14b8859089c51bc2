"""Every experiment composes with every option of the groups it sets: the swapped group has only its own values.

`experiment=<E> <group>=<option>` must give the option's own config (plus the command line's values), never
the experiment's values for the option it replaced (issue: `experiment=dinh_gray scheduler=cosine` handed
ReduceLROnPlateau's `mode` to CosineAnnealingLR). The lists of experiments and options are read from conf/ at
test time, so recipes and options added later are covered too.

Every experiment x group x option triple is composed: one test per experiment walks through the options, each
command line swapping all five groups at once (option i of every group), so an experiment needs as many composes
as the largest group has options. Each swapped group must equal the option's own composition (without any
experiment) and is instantiated the way a run builds it; identical resolved group configs are built once.
"""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import CONF
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fer_lightning.errors import FERError
from fer_lightning.module.schedules import PlannedSchedule
from fer_lightning.runtime.experiments import SWAPPABLE, apply_swaps
from fer_lightning.runtime.resolvers import CONF_DIR


def options(group: str) -> list[str]:
    """Option names of a config group (nested folders give `paper/<name>`)."""
    root = CONF / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


EXPERIMENTS = options("experiment")


def swap_lines() -> list[dict[str, str]]:
    """{group: option} per command line: line i swaps every group to its option i (wrapping round)."""
    longest = max(len(options(g)) for g in SWAPPABLE)
    return [{g: options(g)[i % len(options(g))] for g in SWAPPABLE} for i in range(longest)]


@pytest.fixture(scope="module")
def hydra_ctx():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def composed(overrides: list[str]):
    cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    apply_swaps(cfg)
    return cfg


@functools.cache
def plain_group(group: str, option: str) -> str:
    return OmegaConf.to_yaml(compose(config_name="train", overrides=[f"{group}={option}"])[group])


def _tiny_params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(2, 2))]


def instantiate_group(cfg, group: str):
    """Build what the group describes, the way a run does (optimizer and scheduler bound to parameters)."""
    if group == "optimizer":
        return instantiate(cfg.optimizer)(_tiny_params())
    if group == "scheduler":
        if not cfg.scheduler.get("scheduler"):
            return None
        factory = instantiate(cfg.scheduler.scheduler)
        planned = isinstance(factory.func, type) and issubclass(factory.func, PlannedSchedule)
        extra = {"steps_per_epoch": 10, "total_epochs": 3} if planned else {}  # what the module passes
        return factory(optimizer=torch.optim.SGD(_tiny_params(), lr=0.1), **extra)
    if group == "augment":
        return instantiate(cfg.augment)
    if group == "data":
        return instantiate(cfg.data, augment=None, _convert_="partial")
    return instantiate(cfg.model, _convert_="partial")


def test_the_swap_lines_hold_every_option_of_every_group():
    lines = swap_lines()
    for group in SWAPPABLE:
        assert {swaps[group] for swaps in lines} == set(options(group))


_built: set[tuple[str, str]] = set()


def build_once(cfg, group: str) -> None:
    """Instantiate the group unless a run with the same resolved values was built already."""
    # resolved, the group holds what it takes from other groups (a model's in_channels and image_size)
    key = (group, OmegaConf.to_yaml(cfg[group], resolve=True))
    if key in _built:
        return
    instantiate_group(cfg, group)
    _built.add(key)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_option_swapped_into_the_experiment_has_only_its_own_values(hydra_ctx, experiment):
    for swaps in swap_lines():
        line = " ".join(f"{g}={o}" for g, o in swaps.items())
        cfg = composed([f"experiment={experiment}", *line.split()])
        for group, option in swaps.items():
            assert OmegaConf.to_yaml(cfg[group]) == plain_group(group, option), (
                f"experiment={experiment} {group}={option}: the experiment's {group} values leaked into the option"
            )
            if group == "model" and option in ("resnet18", "timm", "vgg_fer"):
                continue  # big networks: built once per option by test_configs
            try:
                build_once(cfg, group)
            except Exception as err:
                # a replica accepts only its published input: with another option's data that is a clear error
                cause = err.__cause__ or err
                assert group == "model" and option.startswith("paper/"), (
                    f"experiment={experiment} {line}: {err}"
                )
                assert isinstance(cause, FERError) and "data." in str(cause), err


def test_command_line_values_for_the_swapped_group_are_kept(hydra_ctx):
    cfg = composed(["experiment=dinh_gray", "scheduler=cosine", "scheduler.scheduler.eta_min=0.001"])
    assert cfg.scheduler.scheduler._target_.endswith("CosineAnnealingLR")
    assert cfg.scheduler.scheduler.eta_min == 0.001
    assert "mode" not in cfg.scheduler.scheduler
    # groups not swapped keep the recipe: data, optimizer and the trainer's epochs of seed 002
    assert cfg.data.batch_size == 128 and cfg.optimizer.weight_decay == 1e-4 and cfg.trainer.max_epochs == 30


def test_the_issue_case_builds_a_cosine_schedule(hydra_ctx):
    cfg = composed(["experiment=dinh_gray", "scheduler=cosine"])
    scheduler = instantiate_group(cfg, "scheduler")
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)


def test_without_a_swap_the_experiment_keeps_its_values(hydra_ctx):
    cfg = composed(["experiment=dinh_gray"])
    assert cfg.scheduler.scheduler.mode == "min" and cfg.scheduler.monitor == "val/loss"


def test_values_of_groups_the_experiment_keeps_go_with_a_swap(hydra_ctx):
    # data.root exists only in the experiment's data option (fer2013), not in the default synthetic one
    cfg = composed(
        ["experiment=dinh_gray", "data.root=/somewhere/fer2013", "augment=none", "trainer.max_epochs=3"]
    )
    assert cfg.data.root == "/somewhere/fer2013" and cfg.data.dataset == "fer2013"
    assert cfg.trainer.max_epochs == 3
    assert OmegaConf.to_yaml(cfg.augment) == plain_group("augment", "none")
