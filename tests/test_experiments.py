"""Experiment configs: every recipe composes to what its report says and trains on synthetic faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONF
from hydra.types import RunMode
from omegaconf import OmegaConf

from fer_lightning.errors import ConfigError
from fer_lightning.train import train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

# What each recipe must set, read from its seed report (the header comment of each file cites the section).
RECIPES = {
    "athanasopoulos_model7v3": {
        "data.dataset": "fer2013",
        "model.name": "paper/athanasopoulos_model7v3",
        "augment.ops.0._target_": "fer_lightning.augment.ops.RandomRotation",
        "data.drop_blank": True,
        "data.balance": "oversample",
        "optimizer._target_": "torch.optim.Adam",
        "optimizer.lr": 1e-4,
        "data.batch_size": 64,
        "trainer.max_epochs": 20,
    },
    "athanasopoulos_study": {"model.name": "paper/athanasopoulos_model7v3", "data.balance": "oversample"},
    "dibenedetto_model1": {
        "model.name": "paper/dibenedetto_model1",
        "optimizer._target_": "torch.optim.Adam",
        "optimizer.lr": 1e-4,
        "data.batch_size": 10,
        "data.num_folds": 5,
        "trainer.max_epochs": 50,
    },
    "dibenedetto_model2": {
        "model.name": "paper/dibenedetto_model2",
        "optimizer.lr": 1e-4,
        "data.batch_size": 10,
        "data.num_folds": 5,
        "trainer.max_epochs": 10,
    },
    "dinh_gray": {
        "model.name": "paper/dinh_gray",
        "optimizer._target_": "torch.optim.Adam",
        "optimizer.lr": 1e-3,
        "optimizer.weight_decay": 1e-4,
        "scheduler.scheduler._target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "scheduler.scheduler.factor": 0.5,
        "scheduler.scheduler.patience": 3,
        "scheduler.monitor": "val/loss",
        "data.batch_size": 128,
        "trainer.max_epochs": 30,
    },
    "kahar_constant": {
        "model.name": "paper/kahar",
        "data.channels": 3,
        "data.mean": [0.485, 0.456, 0.406],
        "data.std": [0.229, 0.224, 0.225],
        "optimizer.lr": 1e-3,
        "scheduler.scheduler": None,
        "trainer.max_epochs": 25,
    },
    "kahar": {
        "data.channels": 3,
        "scheduler.scheduler._target_": "torch.optim.lr_scheduler.StepLR",
        "scheduler.scheduler.step_size": 5,
        "scheduler.scheduler.gamma": 0.5,
    },
    "kahar_exponential": {
        "data.channels": 3,
        "scheduler.scheduler._target_": "torch.optim.lr_scheduler.ExponentialLR",
    },
    "seed003_rafdb_pretrain": {
        "data.dataset": "rafdb",
        "model.name": "paper/seed003_newbase",
        "data.image_size": 224,
        "data.channels": 3,
        "data.num_classes": 7,
        "data.batch_size": 32,
        "model.dropout": 0.65,
        "optimizer.lr": 1e-4,
    },
    "seed003_rafdb_to_affectnet": {
        "data.dataset": "affectnet",
        "model.name": "paper/seed003_newbase",
        "data.image_size": 224,
        "data.channels": 3,
        "data.num_classes": 8,
        "data.batch_size": 32,
        "model.dropout": 0.65,
        "optimizer.lr": 1e-4,
    },
    "fer2013_best": {
        "model.name": "vgg_fer",
        "optimizer._target_": "torch.optim.SGD",
        "optimizer.nesterov": True,
        "scheduler.scheduler._target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
        "module.label_smoothing": 0.1,
        "trainer.max_epochs": 50,
    },
    "fer2013_fast": {
        "model.name": "fast_resnet",
        "model.pool_first": True,
        "model.stem_channels": None,
        "data.batch_size": 64,
        "optimizer.lr": 1.5e-3,
        "optimizer._target_": "torch.optim.AdamW",
        "scheduler.scheduler._target_": "fer_lightning.module.schedules.OneCycle",
        "scheduler.interval": "step",
        "module.label_smoothing": 0.1,
        "augment.cutmix_alpha": 0.0,
        "callbacks.ema.warmup": True,
        "augment.erasing_p": 0.25,
        "callbacks.ema.decay": 0.998,
        "callbacks.ema.bn_images": 4096,
        "data.val_source": "carve",
        "trainer.max_time": "00:00:20:00",
    },
    "timm_rafdb": {
        "data.dataset": "rafdb",
        "data.image_size": 100,
        "model.family": "timm",
        "model.name": "convnext_tiny.fb_in22k_ft_in1k",
        "model.pretrained": True,
        "data.mean": [0.485, 0.456, 0.406],
        "module.backbone_lr_scale": 0.1,
        "module.freeze_backbone_epochs": 1,
    },
    "timm_affectnet": {
        "data.dataset": "affectnet",
        "data.image_size": 112,
        "data.num_classes": 8,
        "model.name": "convnext_tiny.fb_in22k_ft_in1k",
        "model.pretrained": True,
    },
}
# this project's own recipes: no seed report to cite
OWN_RECIPES = ("fer2013_best", "fer2013_fast", "timm_rafdb", "timm_affectnet")

MULTIRUN = {
    "athanasopoulos_study": {"optimizer": "rmsprop,adam", "optimizer.lr": "1e-2,1e-3,1e-4"},
    "dibenedetto_model1": {"data.fold": "0,1,2,3,4"},
    "dibenedetto_model2": {"data.fold": "0,1,2,3,4"},
}

# The recipes on synthetic faces of the shape their replica accepts, one small batch each. data=synthetic
# next to an experiment comes with synthetic's own values only (runtime/experiments.py), so a replica's input
# shape is given here.
TINY = ["data.batch_size=8", "data.n_train=16", "data.n_val=16", "data.n_test=16", "debug=fdr"]
SYNTHETIC = {
    "kahar_constant": ["data.channels=3"],
    "kahar": ["data.channels=3"],
    "kahar_exponential": ["data.channels=3"],
    # no download in tests: the pretrained weights are tested in test_timm_backbone.py
    "timm_rafdb": ["++model.pretrained=false"],
    "timm_affectnet": ["++model.pretrained=false"],
}
# 3x224x224: a training image costs ~0.1 TFLOP, so one or two images a split
SEED003_TINY = [
    "data.batch_size=2",
    "data.n_train=2",
    "data.n_val=1",
    "data.n_test=1",
    "data.image_size=224",
    "data.channels=3",
]
SEED003 = ("seed003_rafdb_pretrain", "seed003_rafdb_to_affectnet")  # trained by the two-stage test below


def test_every_experiment_has_a_recipe_check():
    assert set(EXPERIMENTS) - {"demo"} == set(RECIPES)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_to_its_recipe(train_cfg, name):
    cfg = train_cfg(f"experiment={name}", fast=False)
    for key, expected in RECIPES.get(name, {}).items():
        value = OmegaConf.select(cfg, key)
        value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected, key
    if name in MULTIRUN:
        assert cfg.hydra.mode == RunMode.MULTIRUN
        assert OmegaConf.to_container(cfg.hydra.sweeper.params) == MULTIRUN[name]
    else:
        assert cfg.hydra.mode != RunMode.MULTIRUN
    header = (CONF / "experiment" / f"{name}.yaml").read_text().split("\ndefaults:")[0]
    if name in RECIPES and name not in OWN_RECIPES:
        # every replica cites its seed report and the accuracy it reported (or says that it reported none)
        assert "../shared/seeds/00" in header
        assert "%" in header or "accuracy" in header


def test_fer2013_best_claims_no_measured_accuracy():
    header = (CONF / "experiment" / "fer2013_best.yaml").read_text()
    assert "not a measured result" in header


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n not in SEED003])
def test_experiment_trains_on_synthetic_faces(train_cfg, name):
    cfg = train_cfg(f"experiment={name}", *TINY, *SYNTHETIC.get(name, []))
    metrics, _ = train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert summary["status"] == "completed"
    assert summary["model"] == cfg.model.name
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_seed003_fine_tunes_the_rafdb_model_on_8_classes(train_cfg, caplog):
    stage1 = train_cfg("experiment=seed003_rafdb_pretrain", *SEED003_TINY)
    train(stage1)
    ckpt = Path(stage1.paths.output_dir) / "checkpoints" / "last.ckpt"
    stage2 = train_cfg(
        "experiment=seed003_rafdb_to_affectnet",
        f"init_from={ckpt}",
        *SEED003_TINY,
        "data.num_classes=8",
        "debug=fdr",
    )
    with caplog.at_level("INFO", logger="fer_lightning"):
        _, objects = train(stage2)
    assert objects["module"].num_classes == 8
    # the convolutions come from RAF-DB; only the head (weight and bias) is new
    loaded = [r.message for r in caplog.records if r.message.startswith("init_from")]
    assert loaded and "re-initialised 2 " in loaded[0], loaded


def test_seed003_affectnet_stage_stops_without_the_rafdb_model(train_cfg):
    cfg = train_cfg("experiment=seed003_rafdb_to_affectnet", *SEED003_TINY)
    with pytest.raises(
        ConfigError, match=r"init_from=.*seed003/rafdb_pretrain/checkpoints/last.ckpt: no such"
    ):
        train(cfg)


# what each ablation of fer2013_fast changes: (key, value without the ingredient, or with it for with_cutmix)
ABLATIONS = {
    "full": None,
    "with_cutmix": ("augment.cutmix_alpha", 1.0),
    "no_ema": ("callbacks.ema", None),
    "no_schedule": ("scheduler.scheduler", None),
    "no_smoothing": ("module.label_smoothing", 0.0),
    "no_bn_recompute": ("callbacks.ema.bn_images", None),
    "dinh_gray_net": ("model.name", "paper/dinh_gray"),
}


def test_every_ablation_is_listed():
    assert {p.stem for p in (CONF / "ablation").glob("*.yaml")} == set(ABLATIONS)


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_fer2013_fast_ablation_removes_one_ingredient(train_cfg, ablation):
    from omegaconf import OmegaConf

    full = OmegaConf.to_container(train_cfg("experiment=fer2013_fast", fast=False), resolve=False)
    cut = OmegaConf.to_container(
        train_cfg("experiment=fer2013_fast", f"+ablation={ablation}", fast=False), resolve=False
    )
    for config in (full, cut):
        config.pop("hydra", None)
        config.pop("paths", None)
    changed = ABLATIONS[ablation]
    if changed is None:
        assert cut == full
        return
    key, value = changed
    node = cut
    for part in key.split("."):
        node = node[part] if node is not None else None
    assert node == value
    # nothing else moves but the ingredient's own group
    group = key.split(".")[0]
    assert {k: v for k, v in cut.items() if k != group} == {k: v for k, v in full.items() if k != group}
