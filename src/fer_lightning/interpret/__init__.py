"""Looking into a trained network: filters, activation maps, occlusion sensitivity and Grad-CAM."""

from fer_lightning.interpret.activations import activations_figure, layer_activations
from fer_lightning.interpret.filters import all_filter_figures, filter_images, filters_figure
from fer_lightning.interpret.gradcam import grad_cam, gradcam_figure
from fer_lightning.interpret.layer_lookup import conv_layers, find_layer, last_conv_layer
from fer_lightning.interpret.occlusion import occlusion_figure, occlusion_sensitivity

__all__ = [
    "activations_figure",
    "all_filter_figures",
    "conv_layers",
    "filter_images",
    "filters_figure",
    "find_layer",
    "grad_cam",
    "gradcam_figure",
    "last_conv_layer",
    "layer_activations",
    "occlusion_figure",
    "occlusion_sensitivity",
]
