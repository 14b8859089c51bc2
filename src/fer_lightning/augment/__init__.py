"""Batch augmentation on the training device with independent random parameters per sample, plus test-time views."""

from fer_lightning.augment.ops import (
    Brightness,
    Contrast,
    GaussianBlur,
    GeometricOp,
    HorizontalFlip,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomResizedCrop,
    RandomRotation,
    RandomWarp,
    RandomZoom,
    ReflectPadCrop,
    warp,
)
from fer_lightning.augment.pipeline import Augment
from fer_lightning.augment.throughput import measure_augment
from fer_lightning.augment.tta import TTA_MODES, default_crop_size, tta_logits, tta_views

__all__ = [
    "TTA_MODES",
    "Augment",
    "Brightness",
    "Contrast",
    "GaussianBlur",
    "GeometricOp",
    "HorizontalFlip",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomWarp",
    "RandomZoom",
    "ReflectPadCrop",
    "default_crop_size",
    "measure_augment",
    "tta_logits",
    "tta_views",
    "warp",
]
