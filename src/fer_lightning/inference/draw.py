"""Drawing predictions onto images: a box per face with its label and confidence."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# One fixed BGR colour per canonical class index, so a class looks the same in every frame and image.
PALETTE = (
    (40, 40, 220),  # angry: red
    (40, 140, 40),  # disgust: green
    (160, 60, 160),  # fear: purple
    (0, 200, 255),  # happy: yellow
    (200, 120, 40),  # sad: blue
    (0, 140, 255),  # surprise: orange
    (180, 180, 180),  # neutral: gray
    (120, 60, 0),  # contempt: navy
)


def annotate(image_bgr: np.ndarray, faces: Sequence[dict]) -> np.ndarray:
    """A copy of the image with each face's box and "label confidence" drawn on it."""
    out = image_bgr.copy() if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    scale = max(0.35, min(out.shape[:2]) / 600)
    thickness = max(1, round(2 * scale))
    for face in faces:
        x, y, w, h = face["box"]
        color = PALETTE[face.get("class_index", 0) % len(PALETTE)]
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, thickness)
        text = f"{face['label']} {face['confidence']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        # Above the box when there is room, else inside its top edge.
        top = y - th - base - 2 if y - th - base - 2 >= 0 else y
        cv2.rectangle(out, (x, top), (x + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(
            out,
            text,
            (x + 1, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    return out
