"""Faces in a photo or frame: Haar-cascade detection, cropping with a margin, and the model's exact input.

The model input is made the way training made it: the same colour conversion and resampling as the dataset
decoders (PIL: ITU-R 601 luma for grayscale, antialiased bilinear resize), then the checkpoint's mean / std
normalisation of `data.preprocess`, which the DataModule applies too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from fer_lightning.data.formats.image_decoding import RESAMPLE
from fer_lightning.data.preprocess import Normalisation
from fer_lightning.errors import ConfigError

FRONTAL_FACE_CASCADE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


def cascade_path(cascade: str | Path | None = None) -> Path:
    """The cascade file to use: `cascade` if given, else OpenCV's bundled frontal-face cascade; checked to exist."""
    if cascade:
        path = Path(cascade).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"detector.cascade={cascade}: no such file; give a Haar cascade XML or null for the bundled one"
            )
        return path
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or "") / FRONTAL_FACE_CASCADE
    if not folder or not path.is_file():
        raise ConfigError(
            f"detector.cascade=null: OpenCV's bundled {FRONTAL_FACE_CASCADE} was not found"
            f"{f' in {folder}' if folder else ''} (the opencv-python-headless wheel ships it; reinstall it), "
            "or set detector.cascade=<path to a Haar cascade XML>, or detect=false for pre-cropped faces"
        )
    return path


class FaceDetector:
    """OpenCV Haar-cascade face detector returning boxes left to right."""

    def __init__(
        self,
        cascade: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
    ) -> None:
        self.path = cascade_path(cascade)
        self.classifier = cv2.CascadeClassifier(str(self.path))
        if self.classifier.empty():
            raise ConfigError(f"detector.cascade={self.path}: OpenCV could not load it as a Haar cascade")
        if scale_factor <= 1.0 or min_neighbors < 0 or min_size < 1:
            raise ConfigError(
                f"detector.scale_factor={scale_factor} must be > 1, detector.min_neighbors={min_neighbors} >= 0 "
                f"and detector.min_size={min_size} >= 1"
            )
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in a BGR or grayscale image, sorted left to right."""
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        # Equalising the histogram makes the cascade less sensitive to exposure (dim webcams, backlight).
        found = self.classifier.detectMultiScale(
            cv2.equalizeHist(gray),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = [tuple(int(v) for v in b) for b in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: (b[0], b[1]))


def expand_box(box: Box, margin: float, width: int, height: int) -> Box:
    """Grow a box by `margin` times its size on every side, clipped to the image."""
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


@dataclass(frozen=True)
class ModelInput:
    """What the checkpoint's network takes: channels, square size, and the normalisation of its data."""

    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_config(cls, data_cfg) -> ModelInput:
        """From the `data` section of a run config (as stored in the checkpoint)."""
        return cls(
            channels=int(data_cfg.channels),
            image_size=int(data_cfg.image_size),
            mean=tuple(float(v) for v in data_cfg.mean),
            std=tuple(float(v) for v in data_cfg.std),
        )

    def prepare(self, image_bgr: np.ndarray) -> torch.Tensor:
        """A BGR (or grayscale) image or crop as uint8 [C, S, S], converted and resized like the dataset decoders."""
        if image_bgr.ndim == 2:
            img = Image.fromarray(np.ascontiguousarray(image_bgr), "L")
        else:
            img = Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), "RGB")
        mode = "L" if self.channels == 1 else "RGB"
        if img.mode != mode:
            img = img.convert(mode)
        if img.size != (self.image_size, self.image_size):
            img = img.resize((self.image_size, self.image_size), RESAMPLE)
        arr = np.asarray(img, dtype=np.uint8)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        return torch.from_numpy(np.array(arr, copy=True, order="C"))  # PIL's buffer is read-only

    def crops(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> torch.Tensor:
        """The boxes of an image as a uint8 batch [N, C, S, S]."""
        return self.batch([image_bgr[y : y + h, x : x + w] for x, y, w, h in boxes])

    def batch(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """BGR (or grayscale) crops as a uint8 batch [N, C, S, S]."""
        if not crops:
            return torch.empty(0, self.channels, self.image_size, self.image_size, dtype=torch.uint8)
        return torch.stack([self.prepare(crop) for crop in crops])

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, S, S] -> the float batch the model saw in training (`data.preprocess`, like the DataModule)."""
        return Normalisation(self.mean, self.std).model_input(images)


def read_image(path: str | Path, key: str = "image") -> np.ndarray:
    """Read an image file as BGR uint8, or raise a ConfigError naming `key` when it is missing or unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}={path}: no such file")
    # imdecode from bytes, unlike imread, handles non-ASCII paths on every platform.
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"{key}={path}: not a readable image (OpenCV could not decode it)")
    return image
