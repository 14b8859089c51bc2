"""`model=fast_resnet`'s layout default changed (no prep conv, norm after the pool); older checkpoints still load."""

from __future__ import annotations

import torch
from torch import nn

from fer_lightning.build import build_net, load_classifier
from fer_lightning.models.summary import count_params
from fer_lightning.train import train


def _pool_is_a_layer_of_its_own(net: nn.Module) -> bool:
    """True when a stage's max-pool is a top-level layer after the conv block (the older layout: conv, BN, ReLU, pool)."""
    return any(isinstance(m, nn.MaxPool2d) for m in net.features)


def test_model_fast_resnet_trains_the_faster_layout(train_cfg) -> None:
    cfg = train_cfg("model=fast_resnet")
    assert cfg.model.pool_first is True and cfg.model.stem_channels is None
    net = build_net(cfg)
    assert count_params(net) == 851_175
    assert not _pool_is_a_layer_of_its_own(net)


def test_a_checkpoint_written_before_pool_first_rebuilds_its_own_layout(train_cfg, tmp_path) -> None:
    # a run of the older layout, whose saved config is then made to look like one written before the option existed
    cfg = train_cfg(
        "model=fast_resnet", "model.stem_channels=32", "model.pool_first=false", "trainer.max_epochs=1"
    )
    _, objects = train(cfg)
    ckpt = torch.load(objects["trainer"].checkpoint_callback.best_model_path, weights_only=False)
    model_cfg = ckpt["hyper_parameters"]["config"]["model"]
    del model_cfg["pool_first"]
    assert model_cfg["stem_channels"] == 32
    old = tmp_path / "before_pool_first.ckpt"
    torch.save(ckpt, old)

    module, saved = load_classifier(old)  # strict: every tensor of the old layout finds its place
    assert "pool_first" not in saved.model
    assert _pool_is_a_layer_of_its_own(module.net)
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module.net(x), objects["module"].net.eval()(x))
