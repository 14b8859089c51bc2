"""A trained checkpoint as a face-expression predictor for BGR images and video frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fer_lightning.errors import ConfigError
from fer_lightning.inference.detectors import HaarDetector, MTCNNDetector, make_detector
from fer_lightning.inference.faces import Box, ModelInput

__all__ = ["Predictor", "csv_header", "csv_rows"]


class Predictor:
    """Detects faces (or takes the whole image as one), classifies each crop and returns labelled boxes."""

    def __init__(
        self,
        net: nn.Module,
        class_names: Sequence[str],
        model_input: ModelInput,
        detector: HaarDetector | MTCNNDetector | None = None,
        margin: float = 0.0,
        device: str | torch.device = "cpu",
    ) -> None:
        if margin < 0:
            raise ConfigError(f"margin={margin} must be >= 0 (a fraction of the face box added on each side)")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.class_names = list(class_names)
        self.model_input = model_input
        self.detector = detector
        self.margin = float(margin)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_path: str | Path,
        *,
        detect: bool = True,
        margin: float = 0.0,
        device: str = "cpu",
        detector: dict | None = None,
    ) -> Predictor:
        """Load a checkpoint written by `train`; `detector` holds the detector's name and options (`conf/detector/`)."""
        from fer_lightning.build import load_classifier

        module, run_cfg = load_classifier(ckpt_path)
        return cls.from_classifier(
            module, run_cfg, detect=detect, margin=margin, device=device, detector=detector
        )

    @classmethod
    def from_classifier(
        cls,
        module,
        run_cfg,
        *,
        detect: bool = True,
        margin: float = 0.0,
        device: str = "cpu",
        detector: dict | None = None,
    ) -> Predictor:
        """A predictor over a loaded classifier and the config of the run that trained it (its input layout)."""
        face_detector = make_detector(detector, device) if detect else None
        return cls(
            module.net,
            module.class_names,
            ModelInput.from_config(run_cfg.data),
            face_detector,
            margin,
            device,
        )

    @torch.no_grad()
    def probabilities(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """Class probabilities [N, K] for a uint8 batch already at the model's input size."""
        if len(images_uint8) == 0:
            return torch.empty(0, len(self.class_names))
        x = self.model_input.normalise(images_uint8.to(self.device))
        return self.net(x).float().softmax(dim=1).cpu()

    def face_crops(self, image_bgr: np.ndarray) -> list[tuple[Box, np.ndarray]]:
        """The faces to classify, (box, crop): the detector's (margin included), or the whole image without one."""
        h, w = image_bgr.shape[:2]
        if self.detector is None:
            return [((0, 0, w, h), image_bgr)]
        return self.detector.faces(image_bgr, self.margin)

    def predict_faces(self, image_bgr: np.ndarray) -> list[dict]:
        """One dict per face: box [x, y, w, h], label, class index, confidence and per-class probabilities."""
        found = self.face_crops(image_bgr)
        boxes = [box for box, _ in found]
        probs = self.probabilities(self.model_input.batch([crop for _, crop in found]))
        faces = []
        for box, p in zip(boxes, probs, strict=True):
            k = int(p.argmax())
            faces.append(
                {
                    "box": [int(v) for v in box],
                    "label": self.class_names[k],
                    "class_index": k,
                    "confidence": float(p[k]),
                    "probs": {name: float(v) for name, v in zip(self.class_names, p.tolist(), strict=True)},
                }
            )
        return faces


def csv_header(class_names: Sequence[str]) -> list[str]:
    """Columns of one face row after the caller's leading columns: status, box, label, confidence, probabilities."""
    return ["face", "status", "x", "y", "w", "h", "label", "confidence", *(f"p_{c}" for c in class_names)]


def csv_rows(
    faces: Sequence[dict], class_names: Sequence[str], status_if_none: str = "no_face"
) -> list[list]:
    """Rows matching `csv_header`: one per face, or a single row with `status_if_none` and empty cells."""
    if not faces:
        return [["", status_if_none, *([""] * (6 + len(class_names)))]]
    return [
        [
            i,
            "ok",
            *f["box"],
            f["label"],
            f"{f['confidence']:.6f}",
            *(f"{f['probs'][c]:.6f}" for c in class_names),
        ]
        for i, f in enumerate(faces)
    ]
