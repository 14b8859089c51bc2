"""Throughput benchmark: model step, full training loop, augmentation, and a seed-style reference loop."""
