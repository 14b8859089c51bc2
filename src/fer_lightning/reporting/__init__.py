"""The results table of a sweep or a folder of runs."""
