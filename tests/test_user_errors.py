"""Every mistake a user can make ends in one paragraph, exit code 2, no traceback and no run folder.

The commands are driven in-process through the same entry (`run_cli(<module>.hydra_main)`) that
`python -m fer_lightning.<command>` runs, so each case costs a composition, not a Python start-up; two
cases go through a real subprocess to check the exit code the shell sees.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_lightning import demo as demo_main
from fer_lightning import eval as eval_main
from fer_lightning import export as export_main
from fer_lightning import inspect as inspect_main
from fer_lightning import predict as predict_main
from fer_lightning import report as report_main
from fer_lightning import train as train_main
from fer_lightning import visualize as visualize_main
from fer_lightning.build import build_trainer, load_classifier, load_pretrained_weights
from fer_lightning.errors import ConfigError, TrainingDivergedError
from fer_lightning.models import create_model
from fer_lightning.runtime.checkpoint import check_resume_checkpoint, read_checkpoint
from fer_lightning.runtime.cli import USER_ERROR_EXIT, one_paragraph, printable
from fer_lightning.runtime.cli import run_cli as cli_entry

COMMANDS = {
    "train": train_main,
    "eval": eval_main,
    "export": export_main,
    "predict": predict_main,
    "visualize": visualize_main,
    "inspect": inspect_main,
    "report": report_main,
    "demo": demo_main,
}


def drive(command: str, *args: str, log_dir: Path) -> tuple[int, str]:
    """Run a command's entry point in-process; returns (exit code, stdout + stderr)."""
    module = COMMANDS[command]
    entry = module._hydra_main if command == "report" else module.hydra_main
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [command, *args] + ([] if command in ("report", "inspect") else [f"paths.log_dir={log_dir}"])
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_entry(entry)
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
    return code, out.getvalue() + err.getvalue()


def assert_user_error(code: int, text: str, *expected: str) -> None:
    """Exit 2, one paragraph starting with `error:`, no traceback, and the expected words."""
    assert code == USER_ERROR_EXIT, text
    assert "Traceback" not in text, text
    assert "Error executing job" not in text, text  # Hydra's own line: the error went around the handler
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, text
    assert "\n\n" not in text.strip(), text
    for word in expected:
        assert word in errors[0], (word, text)


def run_dirs(log_dir: Path) -> list[Path]:
    """Whatever a command left under the outputs dir: files, or folders holding any."""
    return [p for p in log_dir.rglob("*") if p.is_file()] if log_dir.exists() else []


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("train", ["test=no"], ["test=no", "boolean", "true, false"]),
        ("train", ["train=yes"], ["train=yes", "boolean"]),
        ("predict", ["detect=no", "ckpt_path=x.ckpt", "input=x.png"], ["detect=no", "boolean"]),
        ("train", ["trainer.max_epochs=1.5"], ["trainer.max_epochs=1.5", "integer"]),
        ("train", ["optimizer.lr=fast"], ["optimizer.lr=fast", "number"]),
        ("train", ["data.mean=0.5"], ["data.mean=0.5", "list"]),
        ("train", ["model.dropout=high"], ["model.dropout=high", "number"]),
        ("train", ["optimizer.lr=-1"], ["optimizer.lr=-1", "positive"]),
        ("train", ["optimizer=adamx"], ["optimizer", "adam, adamw"]),
        ("train", ["nonsense=1"], ["nonsense", "+nonsense=1"]),
        ("train", ["seed=1 2"], ["seed"]),
        ("eval", [], ["ckpt_path"]),
        ("eval", ["ckpt_path=[]"], ["ckpt_path is required"]),
        # a list of checkpoints is an ensemble for eval only; the other commands read one
        ("export", ["ckpt_path=[a.ckpt,b.ckpt]", "format=onnx"], ["ckpt_path=[a.ckpt,b.ckpt]", "a string"]),
        ("export", ["format=onnx"], ["ckpt_path"]),
        ("predict", ["input=x.png"], ["ckpt_path"]),
        ("visualize", ["kind=filters"], ["ckpt_path"]),
        ("demo", [], ["ckpt_path is required", "fer_lightning.demo"]),
        ("visualize", ["ckpt_path=x.ckpt", "kind=filters", "index=first"], ["index=first", "integer"]),
        ("report", [], ["report: which folder"]),
    ],
)
def test_config_mistakes_are_one_paragraph_before_any_work(tmp_path, command, args, expected):
    code, text = drive(command, *args, log_dir=tmp_path / "out")
    assert_user_error(code, text, *expected)
    assert run_dirs(tmp_path / "out") == []  # no run folder left behind


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # (a YAML file's `no` is already the boolean false; a word that is no boolean stays a string)
        ("test: skip\n", ["experiment=mine sets test='skip'", "boolean", "experiment's config file"]),
        ("trainer:\n  max_epochs: ten\n", ["trainer.max_epochs='ten'", "integer"]),
        ("data:\n  batch_size: 12.5\n", ["data.batch_size=12.5", "integer"]),
    ],
)
def test_a_users_experiment_file_is_held_to_the_option_files_types(tmp_path, body, expected):
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /scheduler: cosine\n" + body
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    code, text = drive("train", "experiment=mine", search, log_dir=tmp_path / "out")
    assert_user_error(code, text, *expected)
    assert run_dirs(tmp_path / "out") == []


def test_every_shipped_experiment_passes_the_type_check():
    from hydra import compose, initialize_config_dir

    from fer_lightning.runtime.resolvers import CONF_DIR
    from fer_lightning.runtime.schema import check_config_types

    names = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))
    assert len(names) >= 10
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for name in names:
            check_config_types(compose("train", overrides=[f"experiment={name}"], return_hydra_config=True))


def test_shell_sees_exit_code_2_for_config_and_compose_errors(tmp_path):
    for args in (["test=no"], ["optimizer=adamx"]):
        res = run_cli("fer_lightning.train", *args, f"paths.log_dir={tmp_path}")
        assert res.returncode == USER_ERROR_EXIT, res.stderr
        assert "Traceback" not in res.stderr and res.stderr.count("error: ") == 1
    assert not (tmp_path / "runs").exists()


def test_commands_import_no_torch_until_they_run():
    # what keeps `--help` and config errors under 2 s: torch and Lightning load only inside a task
    code = (
        "import sys\n"
        "import fer_lightning.train, fer_lightning.eval, fer_lightning.export, fer_lightning.predict\n"
        "import fer_lightning.visualize, fer_lightning.inspect, fer_lightning.report\n"
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'pandas') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


# ---- checkpoints: missing, empty, truncated, foreign, of another network ----


def _checkpoint(tmp_path: Path, name: str = "sequential", num_classes: int = 7) -> Path:
    net = create_model(name, in_channels=1, num_classes=num_classes, image_size=48)
    path = tmp_path / f"{name}_{num_classes}.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, "global_step": 3}, path)
    return path


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "random", "plain_tensor"])
def test_bad_checkpoint_files_name_the_key_and_the_file(tmp_path, kind):
    good = _checkpoint(tmp_path)
    bad = tmp_path / f"{kind}.ckpt"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "text":
        bad.write_text("not a checkpoint\n")
    elif kind == "random":
        bad.write_bytes(bytes(range(256)) * 4)
    else:
        torch.save(torch.zeros(3), bad)
    for key in ("ckpt_path", "init_from"):
        with pytest.raises(ConfigError) as err:
            read_checkpoint(bad, key)
        assert f"{key}={bad}" in str(err.value)
    with pytest.raises(ConfigError, match="ckpt_path="):
        load_classifier(bad)


def test_eval_of_a_truncated_checkpoint_is_one_paragraph(tmp_path):
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(_checkpoint(tmp_path).read_bytes()[:100])
    code, text = drive("eval", f"ckpt_path={bad}", log_dir=tmp_path / "out")
    assert_user_error(code, text, f"ckpt_path={bad}", "truncated")
    assert run_dirs(tmp_path / "out") == []


def test_init_from_another_network_says_how_many_tensors_match_and_stops(tmp_path):
    other = _checkpoint(tmp_path, "inception")
    net = create_model("sequential", in_channels=1, num_classes=7, image_size=48)
    with pytest.raises(ConfigError, match=r"init_from=.* \d+ of \d+ tensors match.*init_from_strict=false"):
        load_pretrained_weights(net, str(other), num_classes=7)
    # the same network with a new class count: only the head differs, which a warm start expects
    load_pretrained_weights(net, str(_checkpoint(tmp_path, "sequential", num_classes=8)), num_classes=7)


def test_init_from_strict_false_loads_what_fits(tmp_path, caplog):
    source = create_model("sequential", in_channels=1, num_classes=7, image_size=48)
    path = tmp_path / "partial.ckpt"
    state = {f"net.{k}": v for i, (k, v) in enumerate(source.state_dict().items()) if i % 2 == 0}
    torch.save({"state_dict": state}, path)
    net = create_model("sequential", in_channels=1, num_classes=7, image_size=48)
    with pytest.raises(ConfigError, match="init_from_strict=false"):
        load_pretrained_weights(net, str(path), num_classes=7)
    load_pretrained_weights(net, str(path), num_classes=7, strict=False)
    assert any(r.levelname == "WARNING" and "init_from" in r.getMessage() for r in caplog.records)


def test_resuming_from_a_checkpoint_of_another_network_is_a_short_error(tmp_path):
    ckpt = torch.load(_checkpoint(tmp_path, "inception"), weights_only=False)
    module = torch.nn.Module()
    module.net = create_model("sequential", in_channels=1, num_classes=7, image_size=48)
    with pytest.raises(ConfigError) as err:
        check_resume_checkpoint(ckpt, module, "other.ckpt", "sequential")
    message = str(err.value)
    assert "tensors match" in message and "model=sequential" in message
    assert len(message) < 600  # a count and three examples, not Lightning's 48 lines of key lists


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_asked_for_without_a_gpu(train_cfg):
    from fer_lightning.runtime.device import resolve_device

    with pytest.raises(ConfigError, match="device=cuda: no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"trainer\.accelerator=gpu: no CUDA GPU.*trainer=cpu"):
        build_trainer(train_cfg("trainer=gpu", fast=False))


def test_non_finite_loss_says_no_checkpoint_exists_when_none_does(train_cfg):
    from fer_lightning.train import train

    cfg = train_cfg(
        "+callbacks.poison._target_=fault_injection.PoisonWeights",
        "+callbacks.poison.step=0",
        "callbacks.model_checkpoint=null",  # the divergence is found at the epoch's end: no checkpoint by then
        "callbacks.figures=null",
        "test=false",
    )
    with pytest.raises(TrainingDivergedError) as err:
        train(cfg)
    message = str(err.value)
    assert "non-finite training loss at epoch 0" in message
    assert "no checkpoint was written before it" in message and "is kept" not in message


def test_report_sort_by_an_unknown_column_lists_the_columns(tmp_path):
    from fer_lightning.reporting.report_files import write_report
    from fer_lightning.runtime.jsonio import write_json

    write_json(tmp_path / "run" / "metrics.json", {"status": "completed", "metrics": {}})
    (tmp_path / "run" / "config.yaml").write_text("seed: 1\n")
    with pytest.raises(ConfigError, match=r"sort_by=speed: no such column; allowed: run, status"):
        write_report(tmp_path, sort_by="speed")


def test_raw_bytes_in_a_message_are_escaped_and_the_paragraph_is_bounded():
    raw = "bad row: " + "".join(map(chr, range(32))) + "\x00\x1b[31m" * 200
    text = one_paragraph(raw)
    assert all(ch.isprintable() for ch in text)
    assert "\\x1b" in text and "\\x00" in text
    assert len(text) < 1300
    assert printable("a\x07b") == "a\\x07b"


# ---- property test: generated mistakes, driven through the entry point ----

TYPED_KEYS = {  # key -> a generator of wrongly typed values for it
    "test": "bool",
    "deterministic": "bool",
    "channels_last": "bool",
    "data.drop_blank": "bool",
    "seed": "int",
    "trainer.max_epochs": "int",
    "data.batch_size": "int",
    "optimizer.lr": "float",
    "module.label_smoothing": "float",
    "data.mean": "list",
}
OUT_OF_RANGE = {
    "optimizer.lr": st.floats(max_value=0, allow_nan=False, allow_infinity=False),
    "data.batch_size": st.integers(max_value=0),
    "trainer.max_epochs": st.integers(max_value=0),
    "model.dropout": st.one_of(
        st.floats(min_value=1, max_value=1e6), st.floats(max_value=-1e-3, min_value=-1e6)
    ),
}
ODD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12
)
NAME = st.from_regex(r"[a-z][a-z0-9_]{2,10}", fullmatch=True)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


mistakes = st.one_of(
    # a quoted string where a boolean, number or list is expected (odd characters included)
    st.builds(lambda key, text: f"{key}={_quoted(text)}", st.sampled_from(sorted(TYPED_KEYS)), ODD_TEXT),
    # a number where a boolean is expected, a float where an integer is
    st.builds(lambda key, n: f"{key}={n}", st.sampled_from(["test", "train", "compile"]), st.integers(2, 99)),
    st.builds(lambda key, x: f"{key}={x}", st.sampled_from(["seed", "data.batch_size"]), st.floats(0.1, 0.9)),
    # values out of range
    st.sampled_from(sorted(OUT_OF_RANGE)).flatmap(lambda k: OUT_OF_RANGE[k].map(lambda v: f"{k}={v!r}")),
    # unknown keys and unknown options
    NAME.map(lambda n: f"zz_{n}=1"),
    st.builds(lambda g, n: f"{g}=zz_{n}", st.sampled_from(["optimizer", "scheduler", "model", "data"]), NAME),
    # odd characters in an override that does not parse
    ODD_TEXT.map(lambda t: f"seed=x{t}"),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(override=mistakes)
def test_generated_mistakes_never_start_a_run(tmp_path_factory, monkeypatch, override):
    log_dir = tmp_path_factory.mktemp("prop")

    def no_run(cfg):
        raise AssertionError(f"{override} passed validation and a run started")

    monkeypatch.setattr(train_main, "train", no_run)
    code, text = drive("train", override, log_dir=log_dir)
    assert_user_error(code, text)
    assert run_dirs(log_dir) == []


def test_a_fer2013_csv_without_usage_says_it_is_all_training(tmp_path):
    from fer_lightning.data.formats import load_dataset

    row = " ".join(["7"] * 2304)
    (tmp_path / "fer2013.csv").write_text(f"emotion,pixels\n3,{row}\n4,{row}\n")
    with pytest.warns(UserWarning, match="no Usage column, so every row is training data"):
        dataset = load_dataset("fer2013", tmp_path, image_size=48, channels=1)
    assert list(dataset.splits) == ["train"]


def test_a_sweep_is_refused_where_numbered_trials_exist(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "metrics.json").write_text('{"status": "completed"}')
    monkeypatch.setattr(train_main, "train", lambda cfg: pytest.fail("a trial started"))
    code, text = drive(
        "train", "--multirun", "seed=1,2", f"hydra.sweep.dir={sweep}", log_dir=tmp_path / "out"
    )
    assert_user_error(code, text, "already holds trials", "hydra.sweep.dir")
    assert sorted(p.name for p in sweep.rglob("*")) == ["0", "metrics.json"]


def test_random_bytes_as_the_csv_print_no_raw_bytes(tmp_path):
    (tmp_path / "fer2013.csv").write_bytes(bytes(range(256)) * 8)
    code, text = drive("inspect", "data=fer2013", f"data.root={tmp_path}", log_dir=tmp_path / "out")
    assert_user_error(code, text, "fer2013.csv")
    assert all(ch.isprintable() or ch == "\n" for ch in text), repr(text)
