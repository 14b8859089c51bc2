"""Browser demo: `python -m fer_lightning.demo ckpt_path=...` serves a Gradio page on 127.0.0.1.

Upload a photo or take one with the webcam: each face is boxed with its expression, and the class probabilities of
every face are listed. Faces are found and cropped as `predict` does (`detector=mtcnn | haar`, `margin`).
"""

from __future__ import annotations

import logging
import os

import hydra
from omegaconf import DictConfig, OmegaConf

from fer_lightning.checkpoint_run import require_checkpoint
from fer_lightning.errors import ConfigError
from fer_lightning.runtime.cli import exit_on_error, run_cli
from fer_lightning.runtime.resolvers import CONF_DIR

log = logging.getLogger("fer_lightning")


def build_demo(predictor):
    """The Gradio Blocks page around a `Predictor`: image in, annotated image, per-face label and probabilities out."""
    os.environ.setdefault(
        "GRADIO_ANALYTICS_ENABLED", "False"
    )  # no calls home from a machine that may be offline
    import cv2
    import gradio as gr

    from fer_lightning.inference.draw import annotate

    def classify(image_rgb):
        if image_rgb is None:
            return None, {}, "no image"
        bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        faces = predictor.predict_faces(bgr)
        annotated = cv2.cvtColor(annotate(bgr, faces), cv2.COLOR_BGR2RGB)
        if not faces:
            return annotated, {}, "no face found"
        lines = [
            f"face {i + 1}: {f['label']} ({f['confidence']:.0%}) — "
            + ", ".join(f"{name} {p:.2f}" for name, p in sorted(f["probs"].items(), key=lambda kv: -kv[1]))
            for i, f in enumerate(faces)
        ]
        return annotated, faces[0]["probs"], "\n".join(lines)

    with gr.Blocks(title="fer-lightning") as demo:
        gr.Markdown("## fer-lightning: facial expressions\nUpload a photo or use the webcam.")
        with gr.Row():
            image = gr.Image(sources=["upload", "webcam"], type="numpy", label="photo", elem_id="photo")
            result = gr.Image(type="numpy", label="faces", elem_id="faces")
        with gr.Row():
            probs = gr.Label(num_top_classes=len(predictor.class_names), label="first face", elem_id="probs")
            text = gr.Textbox(label="every face", lines=4, elem_id="summary")
        image.change(classify, inputs=image, outputs=[result, probs, text])
    return demo


def serve(cfg: DictConfig):
    """Load the checkpoint and serve the page on `cfg.host`:`cfg.port`; returns the running Gradio app when
    `cfg.block` is false (tests), else blocks until Ctrl-C."""
    from fer_lightning.inference.predictor import Predictor
    from fer_lightning.runtime.device import resolve_device

    require_checkpoint(cfg, "demo", "ckpt_path=<.ckpt>")
    if str(cfg.host) != "127.0.0.1" and not cfg.get("allow_remote"):
        raise ConfigError(
            f"host={cfg.host}: the demo serves on 127.0.0.1 only unless allow_remote=true (anyone who reaches "
            "the port can use the page)"
        )
    predictor = Predictor.from_checkpoint(
        cfg.ckpt_path,
        margin=float(cfg.margin),
        device=resolve_device(cfg.get("device")),
        detector=OmegaConf.to_container(cfg.detector, resolve=True),
    )
    demo = build_demo(predictor)
    log.info("demo of %s on http://%s:%s", cfg.ckpt_path, cfg.host, cfg.port or "<free port>")
    demo.launch(
        server_name=str(cfg.host),
        server_port=int(cfg.port) if cfg.port else None,
        prevent_thread_lock=not cfg.block,
        show_error=True,
    )
    return demo


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="demo")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra entry point of the demo."""
    exit_on_error(serve, cfg)


def main() -> None:
    """Command-line entry point: a user error is one paragraph and exit code 2."""
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
