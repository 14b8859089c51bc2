"""Each rule has one owner: the early config check and the code that owns a value say the same thing, and the
lists and transforms that training and inference share are one definition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from fer_lightning.augment.tta import tta_views
from fer_lightning.data.datamodule import InMemoryDataModule
from fer_lightning.data.formats import load_dataset
from fer_lightning.data.formats.image_decoding import IMAGE_EXTENSIONS, decode_image
from fer_lightning.errors import ConfigError
from fer_lightning.evaluation.predictions import predict_split
from fer_lightning.inference import images as inference_images
from fer_lightning.inference.faces import ModelInput, read_image
from fer_lightning.models import create_model
from fer_lightning.runtime.device import accelerator_device, resolve_device
from fer_lightning.runtime.precision import resolve_precision
from fer_lightning.runtime.validate import validate_config


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_batch_size_reads_the_same_before_the_run_and_in_the_datamodule():
    early = _message(validate_config, OmegaConf.create({"data": {"batch_size": 0}}))
    assert (
        early == _message(InMemoryDataModule, batch_size=0) == "data.batch_size=0 must be a positive number"
    )


def test_dropout_reads_the_same_before_the_run_and_in_the_model_zoo():
    early = _message(validate_config, OmegaConf.create({"model": {"dropout": 1.5}}))
    late = _message(create_model, "sequential", in_channels=1, num_classes=7, image_size=48, dropout=1.5)
    assert early == late == "model.dropout=1.5 must be in [0, 1) (or null for the model's own dropouts)"


def test_tta_mode_reads_the_same_in_evaluation_and_in_the_views():
    views = _message(tta_views, torch.zeros(1, 1, 8, 8), "rotate")
    evaluation = _message(predict_split, torch.nn.Identity(), None, tta="rotate")
    assert views == evaluation == "tta='rotate' is not supported; allowed values: none, flip, tencrop"


@pytest.mark.parametrize("ext", IMAGE_EXTENSIONS)
def test_every_image_extension_decodes_for_datasets_and_for_prediction(tmp_path, ext):
    assert inference_images.IMAGE_EXTENSIONS is IMAGE_EXTENSIONS  # predict lists the files the datasets read
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[:, 8:] = (200, 100, 50)
    path = tmp_path / f"face{ext}"
    Image.fromarray(rgb[..., 0] if ext == ".pgm" else rgb).save(path)
    assert decode_image(path, 16, 1).shape == (1, 16, 16)
    bgr = read_image(path)
    assert bgr.shape == (16, 16, 3)
    left, right = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[8, [2, 13]]
    assert left < 20 < 60 < right  # the picture itself, not only its size, survived


def test_prediction_normalises_exactly_like_the_datamodule():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    dm = InMemoryDataModule(channels=3, mean=mean, std=std)
    images = torch.randint(
        0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    model_input = ModelInput(channels=3, image_size=8, mean=mean, std=std)
    assert torch.equal(dm.to_model_input(images), model_input.normalise(images))
    assert torch.equal(
        dm.on_after_batch_transfer((images, torch.zeros(4), 0), 0)[0], dm.to_model_input(images)
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_one_device_resolver_for_commands_training_and_precision():
    assert resolve_device(None) == resolve_device("auto") == "cpu"
    assert accelerator_device("auto") == accelerator_device("cpu") == torch.device("cpu")
    for asked, key in (
        (lambda: resolve_device("cuda"), "device=cuda"),
        (lambda: accelerator_device("gpu"), "trainer.accelerator=gpu"),
    ):
        assert "no CUDA GPU is visible on this machine" in _message(asked)
        assert key in _message(asked)
    assert _message(resolve_precision, "auto", "gpu") == _message(accelerator_device, "gpu")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("image_size", 0, "data.image_size=0 must be a positive integer (pixels per side)"),
        ("channels", 2, "data.channels=2 is not supported; allowed values: 1 (grayscale), 3 (RGB)"),
        ("num_classes", 5, "data.num_classes=5 is not supported; allowed values: 7 (no contempt), 8"),
    ],
)
def test_data_shape_reads_the_same_in_the_datamodule_and_the_readers(tmp_path, key, value, expected):
    settings = {"image_size": 48, "channels": 1, "num_classes": 7, key: value}
    assert _message(InMemoryDataModule, **settings) == expected
    assert _message(load_dataset, "fer2013", tmp_path, **settings).startswith(expected)
    if key == "image_size":
        assert _message(validate_config, OmegaConf.create({"data": {key: value}})) == expected
