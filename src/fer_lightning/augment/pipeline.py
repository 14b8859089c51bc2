"""The training-time augmentation pipeline: ordered batch ops, then Gaussian noise after normalisation."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from fer_lightning.augment.mixing import BatchMix
from fer_lightning.augment.ops import GeometricOp, RandomCrop, RandomErasing, compose, warp
from fer_lightning.errors import ConfigError


class Augment(nn.Module):
    """Ordered batch ops applied in training, plus Gaussian noise added after normalisation.

    The DataModule calls ``forward`` on float images in [0, 1] (training batches only), normalises
    with the data's mean/std, then calls ``add_noise``.

    Args:
        ops: batch ops (see :mod:`fer_lightning.augment.ops`) applied in order.
        noise_std: standard deviation of the per-pixel Gaussian noise ``add_noise`` adds, in
            normalised units (so it scales with the data's std, not with raw intensity).
        fuse_geometric: resample once for each run of consecutive geometric ops that share border
            fill and interpolation, by multiplying their matrices. The random draws are the same
            as unfused; the image is interpolated once instead of once per op, which keeps it
            sharper and fills from the original image rather than from an already-cropped one.
        crop_size: train on random ``crop_size`` x ``crop_size`` windows (a
            :class:`~fer_lightning.augment.ops.RandomCrop` after the ops; the network built for the run
            takes the centre crop in eval mode); None (the default) keeps the full size. For networks that
            end in global pooling.
        erasing_p: probability of a :class:`~fer_lightning.augment.ops.RandomErasing` after the ops
            (and the crop; torchvision's defaults otherwise); 0 adds none. Any preset can switch it on.
        mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob: batch mixing (see
            :class:`~fer_lightning.augment.mixing.BatchMix`); both alphas 0 (the default) leave batches unmixed.
    """

    def __init__(
        self,
        ops: Iterable[nn.Module] | None = None,
        noise_std: float = 0.0,
        fuse_geometric: bool = True,
        crop_size: int | None = None,
        erasing_p: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        mix_switch_prob: float = 0.5,
    ) -> None:
        super().__init__()
        ops = list(ops) if ops is not None else []
        if not 0.0 <= float(erasing_p) <= 1.0:
            raise ConfigError(f"augment.erasing_p={erasing_p} must lie in [0, 1] (0 turns it off)")
        if crop_size is not None:
            try:
                ops.append(RandomCrop(crop_size))
            except ConfigError as err:
                raise ConfigError(f"augment.crop_size: {err} (null keeps the full image)") from None
        if float(erasing_p) > 0:
            ops.append(RandomErasing(p=float(erasing_p)))
        self.ops = nn.ModuleList(ops)
        self.mix = BatchMix(mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob)
        if float(noise_std) < 0:
            raise ConfigError(f"augment.noise_std must be >= 0, got {noise_std}")
        self.noise_std = float(noise_std)
        self.fuse_geometric = bool(fuse_geometric)

    def _run_geometric(self, x: Tensor, run: list[GeometricOp], generator: torch.Generator | None) -> Tensor:
        if len(run) == 1:
            return run[0](x, generator)
        mats = run[0].matrices(x, generator)
        for op in run[1:]:
            # Forward maps compose right to left: the later op acts on the earlier op's output.
            mats = compose(op.matrices(x, generator), mats)
        projective = any(op.projective for op in run)
        axis_aligned = all(op.axis_aligned for op in run)
        return warp(x, mats, run[0].padding_mode, run[0].interpolation, projective, axis_aligned)

    def forward(self, x01: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Apply the ops to a float batch [B, C, H, W] in [0, 1]; the result is clamped to [0, 1]."""
        if x01.ndim != 4 or not x01.is_floating_point():
            raise ValueError(f"Augment expects float images [B, C, H, W], got {x01.dtype} {tuple(x01.shape)}")
        x = x01
        run: list[GeometricOp] = []
        for op in self.ops:
            if self.fuse_geometric and isinstance(op, GeometricOp):
                if run and not op.fuses_with(run[0]):
                    x = self._run_geometric(x, run, generator)
                    run = []
                run.append(op)
                continue
            if run:
                x = self._run_geometric(x, run, generator)
                run = []
            x = op(x, generator)
        if run:
            x = self._run_geometric(x, run, generator)
        return x.clamp(0.0, 1.0)

    def add_noise(self, x_normalized: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Add N(0, noise_std) independently to every pixel of a normalised batch; identity when noise_std is 0."""
        if self.noise_std == 0.0:
            return x_normalized
        noise = torch.randn(
            x_normalized.shape, generator=generator, device=x_normalized.device, dtype=x_normalized.dtype
        )
        return x_normalized + noise * self.noise_std

    def extra_repr(self) -> str:
        return f"noise_std={self.noise_std}, fuse_geometric={self.fuse_geometric}"
