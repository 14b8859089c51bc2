"""LightningModules: the classifier that wraps any network from the model zoo."""

from fer_lightning.module.classifier import FERClassifier

__all__ = ["FERClassifier"]
