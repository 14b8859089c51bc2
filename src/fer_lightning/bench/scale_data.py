"""Write an AffectNet-layout dataset of any size (CSV lists + JPEG faces) to measure the decoded cache at scale.

`python -m fer_lightning.bench.scale_data OUT --train 16000 --test 1000 [--size 256] [--seed 0]` writes
OUT/Manually_Annotated_file_lists/{training,validation}.csv and OUT/Manually_Annotated_Images/<k>/<i>.jpg:
smooth random colour fields with noise (JPEGs of realistic entropy, ~20 KB at 256 px), a face box covering most
of the image, expression codes 0-7 in turn and random valence/arousal. Nothing in it is a face: it measures
decoding, memory and throughput, not accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
)


def write_layout(root: Path, n_train: int, n_test: int, size: int = 256, seed: int = 0) -> None:
    """Write the two CSV lists and n_train + n_test JPEG images of size x size pixels under `root`."""
    rng = np.random.default_rng(seed)
    images, lists = root / "Manually_Annotated_Images", root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    margin = size // 16
    for name, n, offset in (("training.csv", n_train, 0), ("validation.csv", n_test, n_train)):
        rows = [HEADER]
        for i in range(offset, offset + n):
            relative = f"{i // 1000}/{i}.jpg"
            path = images / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
                (size, size), Image.Resampling.BICUBIC
            )
            noisy = np.asarray(coarse, dtype=np.int16) + rng.integers(-12, 13, (size, size, 3))
            Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=90)
            box = f"{margin},{margin},{size - 2 * margin},{size - 2 * margin}"
            va = rng.uniform(-1, 1, 2)
            rows.append(f"{relative},{box},,{i % 8},{va[0]:.3f},{va[1]:.3f}")
        (lists / name).write_text("\n".join(rows) + "\n")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--train", type=int, default=16000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_layout(args.root, args.train, args.test, args.size, args.seed)


if __name__ == "__main__":
    main()
