"""Seconds per epoch of a recipe on this machine from a few timed training steps on its real data.

Run by `reproduce` for the recipes too heavy to train on a CPU:
`python -m fer_lightning.reproduce.probe steps=12 out=<file.json> experiment=<name> data.root=<dir> ...`.
"""

from __future__ import annotations

import sys
import tempfile

from fer_lightning.runtime.jsonio import write_json


def probe(overrides: list[str], steps: int) -> dict:
    """Compose the train config with `overrides`, time `steps` Lightning training steps, extrapolate to an epoch."""
    from fer_lightning.bench.train_loop import measure_train_loop
    from fer_lightning.build import build_datamodule, build_module, build_net
    from fer_lightning.notebook_utils import compose_config
    from fer_lightning.runtime.precision import resolve_precision

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", overrides, run_dir=tmp)
        accelerator = str(cfg.trainer.get("accelerator", "auto"))
        precision = resolve_precision(cfg.trainer.get("precision", "auto"), accelerator)
        datamodule = build_datamodule(cfg)
        datamodule.setup()
        module = build_module(cfg, datamodule, build_net(cfg))
        kwargs = {
            "accelerator": "cpu" if accelerator == "auto" else accelerator,
            "devices": 1,
            "precision": precision,
        }
        ips = measure_train_loop(kwargs, module, datamodule, steps=steps, warmup=2)
        n_train = len(datamodule.splits["train"])
    return {
        "img_per_s": ips,
        "train_images": n_train,
        "sec_per_epoch": n_train / ips,
        "steps": steps,
        "batch_size": int(cfg.data.batch_size),
        "precision": precision,
        "overrides": overrides,
    }


def main(argv: list[str]) -> None:
    """Parse `steps=`, `out=` and pass every other argument as a config override."""
    steps, out, overrides = 12, None, []
    for arg in argv:
        if arg.startswith("steps="):
            steps = int(arg.split("=", 1)[1])
        elif arg.startswith("out="):
            out = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    result = probe(overrides, steps)
    if out:
        write_json(out, result)
    print(result)


if __name__ == "__main__":
    main(sys.argv[1:])
