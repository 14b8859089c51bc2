"""What predict writes is replaced in one step: a run that fails half-way leaves the previous files intact."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_lightning.inference.faces import ModelInput
from fer_lightning.inference.images import predict_folder
from fer_lightning.inference.predictor import Predictor
from fer_lightning.inference.video import annotate_video
from fer_lightning.models import create_model


def predictor() -> Predictor:
    """An untrained 48x48 grayscale network without a detector: every image is one face."""
    net = create_model("sequential", in_channels=1, num_classes=7, image_size=48)
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    return Predictor(net, names, ModelInput(channels=1, image_size=48, mean=(0.5,), std=(0.5,)))


def fail_on_call(pred: Predictor, n: int) -> None:
    """Make the n-th face prediction (1-based) raise, as a crash mid-run would."""
    real, calls = pred.predict_faces, iter(range(1, 10_000))

    def predict_faces(image):
        if next(calls) == n:
            raise RuntimeError("injected failure")
        return real(image)

    pred.predict_faces = predict_faces


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted write left behind."""
    return sorted(p.name for p in folder.rglob(".*tmp*"))


def test_a_folder_run_that_fails_half_way_leaves_the_previous_csv(tmp_path):
    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), np.full((60, 60, 3), 40 * i, np.uint8))
    predict_folder(predictor(), images, out)
    before = (out / "predictions.csv").read_bytes()
    assert before.count(b"\n") == 4  # header and one row per image

    (images / "3.png").write_bytes((images / "0.png").read_bytes())  # the second run would write 5 lines
    failing = predictor()
    fail_on_call(failing, 3)
    with pytest.raises(RuntimeError, match="injected"):
        predict_folder(failing, images, out)
    assert (out / "predictions.csv").read_bytes() == before
    assert leftovers(out) == []


def write_video(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (64, 64))
    for i in range(frames):
        writer.write(np.full((64, 64, 3), 30 * i, np.uint8))
    writer.release()


def test_a_video_run_that_fails_half_way_leaves_the_previous_video_and_csv(tmp_path):
    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    write_video(clip, 4)
    result = annotate_video(predictor(), cv2.VideoCapture(str(clip)), out)
    assert result["frames"] == 4
    video, frames_csv = (out / "annotated.mp4").read_bytes(), (out / "frames.csv").read_bytes()

    failing = predictor()
    fail_on_call(failing, 3)
    with pytest.raises(RuntimeError, match="injected"):
        annotate_video(failing, cv2.VideoCapture(str(clip)), out)
    assert (out / "annotated.mp4").read_bytes() == video
    assert (out / "frames.csv").read_bytes() == frames_csv
    assert leftovers(out) == []


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_an_export_that_fails_its_parity_check_leaves_the_previous_model_file(tmp_path, monkeypatch, fmt):
    from fer_lightning.inference import model_export

    pred = predictor()
    first = model_export.export_model(pred.net, pred.model_input, fmt, tmp_path)
    before = Path(first["path"]).read_bytes()

    real_run = model_export.run_exported
    # an exporter that translated an operator differently: the exported logits are off by one
    monkeypatch.setattr(model_export, "run_exported", lambda path, f, x: real_run(path, f, x) + 1.0)
    with pytest.raises(model_export.ParityError, match=model_export.FILE_NAMES[fmt]):
        model_export.export_model(pred.net, pred.model_input, fmt, tmp_path)
    assert (tmp_path / model_export.FILE_NAMES[fmt]).read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_failed_first_export_leaves_no_model_file(tmp_path, monkeypatch):
    from fer_lightning.inference import model_export

    pred = predictor()
    real_run = model_export.run_exported
    monkeypatch.setattr(model_export, "run_exported", lambda path, f, x: real_run(path, f, x) * 2.0 + 1.0)
    with pytest.raises(model_export.ParityError):
        model_export.export_model(pred.net, pred.model_input, "torchscript", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
