"""The decoded cache on disk: memory-mapped training, shared and resumable builds, parallel decode, content keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image
from test_datamodule import write_fer_csv
from test_formats_rafdb import write_list_layout

from fer_lightning.data import cache as cache_module
from fer_lightning.data.datamodule import FERDataModule
from fer_lightning.data.formats import image_decoding as images_module
from fer_lightning.errors import ConfigError
from fer_lightning.inspect import format_table
from fer_lightning.train import train

CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}",
    "OMP_NUM_THREADS": "1",
}


def raf_layout(root: Path, n_train: int = 140, n_test: int = 30) -> Path:
    entries = [(f"train_{i:05d}.jpg", 1 + i % 7) for i in range(n_train)]
    entries += [(f"test_{i:04d}.jpg", 1 + i % 7) for i in range(n_test)]
    write_list_layout(root, entries)
    # One all-black face, for data.drop_blank.
    Image.new("RGB", (100, 100)).save(root / "Image" / "aligned" / "train_00003_aligned.jpg")
    return root


@pytest.fixture(scope="module")
def raf(tmp_path_factory) -> Path:
    """A RAF-DB list layout with 140 train and 30 test faces, shared by the tests that only read it."""
    return raf_layout(tmp_path_factory.mktemp("raf") / "rafdb")


def datamodule(root: Path, cache_dir: Path | None, **kwargs) -> FERDataModule:
    kwargs.setdefault("image_size", 24)
    kwargs.setdefault("channels", 3)
    return FERDataModule(
        dataset="rafdb", root=str(root), cache_dir=str(cache_dir) if cache_dir else None, **kwargs
    )


def split_arrays(dm: FERDataModule) -> dict:
    dm.setup()
    return {name: (s.images, s.labels) for name, s in dm.splits.items()}


def assert_same_splits(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name][0], b[name][0]), name
        assert torch.equal(a[name][1], b[name][1]), name


def test_mapped_splits_equal_in_memory_ones_with_folds_and_blank_removal(raf, tmp_path):
    uncached = split_arrays(datamodule(raf, None, num_folds=3, fold=1, drop_blank=True, balance="oversample"))
    mapped_dm = datamodule(
        raf, tmp_path / "c", in_memory="never", num_folds=3, fold=1, drop_blank=True, balance="oversample"
    )
    mapped = split_arrays(mapped_dm)
    assert all(s.mapped for s in mapped_dm.splits.values())
    assert mapped_dm.dropped == {"blank_train": 1}
    assert_same_splits(uncached, mapped)
    held = datamodule(
        raf, tmp_path / "c", in_memory="always", num_folds=3, fold=1, drop_blank=True, balance="oversample"
    )
    assert_same_splits(uncached, split_arrays(held))
    assert held.cache_status == "read" and not any(s.mapped for s in held.splits.values())


def test_auto_maps_a_cache_larger_than_in_memory_max_mb_and_inspect_says_so(raf, tmp_path):
    small = datamodule(raf, tmp_path / "c")
    summary = small.summary()
    size = sum(f.stat().st_size for f in Path(summary["cache"]).iterdir())
    assert summary["cache_mode"] == "memory" and summary["cache_bytes"] == size
    assert size > 170 * 3 * 24 * 24  # every decoded image is in it
    big = datamodule(raf, tmp_path / "c", in_memory_max_mb=size / 2**20 / 2).summary()
    assert big["cache_mode"] == "mapped" and big["cache"] == summary["cache"]
    table = format_table(big)
    assert f"cache: {summary['cache']} ({size / 2**20:,.1f} MiB on disk, memory-mapped" in table


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (
            {"in_memory": "sometimes", "cache_dir": "x"},
            "data.in_memory='sometimes'; allowed: auto, true",
        ),
        ({"in_memory": False, "cache_dir": None}, "data.in_memory=never maps the decoded cache"),
        ({"decode_workers": 0, "cache_dir": None}, "data.decode_workers=0"),
        ({"in_memory_max_mb": -1, "cache_dir": None}, "data.in_memory_max_mb=-1"),
    ],
)
def test_bad_cache_settings_name_the_key(tmp_path, kwargs, key):
    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")):
        FERDataModule(dataset="rafdb", root=str(tmp_path), **kwargs)


def test_parallel_decode_in_processes_equals_one_process(raf, monkeypatch):
    paths = sorted((raf / "Image" / "aligned").glob("*.jpg"))[:100] + [raf / "missing.jpg"]
    monkeypatch.setattr(images_module, "CHUNK_BYTES", 30 * 3 * 24 * 24)  # 30 images a task: 4 tasks
    one, fails_one = images_module.load_images(paths, 24, 3, workers=1)
    two, fails_two = images_module.load_images(paths, 24, 3, workers=2)
    assert np.array_equal(one, two) and len(one) == 100
    assert list(fails_one) == list(fails_two) == [100]


def test_a_mapped_run_and_an_in_memory_run_give_identical_metrics(raf, train_cfg, tmp_path):
    def run(in_memory: str) -> dict:
        cfg = train_cfg(
            "data=rafdb",
            f"data.root={raf}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"data.in_memory={in_memory}",
            "data.image_size=24",
            "data.batch_size=32",
            "trainer.max_epochs=1",
            "deterministic=true",
            "trainer.accelerator=cpu",
            "callbacks.progress_bar=null",
            "callbacks.early_stopping=null",
            fast=False,
        )
        metrics, objects = train(cfg)
        assert all(s.mapped == (in_memory == "never") for s in objects["datamodule"].splits.values())
        return metrics

    assert run("never") == run("always")


def build_script(body: str) -> str:
    """A child process that opens (or builds) one cache with the format reader, without Lightning."""
    return f"""
import json, os, signal, sys, time
from pathlib import Path
import fer_lightning.data.formats as formats
from fer_lightning.data import cache
from fer_lightning.data.formats import image_decoding as images
{body}
def read(builder):
    return formats.load_dataset("rafdb", ROOT, image_size=24, channels=3, decode_workers=1, sink=builder)
data, status = cache.load_or_build(Path(CACHE), read, in_memory=sys.argv[1])
print(json.dumps({{"status": status, "sum": int(data.splits["train"].images.sum()),
                   "mapped": data.splits["train"].mapped}}))
"""


def load_with_cache(root: Path, path: Path, **kwargs):
    from fer_lightning.data.formats import load_dataset

    def read(builder):
        return load_dataset("rafdb", root, image_size=24, channels=3, decode_workers=1, sink=builder)

    return cache_module.load_or_build(path, read, **kwargs)


def test_a_killed_build_is_resumed_and_never_read(tmp_path, monkeypatch):
    root = raf_layout(tmp_path / "rafdb")
    final = tmp_path / "cache" / "rafdb-key"
    # The child decodes in one process, 20 images a task, and SIGKILLs itself when the 4th task starts.
    child = build_script(f"""
ROOT, CACHE = {str(root)!r}, {str(final)!r}
images.CHUNK_BYTES = 20 * 3 * 24 * 24
real, calls = images._decode_chunk, []
def dying(*args):
    calls.append(1)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
images._decode_chunk = dying
""")
    res = subprocess.run(
        [sys.executable, "-c", child, "auto"], env=CHILD_ENV, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == -9, res.stderr[-2000:]
    partial = final.with_name(final.name + ".partial")
    assert not final.exists()  # nothing a reader could open
    progress = json.loads((partial / "progress.json").read_text())
    assert progress["parts"][0]["done"] == [0, 20, 40]
    assert cache_module.open_cache(final) is None

    monkeypatch.setattr(images_module, "CHUNK_BYTES", 20 * 3 * 24 * 24)
    real, starts = images_module._decode_chunk, []
    monkeypatch.setattr(images_module, "_decode_chunk", lambda p, *a: starts.append(p[0].name) or real(p, *a))
    resumed, status = load_with_cache(root, final, in_memory="never")
    assert status == "built" and final.is_dir() and not partial.exists()
    # 140 train rows in 7 tasks, 3 already on disk; then the 30 test rows in 2 tasks.
    assert starts == [
        "train_00060_aligned.jpg",
        "train_00080_aligned.jpg",
        "train_00100_aligned.jpg",
        "train_00120_aligned.jpg",
        "test_0000_aligned.jpg",
        "test_0020_aligned.jpg",
    ]
    # A build never interrupted, to compare with.
    fresh, _ = load_with_cache(root, tmp_path / "unused" / "x", in_memory="always")
    assert resumed.splits.keys() == fresh.splits.keys() == {"train", "test"}
    for name, split in fresh.splits.items():
        assert torch.equal(resumed.splits[name].images, split.images), name
        assert torch.equal(resumed.splits[name].labels, split.labels), name


def test_unreadable_images_are_squeezed_out_of_the_cache(tmp_path, monkeypatch):
    root = raf_layout(tmp_path / "rafdb", n_train=70, n_test=10)
    for stem in ("train_00005", "train_00050"):
        (root / "Image" / "aligned" / f"{stem}_aligned.jpg").write_bytes(b"not a jpeg")
    monkeypatch.setattr(images_module, "CHUNK_BYTES", 16 * 3 * 24 * 24)
    with pytest.warns(UserWarning, match="skipped 2 bad row"):
        expected = split_arrays(datamodule(root, None, on_bad_rows="skip"))
    with pytest.warns(UserWarning, match="skipped 2 bad row"):
        built = datamodule(root, tmp_path / "c", on_bad_rows="skip", in_memory="never")
        built_splits = split_arrays(built)
    assert built.dropped["bad_rows"] == 2
    assert_same_splits(expected, built_splits)
    read = datamodule(root, tmp_path / "c", on_bad_rows="skip")
    assert_same_splits(expected, split_arrays(read))
    assert read.cache_status == "read" and read.dropped["bad_rows"] == 2


def test_two_processes_share_one_build(tmp_path):
    root = raf_layout(tmp_path / "rafdb", n_train=70, n_test=10)
    final, flags = tmp_path / "cache" / "rafdb-key", tmp_path / "flags"
    flags.mkdir()
    # The builder holds its lock until the test lets it go, so the second process provably waits for it.
    child = build_script(f"""
ROOT, CACHE, FLAGS, real = {str(root)!r}, {str(final)!r}, Path({str(flags)!r}), formats.load_dataset
def held(*args, **kwargs):
    (FLAGS / "building").touch()
    while not (FLAGS / "go").exists():
        time.sleep(0.05)
    return real(*args, **kwargs)
formats.load_dataset = held
""")

    def start(mode: str, name: str):
        err = open(tmp_path / f"{name}.err", "w")  # noqa: SIM115 - closed after the process ends
        return subprocess.Popen(
            [sys.executable, "-c", child, mode], env=CHILD_ENV, stdout=subprocess.PIPE, stderr=err, text=True
        ), err

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 120
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    builder, builder_err = start("always", "builder")
    wait_for(lambda: (flags / "building").exists(), "the first process to start building")
    reader, reader_err = start("never", "reader")
    wait_for(lambda: "waiting for it" in (tmp_path / "reader.err").read_text(), "the second process to wait")
    (flags / "go").touch()
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in (builder, reader)]
    builder_err.close()
    reader_err.close()
    assert [o["status"] for o in outs] == ["built", "read"]
    assert outs[0]["sum"] == outs[1]["sum"] > 0 and [o["mapped"] for o in outs] == [False, True]
    assert sorted(p.name for p in final.parent.iterdir()) == [
        "rafdb-key",
        "rafdb-key.lock",
    ]  # no partial left


def test_a_csv_edited_in_place_with_the_same_size_and_mtime_is_decoded_again(tmp_path):
    root = tmp_path / "fer"
    root.mkdir()
    rows = [(c % 7, "Training", 10 + c) for c in range(14)] + [(c, "PublicTest", 50) for c in range(7)]
    csv = root / "fer2013.csv"
    write_fer_csv(csv, rows)
    stat = csv.stat()

    def labels() -> tuple[str, list[int]]:
        dm = FERDataModule(dataset="fer2013", root=str(root), cache_dir=str(tmp_path / "cache"))
        dm.setup()
        return dm.cache_status, dm.splits["train"].labels.tolist()

    assert labels()[0] == "built"
    assert labels()[0] == "read"
    rows[0] = (5, "Training", 10)  # one label digit: same size
    write_fer_csv(csv, rows)
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert csv.stat().st_size == stat.st_size and csv.stat().st_mtime_ns == stat.st_mtime_ns
    status, train_labels = labels()
    assert status == "built" and train_labels[0] == 5


def test_an_unwritable_cache_dir_decodes_into_memory(raf, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    dm = datamodule(raf, blocked / "cache")
    dm.setup()
    assert dm.cache_status == "uncached" and dm.cache_path is None and len(dm.splits["train"]) > 0


def test_an_annotation_rewritten_with_the_same_size_and_mtime_changes_the_key(tmp_path):
    note = tmp_path / "annotations" / "7_exp.npy"
    note.parent.mkdir()
    np.save(note, np.array("3"))
    stat = note.stat()
    before = cache_module.fingerprint_files(tmp_path)
    assert cache_module.fingerprint_files(tmp_path) == before  # stable while nothing changes
    time.sleep(0.05)  # past the kernel's coarse timestamp tick, as any real edit is
    np.save(note, np.array("5"))
    os.utime(note, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert note.stat().st_size == stat.st_size and note.stat().st_mtime_ns == stat.st_mtime_ns
    assert cache_module.fingerprint_files(tmp_path) != before  # its ctime moved: no tool can set that back


def test_in_memory_takes_auto_true_false_from_the_command_line():
    from fer_lightning.data.cache import parse_in_memory
    from fer_lightning.errors import ConfigError as Err
    from fer_lightning.runtime.schema import check_value

    assert [parse_in_memory(v) for v in ("auto", True, False, "true", "false")] == [
        "auto",
        "always",
        "never",
        "always",
        "never",
    ]
    check_value("data.in_memory", True, str, "true")  # a boolean is a valid value of this string key
    with pytest.raises(Err, match="expected a string"):
        check_value("data.format", True, str, "true")
    with pytest.raises(Err, match="allowed: auto, true"):
        parse_in_memory("sometimes")
