"""fer-lightning: a Hydra + PyTorch Lightning research template for facial-expression recognition."""

__version__ = "0.1.0"
