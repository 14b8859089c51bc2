"""Evaluation artifacts, interpretability figures, prediction on images/folders/video, and export parity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import FAST, compose_config

from fer_lightning.build import build_datamodule, load_classifier
from fer_lightning.errors import ConfigError
from fer_lightning.eval import evaluate
from fer_lightning.export import export
from fer_lightning.predict import predict
from fer_lightning.train import train
from fer_lightning.visualize import visualize


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short synthetic training run shared by every test here."""
    root = tmp_path_factory.mktemp("inference")
    cfg = compose_config(
        "train",
        [
            *FAST,
            "data.n_train=1024",
            "data.n_val=256",
            "data.n_test=256",
            "trainer.max_epochs=3",
            "optimizer.lr=3e-3",
        ],
        root / "run",
    )
    metrics, _ = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    summary = json.loads((run_dir / "metrics.json").read_text())
    return {"root": root, "run_dir": run_dir, "ckpt": summary["best_ckpt"], "metrics": metrics}


def tool_cfg(name: str, trained, *overrides: str):
    run_dir = trained["root"] / f"{name}-{len(list(trained['root'].iterdir()))}"
    return compose_config(name, [f"ckpt_path={trained['ckpt']}", *overrides], run_dir)


def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_training_leaves_curves_and_confusion_matrix_images(trained):
    run_dir = trained["run_dir"]
    assert (run_dir / "curves.png").stat().st_size > 0
    assert len(json.loads((run_dir / "epoch_metrics.json").read_text())) == 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    assert any("confusion" in tag for tag in acc.Tags()["images"])


def test_eval_artifacts_agree_with_a_direct_computation(trained):
    cfg = tool_cfg("eval", trained)
    flat, objects = evaluate(cfg)
    out = Path(cfg.paths.output_dir)
    for name in ("metrics.json", "per_class.csv", "confusion_matrix.png", "misclassified.png"):
        assert (out / name).stat().st_size > 0, name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    # recompute from scratch: the checkpoint's network on the test split, normalised like training
    module, run_cfg = load_classifier(trained["ckpt"])
    dm = build_datamodule(run_cfg)
    dm.setup()
    test = dm.splits["test"]
    with torch.no_grad():
        preds = module.net.eval()(dm.to_model_input(test.images)).argmax(1)
    report = json.loads((out / "metrics.json").read_text())
    assert report["accuracy"] == pytest.approx((preds == test.labels).float().mean().item(), abs=1e-6)
    for i, name in enumerate(dm.class_names):
        members = test.labels == i
        assert report["per_class"][name]["support"] == int(members.sum())
        assert report["per_class"][name]["recall"] == pytest.approx(
            (preds[members] == i).float().mean().item()
        )
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert [r["class"] for r in rows] == list(dm.class_names)
    cm = torch.tensor(report["confusion_matrix"])
    assert cm.sum() == len(test) and cm.trace() == int((preds == test.labels).sum())


@pytest.mark.parametrize("tta", ["flip", "tencrop"])
def test_eval_with_test_time_augmentation(trained, tta):
    flat, _ = evaluate(tool_cfg("eval", trained, f"tta={tta}"))
    assert 0.0 <= flat["accuracy"] <= 1.0


def test_cross_dataset_eval_through_the_label_space(trained, tmp_path):
    # Faces from another source in the FER2013 CSV layout, evaluated on its PublicTest rows.
    rows = ["emotion,pixels,Usage"]
    for c in range(7):
        for usage in ("Training", "PublicTest"):
            rows.append(f"{c},{' '.join(['128'] * 2304)},{usage}")
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    cfg = tool_cfg(
        "eval", trained, "data=fer2013", f"data.root={tmp_path}", "split=val", "data.cache_dir=null"
    )
    flat, objects = evaluate(cfg)
    assert objects["report"]["n"] == 7
    assert set(objects["report"]["per_class"]) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    }


def test_eval_of_a_missing_split_says_which_exist(trained, tmp_path):
    (tmp_path / "fer2013.csv").write_text(
        "emotion,pixels,Usage\n" + f"3,{' '.join(['9'] * 2304)},Training\n" * 8
    )
    with pytest.raises(ConfigError, match="no labelled test split"):
        evaluate(tool_cfg("eval", trained, "data=fer2013", f"data.root={tmp_path}", "data.cache_dir=null"))


@pytest.mark.parametrize("kind", ["filters", "activations", "occlusion", "gradcam"])
def test_every_visualize_kind_writes_images(trained, kind):
    cfg = tool_cfg("visualize", trained, f"kind={kind}")
    visualize(cfg)
    pngs = list(Path(cfg.paths.output_dir).glob("*.png"))
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    if kind in ("filters", "activations"):
        assert len(pngs) == 4  # one per conv layer of the default sequential CNN


def test_visualize_an_image_file_and_bad_kind(trained, tmp_path):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), astronaut_bgr())
    cfg = tool_cfg("visualize", trained, "kind=gradcam", f"image={path}")
    visualize(cfg)
    assert (Path(cfg.paths.output_dir) / "gradcam.png").is_file()
    with pytest.raises(
        ConfigError, match=r"kind=sparkles; allowed: kind=filters\|activations\|occlusion\|gradcam"
    ):
        visualize(tool_cfg("visualize", trained, "kind=sparkles"))


def test_predict_finds_the_astronauts_face_and_reports_a_faceless_image(trained, tmp_path):
    face, blank = tmp_path / "astronaut.png", tmp_path / "gray.png"
    cv2.imwrite(str(face), astronaut_bgr())
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    cfg = tool_cfg("predict", trained, f"input={face}")
    predict(cfg)
    result = json.loads((Path(cfg.paths.output_dir) / "predictions.json").read_text())
    assert len(result["faces"]) == 1
    only = result["faces"][0]
    assert only["label"] in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert sum(only["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    x, y, w, h = only["box"]
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 200  # her face, in the upper middle of the photo

    cfg = tool_cfg("predict", trained, f"input={blank}")
    predict(cfg)  # no crash
    assert json.loads((Path(cfg.paths.output_dir) / "predictions.json").read_text())["faces"] == []


def test_predict_on_a_folder_writes_one_csv_row_per_face_or_faceless_image(trained, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), astronaut_bgr())
    cv2.imwrite(str(folder / "b.jpg"), np.zeros((120, 120, 3), np.uint8))
    cfg = tool_cfg("predict", trained, f"input={folder}")
    predict(cfg)
    rows = list(csv.DictReader((Path(cfg.paths.output_dir) / "predictions.csv").open()))
    by_image = {Path(r["file"]).name: r for r in rows}
    assert set(by_image) == {"a.png", "b.jpg"}
    assert by_image["b.jpg"]["status"] == "no_face"
    assert by_image["a.png"]["status"] == "ok"


def test_predict_on_a_video_writes_annotated_video_and_frame_csv(trained, tmp_path):
    video = tmp_path / "clip.mp4"
    frame = cv2.resize(astronaut_bgr(), (256, 256))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (256, 256))
    for shift in range(6):
        writer.write(np.roll(frame, shift * 3, axis=1))
    writer.release()
    cfg = tool_cfg("predict", trained, f"input={video}")
    predict(cfg)
    out = Path(cfg.paths.output_dir)
    capture = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert sorted({int(r["frame"]) for r in rows}) == list(range(6))


def test_predict_errors_name_the_key(trained, tmp_path):
    with pytest.raises(ConfigError, match="input"):
        predict(tool_cfg("predict", trained, f"input={tmp_path}/missing.png"))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_reproduces_pytorch_logits(trained, fmt):
    cfg = tool_cfg("export", trained, f"format={fmt}")
    export(cfg)
    record = json.loads(next(Path(cfg.paths.output_dir).glob("export.json")).read_text())
    assert record["max_abs_diff"] <= 1e-4
    assert Path(record["path"]).is_file()


def test_webcam_without_a_camera_is_a_clear_error(trained):
    with pytest.raises(ConfigError, match="webcam|camera"):
        predict(tool_cfg("predict", trained, "input=webcam:7", "max_frames=1"))
