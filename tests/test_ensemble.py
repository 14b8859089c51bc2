"""Ensembles in eval: `ckpt_path=[a.ckpt,b.ckpt]` averages the members' softmax outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import FAST, compose_config
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fer_lightning.build import load_classifier
from fer_lightning.checkpoint_run import CheckpointRun
from fer_lightning.errors import ConfigError
from fer_lightning.eval import evaluate
from fer_lightning.evaluation.predictions import Predictions, average_probabilities
from fer_lightning.runtime.resolvers import CONF_DIR
from fer_lightning.runtime.schema import check_config_types
from fer_lightning.train import train


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two short synthetic runs that differ only in their seed: two checkpoints of the same network."""
    root = tmp_path_factory.mktemp("ensemble")
    paths = []
    for seed in (1, 2):
        # data.seed fixed: the synthetic faces follow `seed` by default, and every member must be scored on the
        # faces an ensemble is (the first member's), or a single evaluation would test other faces
        overrides = [*FAST, "data.n_train=512", "trainer.max_epochs=2", f"seed={seed}", "data.seed=1"]
        cfg = compose_config("train", overrides, root / f"seed{seed}")
        train(cfg)
        summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
        paths.append(summary["best_ckpt"])
    return {"root": root, "paths": paths}


def eval_cfg(members, ckpt: str, *overrides: str):
    run_dir = members["root"] / f"eval-{len(list(members['root'].iterdir()))}"
    return compose_config("eval", [f"ckpt_path={ckpt}", *overrides], run_dir)


def as_list(paths: list[str]) -> str:
    return "[" + ",".join(paths) + "]"


def test_ensemble_scores_the_mean_of_the_members_softmax(members):
    paths = members["paths"]
    flat, objects = evaluate(eval_cfg(members, as_list(paths)))

    # the same numbers computed directly from the two networks
    dm = objects["datamodule"]
    test = dm.splits["test"]
    x = dm.to_model_input(test.images)
    with torch.no_grad():
        probs = [load_classifier(p)[0].net.eval()(x).float().softmax(1) for p in paths]
    mean = torch.stack(probs).mean(0)
    expected_acc = (mean.argmax(1) == test.labels).float().mean().item()
    assert flat["accuracy"] == pytest.approx(expected_acc, abs=1e-6)
    assert torch.allclose(objects["predictions"].logits.softmax(1), mean, atol=1e-5)

    # the record names every member with its own accuracy, which the single-checkpoint eval agrees with
    record = json.loads((objects["output_dir"] / "metrics.json").read_text())
    assert record["ckpt_path"] == paths
    assert record["model"].startswith("ensemble of 2:")
    assert [m["ckpt_path"] for m in record["members"]] == paths
    for member, p in zip(record["members"], probs, strict=True):
        assert member["accuracy"] == pytest.approx(
            (p.argmax(1) == test.labels).float().mean().item(), abs=1e-6
        )
    single, _ = evaluate(eval_cfg(members, paths[1]))
    assert record["members"][1]["accuracy"] == pytest.approx(single["accuracy"], abs=1e-6)
    # the members disagree somewhere, or the ensemble would test nothing
    assert not torch.equal(probs[0].argmax(1), probs[1].argmax(1))


def test_an_ensemble_of_one_network_twice_is_that_network(members):
    path = members["paths"][0]
    _, one = evaluate(eval_cfg(members, path))
    twice, two = evaluate(eval_cfg(members, as_list([path, path]), "tta=flip"))
    flip, three = evaluate(eval_cfg(members, path, "tta=flip"))
    assert "members" not in one["report"] and one["report"]["ckpt_path"] == path
    assert twice == pytest.approx(flip, abs=1e-6)
    assert two["report"]["confusion_matrix"] == three["report"]["confusion_matrix"]
    assert two["report"]["tta"] == "flip"


def _rewritten(path: str, out: Path, edit) -> str:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    edit(ckpt["hyper_parameters"])
    torch.save(ckpt, out)
    return str(out)


def test_members_that_read_other_input_or_score_other_classes_are_refused(members, tmp_path):
    first = members["paths"][0]

    def other_mean(hp):
        hp["config"]["data"]["mean"] = [0.25]

    def other_classes(hp):
        hp["class_names"] = list(reversed(hp["class_names"]))

    odd_mean = _rewritten(members["paths"][1], tmp_path / "mean.ckpt", other_mean)
    with pytest.raises(ConfigError, match=r"mean\.ckpt was trained with data\.mean=\[0\.25\]"):
        evaluate(eval_cfg(members, as_list([first, odd_mean])))
    odd_classes = _rewritten(members["paths"][1], tmp_path / "classes.ckpt", other_classes)
    with pytest.raises(ConfigError, match=r"classes\.ckpt scores the classes .* members must share"):
        evaluate(eval_cfg(members, as_list([first, odd_classes])))
    with pytest.raises(ConfigError, match=r"ckpt_path=.*missing\.ckpt: no such checkpoint file"):
        evaluate(eval_cfg(members, as_list([first, str(tmp_path / "missing.ckpt")])))


def test_average_probabilities_checks_its_members():
    labels = torch.tensor([0, 1, 2])
    images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    a = Predictions(torch.tensor([[9.0, 0, 0], [0, 9, 0], [0, 0, 9]]), labels, images)
    b = Predictions(torch.tensor([[0.0, 0, 9], [0, 9, 0], [9, 0, 0]]), labels, images)
    mean = average_probabilities([a, b]).logits.softmax(1)
    assert torch.allclose(mean, (a.logits.softmax(1) + b.logits.softmax(1)) / 2, atol=1e-6)
    assert torch.isfinite(
        average_probabilities([Predictions(torch.tensor([[1e4, -1e4, 0]]), labels[:1], images[:1])]).logits
    ).all()
    with pytest.raises(ValueError, match="same split"):
        average_probabilities([a, Predictions(a.logits, torch.tensor([2, 1, 0]), images)])
    with pytest.raises(ValueError, match="at least one"):
        average_probabilities([])


def test_a_list_of_checkpoints_passes_the_type_check_in_eval_only(tmp_path):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=["ckpt_path=[a.ckpt,b.ckpt]"], return_hydra_config=True)
        check_config_types(cfg)  # eval: a list is an ensemble
        with pytest.raises(ConfigError, match=r"ckpt_path=\[a.ckpt,b.ckpt\]: expected a string"):
            check_config_types(
                compose("export", overrides=["ckpt_path=[a.ckpt,b.ckpt]"], return_hydra_config=True)
            )
        with pytest.raises(ConfigError, match=r"ckpt_path=\[a.ckpt,\{x: 1\}\]: expected a string"):
            check_config_types(
                compose("eval", overrides=["ckpt_path=[a.ckpt,{x: 1}]"], return_hydra_config=True)
            )
    # commands called from Python, past the command-line check, refuse a list where they read one checkpoint
    run = CheckpointRun(OmegaConf.create({"ckpt_path": ["a.ckpt", "b.ckpt"]}), tmp_path)
    assert run.ckpt_paths == ["a.ckpt", "b.ckpt"]
    with pytest.raises(ConfigError, match="only fer_lightning.eval takes a list"):
        run.load_classifier()
