"""Image decoding for the folder and index-file layouts: uint8 [C, H, W] at a fixed square size."""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fer_lightning.errors import DataFormatError

log = logging.getLogger(__name__)

# The one list of image file types, for datasets and prediction alike: each decodes with PIL (datasets) and with
# OpenCV (predict, visualize), tested in tests/test_one_rule_each.py.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# Bilinear with PIL's support scaling antialiases when shrinking, so large AffectNet faces do not alias.
RESAMPLE = Image.Resampling.BILINEAR

Box = tuple[float, float, float, float]  # x, y, width, height in pixels of the stored image
# Pixels per decode task (and per resumable cache chunk): large enough to amortise a task, small enough
# that a killed build loses seconds and a few tasks in flight hold little memory.
CHUNK_BYTES = 16 << 20


def is_image_file(path: Path) -> bool:
    """True for a regular, non-hidden file with an image extension (case-insensitive)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _pil_mode(channels: int) -> str:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    return "L" if channels == 1 else "RGB"


def _to_array(img: Image.Image, image_size: int, channels: int) -> np.ndarray:
    mode = _pil_mode(channels)
    if img.mode == "P":
        img = img.convert("RGBA")  # palette transparency must be expanded before dropping alpha
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float images: rescale to 0-255 rather than letting convert() clip them.
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        img = Image.fromarray(np.clip(arr * (255.0 / hi if hi > 255 else 1.0), 0, 255).astype(np.uint8), "L")
    if img.mode != mode:
        img = img.convert(mode)  # gray -> RGB replicates the channel; RGB -> L is ITU-R 601 luma
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), RESAMPLE)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box) or w <= 0 or h <= 0:
        return None
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def decode_image(path: Path | str, image_size: int, channels: int, box: Box | None = None) -> np.ndarray:
    """Decode an image file to uint8 [channels, image_size, image_size], cropping to `box` first if given."""
    path = Path(path)
    mode = _pil_mode(channels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                full_w, full_h = img.size
                if box is None:
                    # JPEG draft decodes at a reduced scale (>= the requested size): far faster for big files.
                    img.draft(mode, (image_size, image_size))
                    img.load()
                    return _to_array(img, image_size, channels)
                clipped = _clip_box(box, full_w, full_h)
                if clipped is None:
                    raise DataFormatError(
                        f"{path}: face box x={box[0]}, y={box[1]}, width={box[2]}, height={box[3]} is empty or "
                        f"lies outside the {full_w}x{full_h} image"
                    )
                x0, y0, x1, y1 = clipped
                want = (
                    math.ceil(image_size * full_w / (x1 - x0)),
                    math.ceil(image_size * full_h / (y1 - y0)),
                )
                img.draft(mode, want)
                img.load()
                sx, sy = img.size[0] / full_w, img.size[1] / full_h
                crop = (
                    int(x0 * sx),
                    int(y0 * sy),
                    max(int(x0 * sx) + 1, math.ceil(x1 * sx)),
                    max(int(y0 * sy) + 1, math.ceil(y1 * sy)),
                )
                return _to_array(img.crop(crop), image_size, channels)
    except DataFormatError:
        raise
    except FileNotFoundError as err:
        raise DataFormatError(f"{path}: image file is missing") from err
    except Exception as err:  # PIL raises many types for corrupt files; all mean "unreadable"
        raise DataFormatError(f"{path}: cannot decode image file ({type(err).__name__}: {err})") from err


def default_workers() -> int:
    """The cores this process may run on: the number of decode processes when data.decode_workers is null."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decode_chunk(
    paths: Sequence[Path], boxes: Sequence[Box | None] | None, image_size: int, channels: int
) -> tuple[np.ndarray, dict[int, str]]:
    out = np.zeros((len(paths), channels, image_size, image_size), dtype=np.uint8)
    failures: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            out[i] = decode_image(path, image_size, channels, boxes[i] if boxes is not None else None)
        except DataFormatError as err:
            failures[i] = str(err)
    return out, failures


def load_images(
    paths: Sequence[Path],
    image_size: int,
    channels: int,
    boxes: Sequence[Box | None] | None = None,
    workers: int | None = None,
    sink=None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Decode many files into uint8 [K, C, S, S] (the K readable ones, in order) and {index: problem} for the rest.

    Decoding runs in `workers` processes (default: every core), chunk by chunk, with a progress bar. With a
    `sink` (the cache being built, fer_lightning.data.cache.CacheBuilder) each chunk goes straight to disk and
    is recorded as done, so memory stays bounded and a killed build resumes at the first missing chunk.
    """
    shape = (channels, image_size, image_size)
    part = sink.part(len(paths), shape) if sink is not None else None
    if part is not None and part.complete:
        return part.images(), part.failures
    out = None if part is not None else np.zeros((len(paths), *shape), dtype=np.uint8)
    failures: dict[int, str] = dict(part.failures) if part is not None else {}
    step = max(1, min(1024, CHUNK_BYTES // max(1, int(np.prod(shape)))))
    starts = [s for s in range(0, len(paths), step) if part is None or not part.is_done(s)]

    def store(start: int, images: np.ndarray, found: dict[int, str]) -> None:
        shifted = {start + i: message for i, message in found.items()}
        failures.update(shifted)
        if part is None:
            out[start : start + len(images)] = images
        else:
            part.write(start, images, shifted)

    def task(start: int) -> tuple:
        chunk = boxes[start : start + step] if boxes is not None else None
        return (paths[start : start + step], chunk, image_size, channels)

    workers = min(int(workers or default_workers()), len(starts)) or 1
    todo = sum(min(step, len(paths) - s) for s in starts)
    began = time.perf_counter()
    try:
        with _progress(len(paths), len(paths) - todo, workers) as bar:
            if workers <= 1:
                for start in starts:
                    store(start, *_decode_chunk(*task(start)))
                    bar.update(min(step, len(paths) - start))
            else:
                _decode_in_processes(starts, task, store, workers, bar, lambda s: min(step, len(paths) - s))
    except KeyboardInterrupt:
        if part is not None:
            log.warning("decoding interrupted: what is decoded is kept; the next run continues from there")
        raise
    if todo >= 1024:
        seconds = time.perf_counter() - began
        log.info(
            "decoded %d images in %.1f s: %.0f images/s with %d process(es)",
            todo,
            seconds,
            todo / seconds,
            workers,
        )
    if part is not None:
        return part.finish_decode(failures), dict(sorted(failures.items()))
    ok = np.ones(len(paths), dtype=bool)
    ok[list(failures)] = False
    return (out if ok.all() else out[ok]), dict(sorted(failures.items()))


def _decode_in_processes(starts, task, store, workers: int, bar, size_of) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # fork where there is one, like torch's DataLoader workers: a spawned worker would first spend seconds
    # importing torch through this package; a forked one runs PIL and numpy only, never the parent's threads.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
    pending: dict = {}
    queue = list(starts)
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # bounded in flight: memory stays a few chunks
                start = queue.pop(0)
                pending[pool.submit(_decode_chunk, *task(start))] = start
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                start = pending.pop(future)
                store(start, *future.result())
                bar.update(size_of(start))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _progress(total: int, initial: int, workers: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=f"decoding images ({workers} process{'es' if workers > 1 else ''})",
        unit="img",
        disable=total < 1024,  # small folders decode in a blink; a bar would only clutter test logs
        mininterval=1.0,
        dynamic_ncols=True,
    )


def resize_gray(images: np.ndarray, image_size: int) -> np.ndarray:
    """Resize uint8 grayscale images [N, H, W] to [N, image_size, image_size] with the same filter as files."""
    if images.shape[1:] == (image_size, image_size):
        return images
    out = np.empty((images.shape[0], image_size, image_size), dtype=np.uint8)
    for i in range(images.shape[0]):
        out[i] = np.asarray(Image.fromarray(images[i], "L").resize((image_size, image_size), RESAMPLE))
    return out


def gray_to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Turn grayscale [N, H, W] into [N, channels, H, W], replicating the gray plane for RGB."""
    _pil_mode(channels)
    stacked = images[:, None]
    return np.repeat(stacked, 3, axis=1) if channels == 3 else np.ascontiguousarray(stacked)
