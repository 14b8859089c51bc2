"""Runs the four measurements of the benchmark in one process and reports img/s and the ratios."""

from __future__ import annotations

import json
import logging
import statistics

import hydra
import torch
from omegaconf import DictConfig

from fer_lightning.augment.throughput import measure_augment
from fer_lightning.bench.model_step import measure_model_step
from fer_lightning.bench.reference import measure_reference
from fer_lightning.bench.train_loop import measure_train_loop
from fer_lightning.build import build_datamodule, build_module, build_net, instantiate
from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.device import accelerator_device
from fer_lightning.runtime.precision import resolve_precision
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes


def run_bench(cfg: DictConfig) -> dict:
    """Measure (a) model step, (b) Lightning loop, (c) augmentation, (d) seed-style reference; return img/s and ratios."""
    steps, warmup = int(cfg.steps), int(cfg.warmup)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    device = accelerator_device(accelerator)
    precision = resolve_precision(cfg.trainer.get("precision", "auto"), accelerator)
    batch = int(cfg.data.batch_size)
    torch.manual_seed(cfg.seed)

    datamodule = build_datamodule(cfg)
    datamodule.setup()
    shape = (datamodule.channels, datamodule.image_size, datamodule.image_size)

    # (a) and (b) alternate and the medians are reported: on a small shared machine one measurement of
    # either can be off by 10%, which would swamp the ratio being measured.
    steps_a, loops_b = [], []
    for _ in range(int(cfg.repeats)):
        net = build_net(cfg)
        steps_a.append(
            measure_model_step(
                net,
                instantiate(cfg.optimizer)(params=net.parameters()),
                batch_size=batch,
                input_shape=shape,
                num_classes=datamodule.num_classes,
                precision=precision,
                channels_last=bool(cfg.channels_last),
                device=device,
                steps=steps,
                warmup=warmup,
            )
        )
        module = build_module(cfg, datamodule, build_net(cfg))
        trainer_kwargs = {
            "accelerator": "gpu" if device.type == "cuda" else "cpu",
            "devices": 1,
            "precision": precision,
        }
        loops_b.append(measure_train_loop(trainer_kwargs, module, datamodule, steps=steps, warmup=warmup))
    model_step, train_loop = statistics.median(steps_a), statistics.median(loops_b)

    augment = (
        measure_augment(
            datamodule.augment,
            batch_size=batch,
            image_size=shape[1],
            channels=shape[0],
            device=device,
            seconds=float(cfg.augment_seconds),
        )
        if datamodule.augment is not None
        else float("inf")
    )

    ref_net = build_net(cfg)
    train_split = datamodule.splits["train"]
    reference = measure_reference(
        ref_net,
        instantiate(cfg.optimizer)(params=ref_net.parameters()),
        train_split.images,
        train_split.labels,
        batch_size=batch,
        steps=steps,
        warmup=warmup,
        num_workers=int(cfg.reference_workers),
        device=device,
    )
    return {
        "model_step": model_step,
        "train_loop": train_loop,
        "augment": augment,
        "reference": reference,
        "loop_over_step": train_loop / model_step,
        "loop_over_reference": train_loop / reference,
        "setup": {
            "model": cfg.model.get("name"),
            "data": datamodule.source,
            "device": str(device),
            "precision": precision,
            "channels_last": bool(cfg.channels_last),
            "batch_size": batch,
            "steps": steps,
            "threads": torch.get_num_threads(),
            "repeats": int(cfg.repeats),
            "model_step_runs": steps_a,
            "train_loop_runs": loops_b,
        },
    }


def format_text(result: dict) -> str:
    """Human-readable lines: img/s of each measurement and the two ratios."""
    s = result["setup"]
    lines = [
        f"model={s['model']} data={s['data']} device={s['device']} precision={s['precision']} "
        f"channels_last={s['channels_last']} batch={s['batch_size']} steps={s['steps']}x{s['repeats']} "
        f"threads={s['threads']}",
        f"(a) model step       {result['model_step']:10.1f} img/s",
        f"(b) train loop       {result['train_loop']:10.1f} img/s",
        f"(c) augmentation     {result['augment']:10.1f} img/s",
        f"(d) seed reference   {result['reference']:10.1f} img/s",
        f"b/a loop / step      {result['loop_over_step']:10.3f}",
        f"b/d loop / reference {result['loop_over_reference']:10.3f}",
    ]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="bench")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra entry point: prints a table, or one JSON object with format=json."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    result = exit_on_error(run_bench, cfg)
    if cfg.format == "json":
        print(json.dumps({k: v for k, v in result.items()}))
    else:
        print(format_text(result))


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)
