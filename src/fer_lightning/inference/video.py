"""Video files and webcams: an annotated output video (mp4v) and a per-frame CSV of every face."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import cv2

from fer_lightning.errors import ConfigError
from fer_lightning.inference.draw import annotate
from fer_lightning.inference.predictor import Predictor, csv_header, csv_rows
from fer_lightning.runtime.jsonio import atomic_path

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
FALLBACK_FPS = 25.0  # webcams and some containers report 0 frames per second


def open_video(path: str | Path, key: str = "input") -> cv2.VideoCapture:
    """Open a video file, or raise a ConfigError naming `key` when it is missing or unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}={path}: no such file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ConfigError(
            f"{key}={path}: OpenCV cannot open it as a video (allowed: {', '.join(VIDEO_EXTENSIONS)})"
        )
    return capture


def open_webcam(index: int, key: str = "input") -> cv2.VideoCapture:
    """Open camera `index`, or raise a ConfigError when there is no such camera."""
    capture = cv2.VideoCapture(int(index))
    if not capture.isOpened():
        capture.release()
        raise ConfigError(
            f"{key}=webcam:{index}: no camera could be opened at index {index} (is one connected, and free?); "
            "give a video file instead: input=<path to .mp4>"
        )
    return capture


def annotate_video(
    predictor: Predictor,
    capture: cv2.VideoCapture,
    output_dir: str | Path,
    *,
    max_frames: int | None = None,
    video_name: str = "annotated.mp4",
    csv_name: str = "frames.csv",
) -> dict:
    """Classify the faces of every frame; write the annotated video and a CSV row per face (or per faceless frame).

    Stops at the end of the stream, after `max_frames`, or on Ctrl-C (a webcam runs until then); the files
    written so far are closed properly either way.
    """
    output_dir = Path(output_dir)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 0.0 < fps < 1000.0 else FALLBACK_FPS
    video_path, csv_path = output_dir / video_name, output_dir / csv_name
    writer = None
    frames = faces_total = faceless = 0
    names = predictor.class_names
    # Both files are written beside their targets and moved over them at the end: a failure half-way leaves the
    # previous video and CSV, while Ctrl-C (the end of a webcam session) keeps what was recorded.
    with atomic_path(video_path) as video_tmp, atomic_path(csv_path) as csv_tmp:
        try:
            with csv_tmp.open("w", newline="") as fh:
                rows = csv.writer(fh)
                rows.writerow(["frame", "time_s", *csv_header(names)])
                while max_frames is None or frames < max_frames:
                    ok, frame = capture.read()
                    if not ok or frame is None:
                        break
                    if writer is None:
                        h, w = frame.shape[:2]
                        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                        writer = cv2.VideoWriter(str(video_tmp), fourcc, fps, (w, h))
                        if not writer.isOpened():
                            raise ConfigError(f"cannot write {video_path}: OpenCV has no mp4v encoder here")
                    faces = predictor.predict_faces(frame)
                    faces_total += len(faces)
                    faceless += not faces
                    for row in csv_rows(faces, names):
                        rows.writerow([frames, f"{frames / fps:.3f}", *row])
                    writer.write(annotate(frame, faces))
                    frames += 1
        except KeyboardInterrupt:
            log.info("stopped after %d frames", frames)
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if frames == 0:
            raise ConfigError("input: the video has no readable frames")
    return {
        "frames": frames,
        "fps": fps,
        "faces": faces_total,
        "frames_without_face": faceless,
        "video": str(video_path),
        "csv": str(csv_path),
    }
