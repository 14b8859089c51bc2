"""`last.ckpt` follows every epoch, also the epochs whose validation accuracy did not improve."""

from __future__ import annotations

from pathlib import Path

import torch

from fer_lightning.train import train


def test_last_checkpoint_is_rewritten_without_improvement(train_cfg):
    # a learning rate this small leaves the weights, and without batch norm (whose running statistics move
    # without any gradient) also val/acc, unchanged: epochs 2 and 3 do not improve
    cfg = train_cfg(
        "trainer.max_epochs=3",
        "optimizer.lr=1e-12",
        "data.n_train=128",
        "data.n_val=64",
        "model=sequential",
        "model.block_defaults.norm=none",
        "model.fc=[]",
    )
    train(cfg)
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    last = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 2  # 0-based: the third epoch
    (best,) = [p for p in ckpts.glob("epoch*.ckpt")]
    assert torch.load(best, map_location="cpu", weights_only=False)["epoch"] == 0
