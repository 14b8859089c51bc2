"""Using a trained checkpoint: face detection and preprocessing, prediction on images and video, export."""

from fer_lightning.inference.faces import FaceDetector, ModelInput, expand_box, read_image
from fer_lightning.inference.predictor import Predictor

__all__ = ["FaceDetector", "ModelInput", "Predictor", "expand_box", "read_image"]
