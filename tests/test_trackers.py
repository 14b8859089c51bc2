"""Experiment trackers and the quiet console, read back through MLflow's own client and W&B's offline run files.

One short sweep (two trials, two epochs each, TensorBoard + MLflow + W&B at once) runs as a user would run it;
every test below reads what it left.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
from conftest import run_cli

from fer_lightning.loggers import flat_params
from fer_lightning.notebook_utils import compose_config
from fer_lightning.runtime.console import DropLibraryInfo, config_summary, final_metrics_line

LRS = ("0.001", "0.0005")
EPOCHS = 2


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2-trial multirun with logger=[tensorboard,mlflow,wandb]; returns (sweep dir, log dir, console output)."""
    root = tmp_path_factory.mktemp("trackers")
    sweep_dir = root / "multirun" / "lr_sweep"
    wandb_home = root / "wandb_home"
    result = run_cli(
        "fer_lightning.train",
        "--multirun",
        "experiment=demo",
        "logger=[tensorboard,mlflow,wandb]",
        f"optimizer.lr={','.join(LRS)}",
        "data.n_train=128",
        "data.n_val=64",
        "data.n_test=64",
        "data.batch_size=64",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.log_every_n_steps=1",
        "trainer.accelerator=cpu",
        f"paths.log_dir={root}",
        f"hydra.sweep.dir={sweep_dir}",
        env={
            # W&B keeps its settings and caches in the test's folder, and any attempt at the network fails fast
            "WANDB_CONFIG_DIR": str(wandb_home / "config"),
            "WANDB_CACHE_DIR": str(wandb_home / "cache"),
            "WANDB_DATA_DIR": str(wandb_home / "data"),
            "WANDB_BASE_URL": "http://127.0.0.1:9",
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return sweep_dir, root, output


def trial_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file())


# ----------------------------------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def mlflow_runs(sweep):
    from mlflow.tracking import MlflowClient

    sweep_dir, root, _ = sweep
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow/mlflow.db")
    experiment = client.get_experiment_by_name(sweep_dir.name)
    assert experiment is not None, [e.name for e in client.search_experiments()]
    runs = client.search_runs([experiment.experiment_id])
    return client, experiment, {r.info.run_name: r for r in runs}


@pytest.mark.slow
def test_mlflow_one_experiment_per_sweep_one_run_per_trial(sweep, mlflow_runs):
    sweep_dir, root, _ = sweep
    client, experiment, runs = mlflow_runs
    assert sorted(runs) == [d.name for d in trial_dirs(sweep_dir)] == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in runs.values())
    # the embedded store: one SQLite file and an artifacts folder under the outputs dir, no server
    assert (root / "mlflow" / "mlflow.db").is_file()
    assert Path(experiment.artifact_location.removeprefix("file://")).resolve() == (
        root / "mlflow" / "artifacts"
    )


@pytest.mark.slow
def test_mlflow_params_are_the_flattened_config(sweep, mlflow_runs):
    sweep_dir, _, _ = sweep
    _, _, runs = mlflow_runs
    for trial, lr in zip(trial_dirs(sweep_dir), LRS, strict=True):
        params = runs[trial.name].data.params
        assert float(params["optimizer.lr"]) == float(lr)
        assert params["data.batch_size"] == "64"
        assert params["trainer.max_epochs"] == str(EPOCHS)
        assert params["model.name"] == "sequential"
        assert params["num_classes"] == "7"
        assert not any(k.startswith("config") for k in params)


@pytest.mark.slow
def test_mlflow_metrics_every_epoch_match_the_run_record(sweep, mlflow_runs):
    sweep_dir, _, _ = sweep
    client, _, runs = mlflow_runs
    for trial in trial_dirs(sweep_dir):
        run = runs[trial.name]
        epochs = json.loads((trial / "epoch_metrics.json").read_text())
        history = client.get_metric_history(run.info.run_id, "val/acc")
        assert len(history) == EPOCHS == len(epochs)
        assert [round(m.value, 5) for m in history] == [round(row["val/acc"], 5) for row in epochs]
        final = json.loads((trial / "metrics.json").read_text())["metrics"]
        assert run.data.metrics["test/acc"] == pytest.approx(final["test/acc"], abs=1e-6)


@pytest.mark.slow
def test_mlflow_artifacts_are_the_run_figures(sweep, mlflow_runs):
    sweep_dir, _, _ = sweep
    client, _, runs = mlflow_runs
    for trial in trial_dirs(sweep_dir):
        run_id = runs[trial.name].info.run_id
        names = {Path(a.path).name for a in client.list_artifacts(run_id, "figures")}
        assert names == {"curves.png", "confusion_matrix.png"}
        local = Path(client.download_artifacts(run_id, "figures/curves.png", str(trial / "_download")))
        assert local.read_bytes() == (trial / "curves.png").read_bytes()


# ----------------------------------------------------------------------------------------------- W&B


def wandb_records(path: Path):
    """The records of a W&B run file (`run-<id>.wandb`): W&B's LevelDB-style log of protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B", ident
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def wandb_run(trial: Path) -> dict:
    """What one offline W&B run holds: its run record, config, history rows and whether it exited."""
    (run_dir,) = (trial / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    run, config, history, exited = None, {}, [], False
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            config.update({u.key: json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            row = {}
            for item in record.history.item:
                key = "/".join(item.nested_key) if item.nested_key else item.key
                row[key] = json.loads(item.value_json)
            history.append(row)
        elif kind == "exit":
            exited = record.exit.exit_code == 0
    return {"dir": run_dir, "run": run, "config": config, "history": history, "exited": exited}


@pytest.mark.slow
def test_wandb_offline_runs_hold_the_same_content(sweep):
    sweep_dir, _, _ = sweep
    for trial, lr in zip(trial_dirs(sweep_dir), LRS, strict=True):
        wb = wandb_run(trial)
        assert wb["exited"], "the W&B run was not finished"
        assert wb["run"].run_group == sweep_dir.name and wb["run"].display_name == trial.name
        assert float(wb["config"]["optimizer.lr"]) == float(lr)
        assert wb["config"]["data.batch_size"] == 64
        epochs = json.loads((trial / "epoch_metrics.json").read_text())
        val_acc = [row["val/acc"] for row in wb["history"] if "val/acc" in row]
        assert [round(v, 5) for v in val_acc] == [round(row["val/acc"], 5) for row in epochs]
        images = {k.split("/")[1] for row in wb["history"] for k in row if k.startswith("figures/")}
        assert images == {"curves", "confusion_matrix"}
        assert len(list((wb["dir"] / "files" / "media" / "images").rglob("*.png"))) == 2


# ----------------------------------------------------------------------------------------------- console

NOISE = {
    "Lightning tips": re.compile(r"💡|Tip:|litlogger|litmodels"),
    "LeafSpec deprecation": re.compile(r"LeafSpec"),
    "FLOPs line": re.compile(r"Total FLOPs"),
    "model summary table": re.compile(r"Trainable params|Non-trainable params"),
    "GPU/TPU available": re.compile(r"(GPU|TPU) available"),
    "Lightning test table": re.compile(r"Test metric\s"),
    "W&B banner": re.compile(r"^wandb:", re.MULTILINE),
    "MLflow INFO": re.compile(r"INFO mlflow"),
    "logger version in the bar": re.compile(r"v_num"),
}


@pytest.mark.slow
@pytest.mark.parametrize("noise", sorted(NOISE))
def test_console_carries_no_library_noise(sweep, noise):
    _, _, output = sweep
    match = NOISE[noise].search(output)
    assert match is None, f"{noise}: {output[max(0, match.start() - 200) : match.end() + 200]}"


@pytest.mark.slow
def test_console_carries_config_progress_and_final_metrics(sweep):
    sweep_dir, _, output = sweep
    assert (
        len(re.findall(r"config: experiment=demo data=synthetic model=sequential .*logger=\[", output)) == 2
    )
    assert re.search(r"\d:\d\d:\d\d • \d:\d\d:\d\d", output), (
        "no progress bar with elapsed and remaining time"
    )
    finals = re.findall(r"final metrics after 2 epochs: .*test/acc (\d\.\d{4})", output)
    recorded = [
        json.loads((t / "metrics.json").read_text())["metrics"]["test/acc"] for t in trial_dirs(sweep_dir)
    ]
    assert [float(v) for v in finals] == [round(v, 4) for v in recorded]
    # the routine lines dropped from the console are still in each trial's log file
    assert "GPU available" in (trial_dirs(sweep_dir)[0] / "train.log").read_text()
    assert output.count("W&B offline run:") == 2 and "wandb sync" in output


def test_library_info_is_dropped_but_warnings_pass():
    import logging

    keep = DropLibraryInfo()

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "message", None, None)

    assert not keep.filter(record("pytorch_lightning.utilities.rank_zero", logging.INFO))
    assert not keep.filter(record("lightning_fabric", logging.INFO))
    assert keep.filter(record("pytorch_lightning.utilities.rank_zero", logging.WARNING))
    assert keep.filter(record("fer_lightning", logging.INFO))
    assert keep.filter(record("pytorch_lightning_extras", logging.INFO))


def test_summary_and_final_lines():
    cfg = {"optimizer": {"lr": 0.01}, "data": {"batch_size": 32}, "trainer": {"max_epochs": 3}, "seed": 1}
    cfg["logger"] = {"tensorboard": {}, "mlflow": {}}
    line = config_summary(cfg, "32-true", {"data": "fer2013", "model": "vgg_fer", "experiment": None})
    assert line == (
        "config: data=fer2013 model=vgg_fer logger=[tensorboard,mlflow] | "
        "lr=0.01 batch_size=32 max_epochs=3 precision=32-true seed=1"
    )
    final = final_metrics_line({"val/acc": 0.5, "test/acc": 0.25, "other": 1.0}, 3)
    assert final == "final metrics after 3 epochs: val/acc 0.5000, test/acc 0.2500"


# ----------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("overrides", "loggers"),
    [
        (["logger=many"], {"tensorboard", "mlflow"}),
        (["logger=[tensorboard,mlflow]"], {"tensorboard", "mlflow"}),
        (["logger=[csv,wandb]"], {"csv", "wandb"}),
        (["logger=wandb"], {"wandb"}),
    ],
)
def test_several_loggers_compose(tmp_path, overrides, loggers):
    cfg = compose_config("train", overrides, tmp_path / "run")
    assert set(cfg.logger) == loggers
    if "mlflow" in loggers:
        assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{cfg.paths.log_dir}/mlflow/mlflow.db"
        assert cfg.logger.mlflow.experiment_name == "runs" and cfg.logger.mlflow.run_name == "run"
    if "wandb" in loggers:
        assert cfg.logger.wandb.offline is True and cfg.logger.wandb.save_dir == str(tmp_path / "run")


def test_flat_params_use_command_line_keys():
    hparams = {
        "config": {"optimizer": {"lr": 0.1, "_target_": "x"}, "seed": 3, "empty": {}},
        "num_classes": 7,
    }
    assert flat_params(hparams) == {
        "optimizer.lr": 0.1,
        "optimizer._target_": "x",
        "seed": 3,
        "empty": {},
        "num_classes": 7,
    }
