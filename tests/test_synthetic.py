"""The procedural synthetic faces: deterministic, balanced, class-dependent and fast enough for the suite."""

from __future__ import annotations

import pytest
import torch

from fer_lightning.data.synthetic import make_synthetic_split, render_faces


def test_shape_dtype_and_balance():
    split = make_synthetic_split(700, seed=3)
    assert split.images.shape == (700, 1, 48, 48) and split.images.dtype == torch.uint8
    assert torch.bincount(split.labels, minlength=7).tolist() == [100] * 7
    rgb = make_synthetic_split(16, seed=3, image_size=64, channels=3, num_classes=8)
    assert rgb.images.shape == (16, 3, 64, 64) and int(rgb.labels.max()) <= 7


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, b, c = (make_synthetic_split(64, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_expression_changes_the_mouth_region():
    n = 400
    happy = render_faces(torch.full((n,), 3), seed=0).float().mean(0)[0]
    sad = render_faces(torch.full((n,), 4), seed=0).float().mean(0)[0]
    surprise = render_faces(torch.full((n,), 5), seed=0).float().mean(0)[0]
    mouth = (slice(30, 44), slice(12, 36))
    forehead = (slice(2, 8), slice(14, 34))
    assert (happy[mouth] - sad[mouth]).abs().mean() > 3 * (happy[forehead] - sad[forehead]).abs().mean()
    assert surprise[mouth].mean() < happy[mouth].mean()  # an open mouth is dark


def test_faces_vary_within_a_class():
    faces = render_faces(torch.full((32,), 6), seed=0).float()
    assert faces.std(0).mean() > 10  # pose, lighting and noise differ per face


@pytest.mark.parametrize("bad", [torch.tensor([0, 8]), torch.tensor([[0]]), torch.tensor([-1])])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError, match="labels"):
        render_faces(bad, seed=0)
