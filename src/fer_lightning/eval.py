"""Evaluate a checkpoint: `python -m fer_lightning.eval ckpt_path=... [data=...] [split=test] [tta=none|flip|tencrop]`.

An ensemble: `ckpt_path=[a.ckpt,b.ckpt,...]` averages the members' softmax outputs; metrics.json then also holds
each member's own accuracy and macro F1.

The run dir gets metrics.json, per_class.csv, confusion_matrix.png, misclassified.png and the same figures as
TensorBoard images under tensorboard/.
"""

from __future__ import annotations

import csv
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from fer_lightning.checkpoint_run import CheckpointRun
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.jsonio import atomic_path
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.task import run_task


def eval_data_config(cfg: DictConfig, train_cfg: DictConfig) -> DictConfig:
    """The checkpoint's own data, or `data=...` given here made to feed the model's input shape and classes."""
    if not cfg.get("data"):
        return train_cfg.data
    data_cfg = cfg.data.copy()
    with open_dict(data_cfg):
        # Cross-dataset evaluation: the other dataset is decoded at the model's input size and channels, and
        # its labels are read in the model's class space (an 8-class source drops contempt for a 7-class model).
        data_cfg.image_size = train_cfg.data.image_size
        data_cfg.channels = train_cfg.data.channels
        data_cfg.num_classes = train_cfg.data.num_classes
        data_cfg.mean = train_cfg.data.mean
        data_cfg.std = train_cfg.data.std
    return data_cfg


def write_per_class_csv(path: Path, report: dict) -> None:
    """One row per class: precision, recall, F1 and support."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class", "precision", "recall", "f1", "support"])
        for name, row in report["per_class"].items():
            writer.writerow(
                [name, f"{row['precision']:.6f}", f"{row['recall']:.6f}", f"{row['f1']:.6f}", row["support"]]
            )


def write_figures(
    output_dir: Path, report: dict, preds, class_names: list[str], title: str
) -> dict[str, Path]:
    """Confusion matrix and misclassified images as PNGs and as TensorBoard images in `output_dir/tensorboard`."""
    from torch.utils.tensorboard import SummaryWriter

    from fer_lightning.evaluation.figures import confusion_matrix_figure, misclassified_figure
    from fer_lightning.plotting import figure_to_tensor, save_figure

    probs = preds.logits.float().softmax(dim=1)
    figures = {
        "confusion_matrix": confusion_matrix_figure(report["confusion_matrix"], class_names, title=title),
        "misclassified": misclassified_figure(
            preds.images, preds.labels, probs.argmax(dim=1), probs, class_names, title=title
        ),
    }
    written = {}
    writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"))
    try:
        for name, fig in figures.items():
            written[name] = save_figure(fig, output_dir / f"{name}.png")
            writer.add_image(f"{report['split']}/{name}", figure_to_tensor(fig), global_step=0)
        writer.add_scalar(f"{report['split']}/accuracy", report["accuracy"], 0)
        writer.add_scalar(f"{report['split']}/macro_f1", report["macro_f1"], 0)
    finally:
        writer.close()
    return written


# What every member of an ensemble must share with the first: the input it reads and the classes it scores.
ENSEMBLE_INPUT_KEYS = ("image_size", "channels", "num_classes", "mean", "std")


def check_ensemble_members(paths: list[str], members: list[tuple]) -> None:
    """A ConfigError naming the member checkpoint and the key when a member reads other input or other classes
    than the first (members are (classifier, run config) pairs)."""
    first_module, first_cfg = members[0]
    for path, (module, train_cfg) in zip(paths[1:], members[1:], strict=True):
        for key in ENSEMBLE_INPUT_KEYS:
            mine, theirs = train_cfg.data.get(key), first_cfg.data.get(key)
            if mine != theirs:
                raise ConfigError(
                    f"ckpt_path: ensemble member {path} was trained with data.{key}={mine}, but {paths[0]} with "
                    f"{theirs}; members must read the same input (data.{', data.'.join(ENSEMBLE_INPUT_KEYS)})"
                )
        if list(module.class_names) != list(first_module.class_names):
            raise ConfigError(
                f"ckpt_path: ensemble member {path} scores the classes {list(module.class_names)}, but "
                f"{paths[0]} scores {list(first_module.class_names)}; members must share their class names"
            )


def evaluate(cfg: DictConfig) -> tuple[dict, dict]:
    """Evaluate `cfg.ckpt_path` (one checkpoint, or a list whose softmax outputs are averaged) on a split; write
    metrics, per-class CSV and figures into the run dir."""
    # Imported here: torch takes seconds to import, and `--help` or a config error need none of it.
    from fer_lightning.build import instantiate
    from fer_lightning.evaluation.metrics import classification_report
    from fer_lightning.evaluation.predictions import average_probabilities, predict_split

    run = CheckpointRun.start(cfg, "eval", "ckpt_path=outputs/runs/<run>/checkpoints/last.ckpt")
    output_dir = run.output_dir
    paths = run.ckpt_paths
    members = [run.load_classifier(path) for path in paths]
    check_ensemble_members(paths, members)
    module, train_cfg = members[0]
    datamodule = instantiate(eval_data_config(cfg, train_cfg), augment=None, _convert_="partial")
    datamodule.setup()
    split = cfg.get("split", "test")
    if split not in datamodule.splits:
        raise ConfigError(
            f"split={split}: {datamodule.source} has no labelled {split} split (it has: {', '.join(datamodule.splits)}); "
            "use split=val"
        )
    tta = cfg.get("tta", "none")
    member_preds = [predict_split(m.net, datamodule, split, tta=tta, device=run.device()) for m, _ in members]
    preds = member_preds[0] if len(members) == 1 else average_probabilities(member_preds)
    names = [member_cfg.model.get("name") for _, member_cfg in members]
    report = classification_report(preds.logits, preds.labels, datamodule.class_names)
    report.update(
        {
            "ckpt_path": paths[0] if len(paths) == 1 else paths,
            "split": split,
            "tta": tta,
            "data": datamodule.source,
            "model": names[0] if len(names) == 1 else f"ensemble of {len(names)}: {' + '.join(names)}",
        }
    )
    if len(members) > 1:
        # each member alone, so the record shows what averaging them adds
        report["members"] = [
            {
                "ckpt_path": path,
                "model": name,
                **_headline(classification_report(p.logits, p.labels, datamodule.class_names)),
            }
            for path, name, p in zip(paths, names, member_preds, strict=True)
        ]
    write_per_class_csv(output_dir / "per_class.csv", report)
    title = f"{report['model']} on {datamodule.source}/{split} (tta={report['tta']}): accuracy {report['accuracy']:.3f}"
    figures = write_figures(output_dir, report, preds, list(datamodule.class_names), title)
    members_line = "".join(
        f"\n  member {m['ckpt_path']}: accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}"
        for m in report.get("members", [])
    )
    run.finish(
        "metrics.json",
        report,
        f"{report['model']} on {datamodule.source}/{split}: accuracy {report['accuracy']:.4f}, "
        f"macro F1 {report['macro_f1']:.4f} (n={report['n']}) -> {output_dir}{members_line}",
    )
    flat = _headline(report)
    objects = {"report": report, "predictions": preds, "datamodule": datamodule, "module": module}
    return flat, {**objects, "member_predictions": member_preds, "output_dir": output_dir, "figures": figures}


def _headline(report: dict) -> dict:
    """Accuracy and macro F1 of a classification report."""
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="eval")
def hydra_main(cfg: DictConfig) -> float:
    """Hydra entry point of the evaluation."""
    return run_task(evaluate, cfg)


def main() -> None:
    """Command-line entry point (`fer-eval`): a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
