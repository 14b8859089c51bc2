"""Datasets: on-disk format readers, the in-memory DataModule and the synthetic faces."""
