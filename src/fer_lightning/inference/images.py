"""Image files and folders of them: predictions as JSON / CSV, and annotated copies."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2

from fer_lightning.data.formats.image_decoding import IMAGE_EXTENSIONS, is_image_file
from fer_lightning.errors import ConfigError
from fer_lightning.inference.draw import annotate
from fer_lightning.inference.faces import read_image
from fer_lightning.inference.predictor import Predictor, csv_header, csv_rows
from fer_lightning.runtime.jsonio import atomic_path, write_json

ENCODABLE = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # what cv2.imencode can write back


def write_annotated(path: Path, image_bgr, faces: list[dict]) -> Path:
    """Write the annotated image in the format of `path`'s extension (PNG when OpenCV cannot encode that one)."""
    if path.suffix.lower() not in ENCODABLE:
        path = path.with_name(path.name + ".png")
    ok, data = cv2.imencode(path.suffix.lower(), annotate(image_bgr, faces))
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


def predict_image_file(
    predictor: Predictor, path: str | Path, output_dir: str | Path, save_annotated: bool = True
) -> dict:
    """Faces of one image: `predictions.json` and `<name>_annotated.png` in `output_dir`; returns the record."""
    path, output_dir = Path(path), Path(output_dir)
    image = read_image(path, key="input")
    faces = predictor.predict_faces(image)
    record = {
        "input": str(path),
        "status": "ok" if faces else "no_face",
        "size": [int(image.shape[1]), int(image.shape[0])],
        "faces": faces,
    }
    if save_annotated:
        record["annotated"] = str(write_annotated(output_dir / f"{path.stem}_annotated.png", image, faces))
    write_json(output_dir / "predictions.json", record)
    return record


def predict_folder(
    predictor: Predictor, folder: str | Path, output_dir: str | Path, save_annotated: bool = True
) -> dict:
    """Every image under `folder` (recursively): `predictions.csv` with one row per face, and annotated copies.

    An image without a face gets one row with status `no_face`, an unreadable one `unreadable`: a folder of
    real-world files is reported on, not stopped by one bad file.
    """
    folder, output_dir = Path(folder), Path(output_dir)
    files = sorted(p for p in folder.rglob("*") if is_image_file(p))
    if not files:
        raise ConfigError(f"input={folder}: the folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    names = predictor.class_names
    counts = {"images": len(files), "faces": 0, "no_face": 0, "unreadable": 0}
    csv_path = output_dir / "predictions.csv"
    # atomic: a folder that fails half-way leaves the previous predictions.csv, not half a new one
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["file", *csv_header(names)])
        for path in files:
            rel = path.relative_to(folder)
            try:
                image = read_image(path, key="input")
            except ConfigError:
                counts["unreadable"] += 1
                rows.writerows([[str(rel), *r] for r in csv_rows([], names, status_if_none="unreadable")])
                continue
            faces = predictor.predict_faces(image)
            counts["faces"] += len(faces)
            counts["no_face"] += not faces
            rows.writerows([[str(rel), *r] for r in csv_rows(faces, names)])
            if save_annotated:
                write_annotated(output_dir / "annotated" / rel, image, faces)
    return {**counts, "csv": str(csv_path)}
