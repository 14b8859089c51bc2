"""The model zoo: every network is registered by name and built through `create_model`.

Importing a family module runs its `@register_model` decorators, so the import lines below are the whole zoo:
adding a model is one new file plus one line here.
"""

from fer_lightning.models import fast_resnet, inception, resnet, sequential, timm_backbone, vgg  # noqa: F401
from fer_lightning.models.paper import athanasopoulos, dibenedetto, dinh, kahar, seed003  # noqa: F401
from fer_lightning.models.registry import ModelInfo, create_model, get_model_info, list_models, register_model

__all__ = ["ModelInfo", "create_model", "get_model_info", "list_models", "register_model"]
