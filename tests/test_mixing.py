"""Mixup / CutMix and random erasing as config options: seeded per-sample draws, soft-target loss, off by default."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fer_lightning.augment import Augment
from fer_lightning.augment.mixing import BatchMix, sample_beta
from fer_lightning.augment.ops import RandomErasing
from fer_lightning.errors import ConfigError
from fer_lightning.module import FERClassifier

CONF_AUGMENT = "src/fer_lightning/conf/augment"


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def images(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Distinct noise images in [0, 1)."""
    return torch.rand((n, 1, 12, 12), generator=gen(seed))


def test_beta_sampler_matches_the_distribution() -> None:
    for alpha in (0.2, 1.0, 2.0):
        lam = sample_beta(alpha, 40_000, gen(1), torch.device("cpu"))
        assert ((lam >= 0) & (lam <= 1)).all()
        var = 1.0 / (4 * (2 * alpha + 1))  # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
        assert abs(lam.mean().item() - 0.5) < 0.01
        assert abs(lam.var().item() - var) < 0.1 * var


def test_mixup_blends_each_sample_with_a_partner_by_its_share() -> None:
    x, y = images(), torch.arange(16) % 7
    out, y_a, y_b, lam = BatchMix(mixup_alpha=0.4)(x, y, generator=gen(2))
    assert torch.equal(y_a, y)
    assert not torch.equal(lam, torch.ones(16)) and lam.unique().numel() > 8  # per-sample shares
    # each output is lam * own + (1 - lam) * some other sample of the batch, and that sample's label is y_b
    for i in range(16):
        matches = [
            j
            for j in range(16)
            if j != i and torch.allclose(out[i], lam[i] * x[i] + (1 - lam[i]) * x[j], atol=1e-6)
        ]
        assert len(matches) == 1 and y_b[i] == y[matches[0]]


def test_cutmix_pastes_a_box_whose_area_is_the_partner_share() -> None:
    x, y = images(), torch.arange(16) % 7
    out, _, y_b, lam = BatchMix(cutmix_alpha=1.0)(x, y, generator=gen(3))
    for i in range(16):
        changed = (out[i] != x[i]).float().mean().item()
        assert abs(changed - (1 - lam[i].item())) < 1e-6  # noise images differ at every pasted pixel
        rows, cols = torch.nonzero(out[i, 0] != x[i, 0]).unbind(1) if changed else (None, None)
        if changed:  # the changed pixels form one rectangle
            area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert int(area) == int((out[i] != x[i]).sum())


def test_mixing_is_seeded_and_switch_and_prob_choose_per_sample() -> None:
    x, y = images(), torch.arange(16) % 7
    mix = BatchMix(mixup_alpha=0.4, cutmix_alpha=1.0, prob=0.5, switch_prob=0.5)
    a = mix(x, y, generator=gen(4))
    b = mix(x, y, generator=gen(4))
    c = mix(x, y, generator=gen(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    lam = torch.cat([mix(x, y, generator=gen(s))[3] for s in range(20)])
    assert 0.35 < (lam == 1).float().mean() < 0.65  # about half the samples unmixed (prob 0.5)


def test_mixing_off_and_options_off_change_nothing() -> None:
    x, y = images(), torch.arange(16) % 7
    out, y_a, y_b, lam = BatchMix()(x, y, generator=gen(6))
    assert out is x and torch.equal(y_b, y) and torch.equal(lam, torch.ones(16))
    for name in ("none", "standard", "athanasopoulos", "dibenedetto", "dinh_gray"):
        aug = instantiate(OmegaConf.load(f"{CONF_AUGMENT}/{name}.yaml"))
        assert not aug.mix.enabled
        assert not any(isinstance(op, RandomErasing) for op in aug.ops)
    plain = Augment(ops=[])
    assert torch.equal(plain(x, generator=gen(7)), x)


def test_erasing_p_appends_random_erasing_to_any_preset() -> None:
    cfg = OmegaConf.load(f"{CONF_AUGMENT}/standard.yaml")
    cfg.erasing_p = 1.0
    aug = instantiate(cfg)
    assert isinstance(aug.ops[-1], RandomErasing) and aug.ops[-1].p == 1.0
    x = torch.full((8, 1, 48, 48), 0.5)
    out = aug(x, generator=gen(8))
    assert ((out == 0).flatten(1).any(dim=1)).all()  # every image has an erased (black) rectangle


def test_bad_mixing_values_name_the_key() -> None:
    for kwargs, key in (
        ({"mixup_alpha": -1}, "augment.mixup_alpha"),
        ({"cutmix_alpha": -0.5}, "augment.cutmix_alpha"),
        ({"mix_prob": 2}, "augment.mix_prob"),
        ({"mix_switch_prob": -1}, "augment.mix_switch_prob"),
        ({"erasing_p": 1.5}, "augment.erasing_p"),
    ):
        try:
            Augment(ops=[], **kwargs)
        except ConfigError as err:
            assert key in str(err)
        else:
            raise AssertionError(f"{kwargs} accepted")


def _module(label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None) -> FERClassifier:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 7))
    return FERClassifier(
        net, optimizer=None, num_classes=7, label_smoothing=label_smoothing, class_weights=class_weights
    )


def test_soft_target_loss_equals_the_hand_computed_one() -> None:
    logits = torch.randn(16, 7, generator=gen(9))
    y, y_b = torch.arange(16) % 7, (torch.arange(16) + 3) % 7
    lam = torch.rand(16, generator=gen(10))
    for eps in (0.0, 0.1):
        target = lam[:, None] * F.one_hot(y, 7) + (1 - lam[:, None]) * F.one_hot(y_b, 7)
        target = target * (1 - eps) + eps / 7
        expected = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
        got = _module(eps).mixed_loss(logits, y, y_b, lam)
        assert torch.allclose(got, expected, atol=1e-6)
        # a share of 1 is the ordinary (smoothed) cross-entropy
        plain = F.cross_entropy(logits, y, label_smoothing=eps)
        assert torch.allclose(_module(eps).mixed_loss(logits, y, y_b, torch.ones(16)), plain, atol=1e-6)
    weights = torch.linspace(0.5, 2.0, 7)
    weighted = _module(0.1, weights).mixed_loss(logits, y, y_b, torch.ones(16))
    assert torch.allclose(
        weighted, F.cross_entropy(logits, y, weight=weights, label_smoothing=0.1), atol=1e-6
    )


def test_training_step_on_a_mixed_batch_counts_the_larger_share() -> None:
    module = _module()
    x = images()
    y, y_b = torch.zeros(16, dtype=torch.long), torch.ones(16, dtype=torch.long)
    lam = torch.tensor([0.9] * 8 + [0.2] * 8)
    loss, _, target = module._step((x, y, y_b, lam))
    assert torch.equal(target, torch.tensor([0] * 8 + [1] * 8))
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_datamodule_mixes_training_batches_only_when_switched_on(train_cfg) -> None:
    from fer_lightning.build import build_datamodule

    class Trainer:
        training = True

    batch = (torch.randint(0, 256, (8, 1, 48, 48), dtype=torch.uint8), torch.arange(8) % 7, 11)
    plain = build_datamodule(train_cfg())
    mixed = build_datamodule(train_cfg("augment.mixup_alpha=0.4", "augment.cutmix_alpha=1.0"))
    for dm in (plain, mixed):
        dm.trainer = Trainer()
    out_plain = plain.on_after_batch_transfer(batch, 0)
    out_mixed = mixed.on_after_batch_transfer(batch, 0)
    assert len(out_plain) == 2 and len(out_mixed) == 4
    assert all(
        torch.equal(u, v) for u, v in zip(out_mixed, mixed.on_after_batch_transfer(batch, 0), strict=True)
    )
    other = mixed.on_after_batch_transfer((*batch[:2], 12), 0)  # another (epoch, batch) seed
    assert not torch.equal(other[3], out_mixed[3])
    Trainer.training = False
    assert len(mixed.on_after_batch_transfer(batch, 0)) == 2  # validation and test stay unmixed
