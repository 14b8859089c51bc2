"""Look into a trained network: `python -m fer_lightning.visualize ckpt_path=... kind=filters|activations|occlusion|gradcam`.

The image is `image=<file>` (resized to the model's input) or `index=<i>` of the checkpoint's data `split`.
PNGs and visualize.json go into outputs/visualize/<timestamp>/.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from fer_lightning.checkpoint_run import CheckpointRun
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import run_cli
from fer_lightning.runtime.resolvers import CONF_DIR  # also registers ${fer.*} before Hydra composes
from fer_lightning.runtime.task import run_task

if TYPE_CHECKING:
    import torch

    from fer_lightning.inference.faces import ModelInput

KINDS = ("filters", "activations", "occlusion", "gradcam")


def file_stem(index: int, layer: str) -> str:
    """A file-name-safe `<index>_<layer name>` (dotted module names keep their dots)."""
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', layer)}"


def load_image(
    cfg: DictConfig, run_cfg: DictConfig, model_input: ModelInput
) -> tuple[torch.Tensor, int | None, str]:
    """The uint8 [1, C, H, W] image to look at, its label when it comes from the data, and where it came from."""
    from fer_lightning.build import instantiate
    from fer_lightning.inference.faces import read_image

    if cfg.get("image"):
        image = model_input.prepare(read_image(cfg.image, key="image"))
        return image[None], None, str(cfg.image)
    datamodule = instantiate(run_cfg.data, augment=None, _convert_="partial")
    datamodule.setup()
    split = cfg.get("split", "test")
    if split not in datamodule.splits:
        raise ConfigError(
            f"split={split}: {datamodule.source} has no {split} split; allowed: {', '.join(datamodule.splits)}"
        )
    data = datamodule.splits[split]
    index = int(cfg.get("index", 0))
    if not 0 <= index < len(data):
        raise ConfigError(
            f"index={index}: the {split} split of {datamodule.source} has {len(data)} images; allowed: 0..{len(data) - 1}"
        )
    return (
        data.gather(data.labels.new_tensor([index])).cpu(),  # one row, even from a memory-mapped split
        int(data.labels[index]),
        f"{datamodule.source}/{split}[{index}]",
    )


def visualize(cfg: DictConfig) -> tuple[dict, dict]:
    """Write the figures of `cfg.kind` for `cfg.ckpt_path` into the run dir, plus visualize.json."""
    # Imported here: torch takes seconds to import, and `--help` or a config error need none of it.
    import torch

    from fer_lightning.inference.faces import ModelInput
    from fer_lightning.interpret import (
        activations_figure,
        all_filter_figures,
        grad_cam,
        gradcam_figure,
        layer_activations,
        occlusion_figure,
        occlusion_sensitivity,
    )
    from fer_lightning.plotting import save_figure

    run = CheckpointRun.start(cfg, "visualize", "ckpt_path=<.ckpt> kind=gradcam")
    output_dir = run.output_dir
    kind = cfg.get("kind")
    if kind not in KINDS:
        given = f"kind={kind}" if kind else "kind is required"
        raise ConfigError(f"{given}; allowed: kind={'|'.join(KINDS)}")
    module, run_cfg = run.load_classifier()
    device = run.device()
    net = module.net.to(device).eval()
    names = list(module.class_names)
    max_channels = int(cfg.get("max_channels", 64))
    record: dict = {
        "kind": kind,
        "ckpt_path": str(cfg.ckpt_path),
        "model": run_cfg.model.get("name"),
        "files": [],
    }

    def save(fig, name: str) -> None:
        record["files"].append(str(save_figure(fig, output_dir / f"{name}.png")))

    if kind == "filters":
        for i, (layer, fig) in enumerate(all_filter_figures(net, max_filters=max_channels)):
            save(fig, f"filters_{file_stem(i, layer)}")
    else:
        model_input = ModelInput.from_config(run_cfg.data)
        image, label, source = load_image(cfg, run_cfg, model_input)
        x = model_input.normalise(image).to(device)
        with torch.no_grad():
            probs = net(x).float().softmax(dim=1)[0].cpu()
        pred = int(probs.argmax())
        record.update(
            {
                "image": source,
                "label": names[label] if label is not None else None,
                "prediction": names[pred],
                "probs": dict(zip(names, probs.tolist(), strict=True)),
            }
        )
        layer = cfg.get("layer") or None
        if kind == "activations":
            maps = layer_activations(net, x, [layer] if layer else None)
            for i, (name, m) in enumerate(maps.items()):
                save(
                    activations_figure(name, m, image[0], max_maps=max_channels),
                    f"activations_{file_stem(i, name)}",
                )
        elif kind == "occlusion":
            occ = cfg.get("occlusion") or {}
            size = model_input.image_size
            patch = int(occ.get("patch") or max(1, size // 6))
            stride = int(occ.get("stride") or max(1, patch // 2))
            heat, base = occlusion_sensitivity(
                net, x, patch=patch, stride=stride, fill=float(occ.get("fill", 0.0))
            )
            save(occlusion_figure(image[0], heat, base, names, label, patch=patch), "occlusion")
            record.update({"patch": patch, "stride": stride})
        else:
            classes = [pred] + ([label] if label is not None else [])
            cams, probs, used = grad_cam(net, x, classes, layer=layer)
            save(gradcam_figure(image[0], cams, probs, names, label, layer=used), "gradcam")
            record["layer"] = used
    run.finish(
        "visualize.json",
        record,
        f"{kind} of {record['model']}: {len(record['files'])} figure(s) -> {output_dir}",
    )
    return {"figures": float(len(record["files"]))}, {"record": record, "output_dir": output_dir}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="visualize")
def hydra_main(cfg: DictConfig) -> float:
    """Hydra entry point of the visualisations."""
    return run_task(visualize, cfg)


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
