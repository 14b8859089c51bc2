"""The model zoo: every network is registered by name and built through `create_model`."""

from fer_lightning.models.registry import ModelInfo, create_model, get_model_info, list_models, register_model

__all__ = ["ModelInfo", "create_model", "get_model_info", "list_models", "register_model"]
