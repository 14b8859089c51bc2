"""Export a checkpoint: `python -m fer_lightning.export ckpt_path=... format=onnx|torchscript`.

Writes model.onnx (dynamic batch axis) or model.torchscript.pt and export.json (input shape, normalisation, class
names, parity) into outputs/export/<timestamp>/, after checking the exported logits against PyTorch's.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fer_lightning.checkpoint_run import CheckpointRun
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.task import run_task


def export(cfg: DictConfig) -> tuple[dict, dict]:
    """Export `cfg.ckpt_path` in `cfg.format`, check parity, and write export.json beside the model file."""
    run = CheckpointRun.start(cfg, "export", "ckpt_path=<.ckpt> format=onnx")
    # Imported here: torch takes seconds to import, and `--help` or a config error need none of it.
    from fer_lightning.inference.faces import ModelInput
    from fer_lightning.inference.model_export import DEFAULT_ATOL, FORMATS, export_model

    fmt = cfg.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt}; allowed: format={'|'.join(FORMATS)}")
    output_dir = run.output_dir
    module, run_cfg = run.load_classifier()
    model_input = ModelInput.from_config(run_cfg.data)
    result = export_model(
        module.net,
        model_input,
        fmt,
        output_dir,
        opset=int(cfg.get("opset", 17)),
        batch_size=int(cfg.get("batch_size", 8)),
        atol=float(cfg.get("atol", DEFAULT_ATOL)),
    )
    # What a deployment needs besides the weights: the input layout and normalisation, and the class order.
    record = {
        **result,
        "ckpt_path": str(cfg.ckpt_path),
        "model": run_cfg.model.get("name"),
        "input_name": "input",
        "output_name": "logits",
        "input_shape": ["batch", model_input.channels, model_input.image_size, model_input.image_size],
        "input_dtype": "float32",
        "normalisation": {"scale": 1 / 255, "mean": list(model_input.mean), "std": list(model_input.std)},
        "class_names": list(module.class_names),
    }
    run.finish(
        "export.json",
        record,
        f"{record['model']} -> {result['path']} ({result['bytes'] / 1e3:.1f} kB); max abs logit difference to "
        f"PyTorch {result['max_abs_diff']:.2e} (<= {result['atol']:g}) on a batch of {result['batch_size']}",
    )
    return {"max_abs_diff": result["max_abs_diff"]}, {"record": record, "output_dir": output_dir}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="export")
def hydra_main(cfg: DictConfig) -> float:
    """Hydra entry point of the export."""
    return run_task(export, cfg)


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
