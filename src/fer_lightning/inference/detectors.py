"""Face detectors for prediction (`detector=haar | mtcnn`) and the crops they hand to the model.

Every detector answers `faces(image_bgr, margin) -> [(box, crop)]`: the box to draw (x, y, w, h) and the BGR crop
to classify. Haar crops its box; MTCNN (facenet-pytorch, weights inside the wheel) also finds five landmarks, turns
the face so that the eyes are level, and crops a square placed on the eyes with the geometry of a Haar box, which is
the geometry of the training faces (FER2013's crops come from a Haar-style detector).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer_lightning.errors import ConfigError
from fer_lightning.inference.faces import Box, FaceDetector, expand_box

DETECTORS = ("haar", "mtcnn")

# A Haar box relative to the eyes, in units of the distance between the eyes: its side, and how far its centre lies
# below the eyes' midpoint. Medians over the faces both detectors found in `python -m fer_lightning.bench.face_detectors`
# (scikit-image's LFW subset, astronaut, Grace Hopper); see the README, "Face detectors".
HAAR_SIDE_PER_EYE_DISTANCE = 2.16
HAAR_CENTRE_BELOW_EYES = 0.30


def eye_aligned_crop(
    image_bgr: np.ndarray, left_eye, right_eye, margin: float = 0.0
) -> tuple[Box, np.ndarray, np.ndarray]:
    """The square face crop with level eyes: (box in the image, crop, 2x3 affine from image to crop).

    The square's side is `HAAR_SIDE_PER_EYE_DISTANCE` eye distances (times 1 + 2 * margin), its centre
    `HAAR_CENTRE_BELOW_EYES` eye distances below the eyes' midpoint, perpendicular to the line through the eyes.
    Pixels outside the image repeat the border, as a crop at the image edge would be padded.
    """
    (lx, ly), (rx, ry) = left_eye, right_eye
    distance = max(math.hypot(rx - lx, ry - ly), 1.0)
    angle = math.atan2(ry - ly, rx - lx)
    side = max(2, round(HAAR_SIDE_PER_EYE_DISTANCE * distance * (1 + 2 * margin)))
    below = HAAR_CENTRE_BELOW_EYES * distance
    cx = (lx + rx) / 2 - math.sin(angle) * below
    cy = (ly + ry) / 2 + math.cos(angle) * below
    # rotate about the face centre by the eyes' angle, then move the centre to the middle of the crop
    matrix = cv2.getRotationMatrix2D((cx, cy), math.degrees(angle), 1.0)
    matrix[:, 2] += (side / 2 - cx, side / 2 - cy)
    crop = cv2.warpAffine(
        image_bgr, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    h, w = image_bgr.shape[:2]
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    box = (x0, y0, max(1, min(w, round(cx + side / 2)) - x0), max(1, min(h, round(cy + side / 2)) - y0))
    return box, crop, matrix


class MTCNNDetector:
    """facenet-pytorch's MTCNN: faces with five landmarks, cropped eye-aligned (or by its own box, `align=false`)."""

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        min_confidence: float = 0.9,
        align: bool = True,
        device: str = "cpu",
    ) -> None:
        if min_face_size < 1 or not 0.0 <= min_confidence <= 1.0 or len(thresholds) != 3:
            raise ConfigError(
                f"detector.min_face_size={min_face_size} must be >= 1, detector.min_confidence={min_confidence} in "
                f"[0, 1] and detector.thresholds={list(thresholds)} three probabilities (P-, R-, O-net)"
            )
        from facenet_pytorch import MTCNN

        self.net = MTCNN(
            min_face_size=int(min_face_size), thresholds=list(thresholds), keep_all=True, device=device
        )
        self.min_confidence = float(min_confidence)
        self.align = bool(align)

    def detect_landmarks(self, image_bgr: np.ndarray) -> list[tuple[Box, np.ndarray]]:
        """MTCNN's own boxes (x, y, w, h) with their landmarks [5, 2] (eyes, nose, mouth corners), left to right."""
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2RGB if image_bgr.ndim == 2 else cv2.COLOR_BGR2RGB)
        boxes, probs, landmarks = self.net.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        found = []
        for (x0, y0, x1, y1), p, points in zip(boxes, probs, landmarks, strict=True):
            if p >= self.min_confidence:
                box = (round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0)))
                found.append((box, np.asarray(points, dtype=np.float64)))
        return sorted(found, key=lambda f: (f[0][0], f[0][1]))

    def faces(self, image_bgr: np.ndarray, margin: float = 0.0) -> list[tuple[Box, np.ndarray]]:
        """Each face's box and crop: eye-aligned with the training geometry, or MTCNN's box grown by `margin`."""
        h, w = image_bgr.shape[:2]
        out = []
        for box, points in self.detect_landmarks(image_bgr):
            if self.align:
                aligned_box, crop, _ = eye_aligned_crop(image_bgr, points[0], points[1], margin)
                out.append((aligned_box, crop))
            else:
                x, y, bw, bh = expand_box(box, margin, w, h)
                out.append(((x, y, bw, bh), image_bgr[y : y + bh, x : x + bw]))
        return out


class HaarDetector:
    """The OpenCV Haar cascade (`FaceDetector`) behind the detectors' common `faces` interface."""

    def __init__(self, **options) -> None:
        self.cascade = FaceDetector(**options)

    def faces(self, image_bgr: np.ndarray, margin: float = 0.0) -> list[tuple[Box, np.ndarray]]:
        """Each Haar box grown by `margin`, with its crop."""
        h, w = image_bgr.shape[:2]
        boxes = [expand_box(b, margin, w, h) for b in self.cascade.detect(image_bgr)]
        return [(b, image_bgr[b[1] : b[1] + b[3], b[0] : b[0] + b[2]]) for b in boxes]


def make_detector(options: dict | None, device: str = "cpu") -> HaarDetector | MTCNNDetector:
    """The detector named by `options["name"]` (haar or mtcnn) with the rest of `options` as its settings."""
    options = dict(options or {})
    name = options.pop("name", "haar")
    if name == "haar":
        return HaarDetector(**options)
    if name == "mtcnn":
        return MTCNNDetector(device=device, **options)
    raise ConfigError(f"detector={name!r} is not supported; allowed: {', '.join(DETECTORS)}")
