"""Predict expressions: `python -m fer_lightning.predict ckpt_path=... input=<image | folder | video | webcam:0>`.

image -> predictions.json (also printed) and <name>_annotated.png; folder -> predictions.csv (one row per face,
`no_face` rows for images without one) and annotated/; video or webcam -> annotated.mp4 and frames.csv. All in
outputs/predict/<timestamp>/. `detect=false` takes each whole image as one face (pre-cropped FER images).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.checkpoint_run import CheckpointRun
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.task import run_task

INPUT_HELP = "an image file, a folder of images, a video file or webcam:<camera index>"


def input_kind(value) -> tuple[str, Path | int]:
    """Classify `input=`: ("webcam", index), ("folder", path), ("image", path) or ("video", path)."""
    from fer_lightning.data.formats.image_decoding import IMAGE_EXTENSIONS
    from fer_lightning.inference.video import VIDEO_EXTENSIONS

    if value is None or str(value) in ("", "???"):
        raise ConfigError(f"input is required: {INPUT_HELP}")
    text = str(value)
    webcam = re.fullmatch(r"webcam:(\d+)", text)
    if webcam:
        return "webcam", int(webcam.group(1))
    path = Path(text).expanduser()
    if path.is_dir():
        return "folder", path
    if not path.exists():
        raise ConfigError(f"input={text}: no such file or folder; give {INPUT_HELP}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image", path
    if suffix in VIDEO_EXTENSIONS:
        return "video", path
    raise ConfigError(
        f"input={text}: unknown file type {suffix or '(none)'}; allowed: images {', '.join(IMAGE_EXTENSIONS)}, "
        f"videos {', '.join(VIDEO_EXTENSIONS)}, a folder, or webcam:<index>"
    )


def predict(cfg: DictConfig) -> tuple[dict, dict]:
    """Run the checkpoint on `cfg.input`; write predictions and annotated copies into the run dir."""
    # Imported here: torch takes seconds to import, and `--help` or a config error need none of it.
    from fer_lightning.inference.images import predict_folder, predict_image_file
    from fer_lightning.inference.predictor import Predictor
    from fer_lightning.inference.video import annotate_video, open_video, open_webcam

    run = CheckpointRun.start(cfg, "predict", "ckpt_path=<.ckpt> input=<image>")
    kind, source = input_kind(cfg.get("input"))
    output_dir = run.output_dir
    detector = OmegaConf.to_container(cfg.detector, resolve=True) if cfg.get("detector") else None
    module, run_cfg = run.load_classifier()
    predictor = Predictor.from_classifier(
        module,
        run_cfg,
        detect=bool(cfg.get("detect", True)),
        margin=float(cfg.get("margin", 0.0)),
        device=run.device(),
        detector=detector,
    )
    annotated = bool(cfg.get("save_annotated", True))
    if kind == "image":
        result = predict_image_file(predictor, source, output_dir, save_annotated=annotated)
        print(json.dumps(result, indent=2))
        metrics = {"faces": float(len(result["faces"]))}
    elif kind == "folder":
        result = predict_folder(predictor, source, output_dir, save_annotated=annotated)
        metrics = {k: float(result[k]) for k in ("images", "faces", "no_face", "unreadable")}
    else:
        capture = open_webcam(source) if kind == "webcam" else open_video(source)
        max_frames = cfg.get("max_frames")
        result = annotate_video(
            predictor, capture, output_dir, max_frames=int(max_frames) if max_frames else None
        )
        metrics = {"frames": float(result["frames"]), "faces": float(result["faces"])}
    summary = {"input": str(cfg.input), "kind": kind, "ckpt_path": str(cfg.ckpt_path), **result}
    counts = ", ".join(f"{k} {int(v)}" for k, v in metrics.items())
    # an image's record is its predictions.json, written beside its annotated copy
    run.finish(
        "summary.json" if kind != "image" else None, summary, f"{kind} {cfg.input}: {counts} -> {output_dir}"
    )
    return metrics, {"result": result, "kind": kind, "output_dir": output_dir, "predictor": predictor}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def hydra_main(cfg: DictConfig) -> float:
    """Hydra entry point of prediction."""
    return run_task(predict, cfg)


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
