"""Face detectors: MTCNN with landmarks and eye-aligned crops in the training geometry, Haar still available."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from fer_lightning.errors import ConfigError
from fer_lightning.inference.detectors import MTCNNDetector, eye_aligned_crop, make_detector

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def mtcnn():
    return MTCNNDetector()


def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_mtcnn_finds_the_face_with_landmarks_and_no_face_on_a_cat(mtcnn):
    (box, points), *rest = mtcnn.detect_landmarks(astronaut())
    assert not rest and points.shape == (5, 2)
    x, y, w, h = box
    (lx, ly), (rx, ry) = points[:2]
    assert x < lx < rx < x + w and y < ly < y + h and y < ry < y + h  # eyes inside, left eye first
    assert points[2][1] > max(ly, ry) and min(points[3][1], points[4][1]) > points[2][1]  # nose, then mouth
    assert mtcnn.faces(cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)) == []


def test_aligned_crop_has_the_haar_geometry_and_level_eyes(mtcnn):
    image = astronaut()
    (haar_box, _), *_ = make_detector({"name": "haar"}).faces(image)
    (box, crop), *_ = mtcnn.faces(image)
    assert iou(box, haar_box) > 0.7  # the same face region the Haar-cropped training faces show
    assert crop.shape[0] == crop.shape[1]

    # the crop's affine map puts both eyes on one row, whatever their tilt in the image
    left, right = np.array([100.0, 120.0]), np.array([160.0, 150.0])
    _, _, matrix = eye_aligned_crop(image, left, right)
    (_, ly), (_, ry) = (matrix @ np.append(p, 1.0) for p in (left, right))
    assert ly == pytest.approx(ry)


def test_a_tilted_face_gives_nearly_the_upright_crop(mtcnn):
    image = astronaut()
    (_, upright), *_ = mtcnn.faces(image)
    (_, points), *_ = mtcnn.detect_landmarks(image)
    centre = tuple(points[:2].mean(axis=0))
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D(centre, 20, 1.0), image.shape[1::-1])
    (_, tilted_points), *_ = mtcnn.detect_landmarks(tilted)
    (lx, ly), (rx, ry) = tilted_points[:2]
    assert math.degrees(math.atan2(ry - ly, rx - lx)) == pytest.approx(-20, abs=6)
    (_, aligned), *_ = mtcnn.faces(tilted)
    (_, unaligned), *_ = MTCNNDetector(align=False).faces(tilted)

    def distance(a, b):
        a, b = (cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA).astype(float) for c in (a, b))
        return np.abs(a - b).mean()

    assert distance(aligned, upright) < 0.5 * distance(unaligned, upright)


def test_detector_choice_and_options_are_checked():
    assert len(make_detector({"name": "haar", "min_neighbors": 5}).faces(astronaut())) == 1
    with pytest.raises(ConfigError, match="detector='retina' is not supported; allowed: haar, mtcnn"):
        make_detector({"name": "retina"})
    with pytest.raises(ConfigError, match="detector.min_confidence=2"):
        make_detector({"name": "mtcnn", "min_confidence": 2})
