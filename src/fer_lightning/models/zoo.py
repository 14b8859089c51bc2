"""Importing this module registers every network of the zoo (`registry.list_models` does it on first use)."""

from fer_lightning.models import fast_resnet, inception, resnet, sequential, timm_backbone, vgg  # noqa: F401
from fer_lightning.models.paper import athanasopoulos, dibenedetto, dinh, kahar, seed003  # noqa: F401
