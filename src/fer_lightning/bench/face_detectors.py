"""`python -m fer_lightning.bench.face_detectors`: Haar against MTCNN on real photos that installed packages ship.

Faces: scikit-image's LFW subset (100 faces, 25x25, enlarged 4x), its astronaut and camera man, matplotlib's Grace
Hopper. Non-faces: the LFW subset's 100 non-face patches (enlarged alike), scikit-image's cat, coffee and rocket.
Prints, per detector, how many face images got exactly one face, how many detections the non-face images got, and
milliseconds per image; then the Haar box relative to MTCNN's eyes where both found the face (`detectors.py` uses
the medians to crop MTCNN faces with the training geometry). Needs scikit-image (a dev extra).
"""

from __future__ import annotations

import math
import statistics
import time

import cv2
import numpy as np
import torch


def photos() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(faces, non-faces): name -> BGR uint8 image."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    def bgr(rgb):
        return cv2.cvtColor(
            np.ascontiguousarray(rgb), cv2.COLOR_GRAY2BGR if rgb.ndim == 2 else cv2.COLOR_RGB2BGR
        )

    def enlarge(patch):
        return cv2.resize((patch * 255).round().astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)

    lfw = data.lfw_subset()  # 100 faces, then 100 non-faces
    hopper = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    faces = {"astronaut": bgr(data.astronaut()), "camera": bgr(data.camera()), "grace_hopper": bgr(hopper)}
    faces |= {f"lfw_face_{i:03d}": bgr(enlarge(p)) for i, p in enumerate(lfw[:100])}
    others = {"chelsea": bgr(data.chelsea()), "coffee": bgr(data.coffee()), "rocket": bgr(data.rocket())}
    others |= {f"lfw_nonface_{i:03d}": bgr(enlarge(p)) for i, p in enumerate(lfw[100:])}
    return faces, others


def main() -> None:
    """Run both detectors over the photos and print the comparison."""
    from fer_lightning.inference.detectors import MTCNNDetector
    from fer_lightning.inference.faces import FaceDetector

    torch.set_num_threads(min(2, torch.get_num_threads()))
    faces, others = photos()
    haar, mtcnn = FaceDetector(), MTCNNDetector()
    mtcnn.detect_landmarks(faces["astronaut"])  # the first call pays for one-off set-up; not timed
    found: dict[str, dict[str, list]] = {"haar": {}, "mtcnn": {}}
    seconds = {"haar": 0.0, "mtcnn": 0.0}
    for name, image in {**faces, **others}.items():
        for kind, detect in (("haar", haar.detect), ("mtcnn", mtcnn.detect_landmarks)):
            start = time.perf_counter()
            found[kind][name] = detect(image)
            seconds[kind] += time.perf_counter() - start
    n = len(faces) + len(others)
    print(f"{len(faces)} face images, {len(others)} non-face images, torch threads {torch.get_num_threads()}")
    print("detector  faces found (exactly one)  faces found (any)  detections on non-faces  ms/image")
    for kind in ("haar", "mtcnn"):
        one = sum(len(found[kind][k]) == 1 for k in faces)
        any_ = sum(len(found[kind][k]) >= 1 for k in faces)
        false = sum(len(found[kind][k]) for k in others)
        print(
            f"{kind:8s}  {one:3d}/{len(faces)}  {any_:26d}/{len(faces)}  {false:18d}  {1000 * seconds[kind] / n:10.1f}"
        )
    for name in ("astronaut", "camera", "grace_hopper"):
        print(f"  {name}: haar {len(found['haar'][name])}, mtcnn {len(found['mtcnn'][name])}")
    sides, below = [], []
    for k in faces:
        if len(found["haar"][k]) == 1 and len(found["mtcnn"][k]) == 1:
            (_, y, w, h), (_, points) = found["haar"][k][0], found["mtcnn"][k][0]
            (lx, ly), (rx, ry) = points[0], points[1]
            distance = math.hypot(rx - lx, ry - ly)
            sides.append(w / distance)
            below.append((y + h / 2 - (ly + ry) / 2) / distance)
    if sides:
        print(
            f"Haar box over {len(sides)} faces both found, in eye distances: side median "
            f"{statistics.median(sides):.2f}, centre below the eyes median {statistics.median(below):.2f}"
        )


if __name__ == "__main__":
    main()
