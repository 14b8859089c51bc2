"""EMA and SWA of the weights: validation, the saved checkpoints and the test stage use the averaged weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.optim.swa_utils import update_bn

from fer_lightning.callbacks import EMA, SWA
from fer_lightning.errors import ConfigError
from fer_lightning.eval import evaluate
from fer_lightning.train import train

SHORT = ["+trainer.limit_train_batches=3", "callbacks.figures=null"]


class ValidationWeights(pl.Callback):
    """Copies the network's weights as validation starts (runs after the averaging callback's swap)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.seen.append(
            {k: v.detach().clone() for k, v in pl_module.state_dict().items() if k.startswith("net.")}
        )


def _net(state: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith("net.") and v.is_floating_point()}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k].cpu(), b[k].cpu()) for k in b)


def test_default_callbacks_average_nothing(train_cfg) -> None:
    cfg = train_cfg()
    assert not any("averaging" in str(c.get("_target_", "")) for c in cfg.callbacks.values() if c)
    assert {"ema", "swa"}.isdisjoint(cfg.callbacks)


def test_ema_weights_are_validated_saved_tested_and_evaluated(train_cfg) -> None:
    cfg = train_cfg(
        "callbacks=ema",
        "callbacks.progress_bar=null",
        "callbacks.early_stopping=null",
        "callbacks.ema.decay=0.5",
        "+callbacks.seen._target_=test_averaging.ValidationWeights",
        *SHORT,
    )
    metrics, objects = train(cfg)
    best = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["best_ckpt"]
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    averaged, raw = _net(ckpt["state_dict"]), _net(ckpt["current_model_state"])
    assert not _same(averaged, raw)  # the average differs from the raw weights
    seen = next(c for c in objects["trainer"].callbacks if isinstance(c, ValidationWeights)).seen
    assert _same(seen[-1], averaged)  # validation ran on the averaged weights
    assert _same(objects["module"].state_dict(), averaged)  # and so did the test stage
    eval_cfg = train_cfg(f"ckpt_path={best}", fast=False, config_name="eval")
    report, _ = evaluate(eval_cfg)
    out = json.loads((Path(eval_cfg.paths.output_dir) / "metrics.json").read_text())
    assert out["accuracy"] == pytest.approx(metrics["test/acc"], abs=1e-6)


def test_swa_averages_epoch_ends_from_its_start_epoch(train_cfg) -> None:
    cfg = train_cfg(
        "callbacks=swa",
        "callbacks.progress_bar=null",
        "callbacks.early_stopping=null",
        "callbacks.swa.start_epoch=1",
        "callbacks.model_checkpoint.save_top_k=-1",
        "trainer.max_epochs=3",
        "test=false",
        *SHORT,
    )
    train(cfg)
    ckpts = sorted((Path(cfg.paths.output_dir) / "checkpoints").glob("epoch*.ckpt"))
    e0, e1, e2 = (torch.load(p, map_location="cpu", weights_only=False) for p in ckpts)
    assert "current_model_state" not in e0  # before the start epoch: the raw weights
    assert _same(_net(e1["state_dict"]), _net(e1["current_model_state"]))  # one epoch averaged
    r1, r2 = _net(e1["current_model_state"]), _net(e2["current_model_state"])
    for key, value in _net(e2["state_dict"]).items():
        assert torch.allclose(value, (r1[key] + r2[key]) / 2, atol=1e-6), key


def test_one_averaging_at_a_time_and_bad_values() -> None:
    class Trainer:
        callbacks = [EMA(), SWA()]

    with pytest.raises(ConfigError, match="one weight averaging"):
        Trainer.callbacks[0].setup(Trainer(), None, "fit")
    with pytest.raises(ConfigError, match="callbacks.ema.decay"):
        EMA(decay=1.5)
    with pytest.raises(ConfigError, match="callbacks.swa.start_epoch"):
        SWA(start_epoch=-1)


def test_ema_update_warms_up_then_holds_its_decay() -> None:
    from torch.optim.swa_utils import AveragedModel

    from fer_lightning.callbacks.averaging import ema_update_fn

    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    for warmup, first_decay in ((True, 2 / 11), (False, 0.9)):
        with torch.no_grad():
            net[0].weight.zero_()
        avg = AveragedModel(net, multi_avg_fn=ema_update_fn(0.9, warmup), use_buffers=True)
        avg.update_parameters(net)  # the first update copies the weights
        with torch.no_grad():
            net[0].weight.fill_(1.0)
            net[1].num_batches_tracked.fill_(7)
        avg.update_parameters(net)  # n_averaged = 1: decay (1 + 1) / (10 + 1) with warm-up
        assert torch.allclose(avg.module[0].weight, torch.full((1, 2), 1 - first_decay))
        assert int(avg.module[1].num_batches_tracked) == 7  # integer buffers follow the model
        for _ in range(200):
            avg.update_parameters(net)
        # late updates use the configured decay: (1 + n) / (10 + n) > 0.9 once n > 80
        before = avg.module[0].weight.clone()
        avg.update_parameters(net)
        assert torch.allclose(1 - avg.module[0].weight, (1 - before) * 0.9, atol=1e-6)


def test_ema_every_n_steps_updates_on_every_nth_step_with_n_steps_of_decay(train_cfg) -> None:
    from torch.optim.swa_utils import AveragedModel

    cfg = train_cfg(
        "callbacks=ema",
        "callbacks.progress_bar=null",
        "callbacks.early_stopping=null",
        "callbacks.ema.every_n_steps=3",
        "+trainer.limit_train_batches=5",
        "trainer.max_epochs=2",
        "callbacks.figures=null",
        "test=false",
    )
    _, objects = train(cfg)
    ema = next(c for c in objects["trainer"].callbacks if isinstance(c, EMA))
    assert objects["trainer"].global_step == 10
    # Lightning passes zero-based step indices: steps 0, 3, 6 and 9 of the 10 update the average
    assert int(ema._average_model.n_averaged) == 4

    # one update of every third step carries three steps' decay: 0.9 ** 3
    net = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.zero_()
    avg = AveragedModel(net, **EMA(decay=0.9, warmup=False, every_n_steps=3)._kwargs)
    avg.update_parameters(net)
    with torch.no_grad():
        net.weight.fill_(1.0)
    avg.update_parameters(net)
    assert torch.allclose(avg.module.weight, torch.full((1, 2), 1 - 0.9**3))
    with pytest.raises(ConfigError, match="callbacks.ema.every_n_steps"):
        EMA(every_n_steps=0)


def test_update_bn_as_the_callback_uses_it_sets_the_plain_mean_over_all_batches() -> None:
    # the callback hands torch's update_bn an iterator of model inputs; what it relies on, pinned here
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3), torch.nn.Dropout(0.5))
    net.eval()
    batches = [torch.randn(4, 1, 5, 5) * 2 + 1, torch.randn(6, 1, 5, 5) - 3]
    with torch.no_grad():
        feats = [net[0](b) for b in batches]  # what the norm sees
    update_bn(iter(batches), net)
    norm = net[1]
    # momentum None during the pass: the plain mean of the batches' statistics, whatever was there before (at
    # the norm's own momentum 0.1 the result would still hold 81 % of the initial zeros and ones)
    torch.testing.assert_close(norm.running_mean, torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0))
    torch.testing.assert_close(norm.running_var, torch.stack([f.var(dim=(0, 2, 3)) for f in feats]).mean(0))
    assert norm.momentum == 0.1 and not net.training  # the norm's momentum and the module's mode come back

    def never():
        raise AssertionError("a network without batch norm needs no forward pass")
        yield

    update_bn(never(), torch.nn.Linear(2, 2))  # no norms: nothing run


def test_ema_bn_images_recomputes_the_averages_norm_statistics_from_clean_training_faces(train_cfg) -> None:
    cfg = train_cfg(
        "model=fast_resnet",
        "model.channels=[8,16]",
        "model.blocks=[1,0]",
        "augment.erasing_p=0.5",
        "callbacks=ema",
        "callbacks.progress_bar=null",
        "callbacks.early_stopping=null",
        "callbacks.ema.decay=0.5",
        "callbacks.ema.bn_images=100",
        "trainer.precision=32-true",
        "+callbacks.seen._target_=test_averaging.ValidationWeights",
        "test=false",
        *SHORT,
    )
    _, objects = train(cfg)
    ckpt = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )
    averaged, raw = ckpt["state_dict"], ckpt["current_model_state"]
    stats = [k for k in averaged if k.endswith(("running_mean", "running_var"))]
    assert stats
    # the checkpoint's statistics are those of the averaged weights over the first 100 unaugmented training faces
    datamodule = objects["datamodule"]
    inputs = list(datamodule.model_inputs("train", limit=100))
    assert sum(len(x) for x in inputs) == 100
    torch.testing.assert_close(
        inputs[0], datamodule.to_model_input(datamodule.splits["train"].images[: len(inputs[0])])
    )
    module = objects["module"]
    module.load_state_dict(averaged)
    for key in stats:
        module.state_dict()[key].fill_(7.0)  # anything the recomputation must overwrite
    update_bn(iter(inputs), module)
    for key in stats:
        torch.testing.assert_close(module.state_dict()[key], averaged[key], atol=1e-5, rtol=1e-5)
    assert any(not torch.allclose(averaged[k], raw[k]) for k in stats)  # not the raw weights' statistics
    seen = next(c for c in objects["trainer"].callbacks if isinstance(c, ValidationWeights)).seen
    assert all(torch.equal(seen[-1][k], averaged[k]) for k in stats if k in seen[-1])  # validation used them
    with pytest.raises(ConfigError, match=r"callbacks\.ema\.bn_images=0 must be a positive integer"):
        EMA(bn_images=0)
    with pytest.raises(ConfigError, match=r"callbacks\.swa\.bn_images=-2"):
        SWA(bn_images=-2)
