"""Mixup and CutMix on a whole batch on its device, with per-sample draws from the batch's seeded generator.

Each sample i is paired with sample ``partner[i]`` of the same batch and keeps a share ``lam[i]`` of
its own image: mixup blends the two images, CutMix pastes a box of the partner into it. The loss then
weighs the sample's own label by ``lam`` and the partner's by ``1 - lam`` (see
:meth:`fer_lightning.module.FERClassifier.mixed_loss`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fer_lightning.errors import ConfigError

# Candidates drawn per sample for the rejection sampler: Marsaglia-Tsang accepts >= 95% of them for
# shape >= 1, so 16 leave a failure chance below 1e-20 (and a failure falls back to the mean).
_GAMMA_CANDIDATES = 16


def sample_gamma(shape: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` draws of Gamma(shape, 1) from ``generator`` (torch's own Gamma sampler takes no generator)."""
    boost = shape < 1.0  # Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1
    a = shape + 1.0 if boost else shape
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = torch.randn((n, _GAMMA_CANDIDATES), generator=generator, device=device)
    u = torch.rand((n, _GAMMA_CANDIDATES), generator=generator, device=device)
    v = (1.0 + c * z) ** 3
    ok = (v > 0) & (torch.log(u) < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp(min=1e-12)))
    # The first accepted candidate of each row, found without a host sync (argmax of a bool row).
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)
    g = torch.where(ok.any(dim=1), (d * v).gather(1, first).squeeze(1), torch.full((n,), a, device=device))
    if boost:
        g = g * torch.rand(n, generator=generator, device=device).pow(1.0 / shape)
    return g


def sample_beta(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` draws of Beta(alpha, alpha) from ``generator``."""
    a = sample_gamma(alpha, n, generator, device)
    b = sample_gamma(alpha, n, generator, device)
    return a / (a + b).clamp(min=torch.finfo(a.dtype).tiny)


class BatchMix(nn.Module):
    """Per-sample mixup / CutMix of a batch with a shifted copy of itself.

    Args:
        mixup_alpha: Beta(alpha, alpha) of the mixup share; 0 turns mixup off.
        cutmix_alpha: Beta(alpha, alpha) of the CutMix share (the kept area); 0 turns CutMix off.
        prob: probability that a sample is mixed at all (the others keep lam = 1).
        switch_prob: with both on, the probability that a mixed sample uses CutMix rather than mixup.
    """

    def __init__(
        self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0, switch_prob: float = 0.5
    ) -> None:
        super().__init__()
        for key, value in (("augment.mixup_alpha", mixup_alpha), ("augment.cutmix_alpha", cutmix_alpha)):
            if float(value) < 0:
                raise ConfigError(f"{key}={value} must be >= 0 (0 turns it off)")
        for key, value in (("augment.mix_prob", prob), ("augment.mix_switch_prob", switch_prob)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{key}={value} must lie in [0, 1]")
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.prob = float(prob)
        self.switch_prob = float(switch_prob)

    @property
    def enabled(self) -> bool:
        """Whether any mixing is switched on."""
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def forward(
        self, x: Tensor, y: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mix ``x`` [B, C, H, W]; returns (mixed x, own labels, partner labels, own share lam [B] float32)."""
        n, _, h, w = x.shape
        dev = x.device
        lam = torch.ones(n, device=dev)
        if n < 2 or not self.enabled:
            return x, y, y, lam
        # A random non-zero cyclic shift pairs every sample with another one (never with itself).
        shift = torch.randint(1, n, (1,), generator=generator, device=dev)
        partner = (torch.arange(n, device=dev) + shift) % n
        use_cutmix = torch.rand(n, generator=generator, device=dev) < (
            self.switch_prob
            if self.mixup_alpha > 0 and self.cutmix_alpha > 0
            else float(self.cutmix_alpha > 0)
        )
        mixed = torch.rand(n, generator=generator, device=dev) < self.prob
        lam_mixup = sample_beta(self.mixup_alpha, n, generator, dev) if self.mixup_alpha > 0 else lam
        lam_cut = sample_beta(self.cutmix_alpha, n, generator, dev) if self.cutmix_alpha > 0 else lam
        # CutMix box: area (1 - lam) of the image, centre uniform, clipped to the image; lam is then the
        # share of pixels actually kept, so the label weights match the pixels.
        side = torch.sqrt(1.0 - lam_cut)
        centre = torch.rand((n, 2), generator=generator, device=dev)
        cy, cx = centre[:, 0] * h, centre[:, 1] * w
        top = (cy - side * h / 2).round().clamp(0, h)
        bottom = (cy + side * h / 2).round().clamp(0, h)
        left = (cx - side * w / 2).round().clamp(0, w)
        right = (cx + side * w / 2).round().clamp(0, w)
        lam_box = 1.0 - (bottom - top) * (right - left) / (h * w)
        ys = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1)
        xs = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w)
        box = (
            (ys >= top.view(-1, 1, 1))
            & (ys < bottom.view(-1, 1, 1))
            & (xs >= left.view(-1, 1, 1))
            & (xs < right.view(-1, 1, 1))
        )
        box = box & (mixed & use_cutmix).view(-1, 1, 1)
        lam = torch.where(mixed, torch.where(use_cutmix, lam_box, lam_mixup), lam)
        blend = torch.where(use_cutmix, torch.ones_like(lam), lam).to(x.dtype).view(-1, 1, 1, 1)
        other = x[partner]
        x = torch.where(box.unsqueeze(1), other, x * blend + other * (1 - blend))
        return x, y, y[partner], lam

    def extra_repr(self) -> str:
        return (
            f"mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha}, prob={self.prob}, "
            f"switch_prob={self.switch_prob}"
        )
