"""Evaluation: predictions over a split, classification metrics and the artifacts a report needs."""
