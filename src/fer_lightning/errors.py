"""Exceptions a user can cause, each carrying a message that says what to change."""

from __future__ import annotations


class FERError(Exception):
    """Base class of errors caused by user input; entry points print these without a traceback."""


class ConfigError(FERError, ValueError):
    """A config value is invalid: the message names the key and the allowed values."""


class DataFormatError(FERError, ValueError):
    """A dataset file is missing or malformed: the message names the file and the row or line."""


class MissingDataError(DataFormatError, FileNotFoundError):
    """An expected dataset file is absent: the message names the path and how to obtain it."""


class PretrainedWeightsError(FERError):
    """Pretrained weights could not be downloaded and are not in the torch hub cache."""


class TrainingDivergedError(FERError):
    """The training loss became NaN or infinite: the message says where, and which checkpoint survives."""


class RunDirTakenError(ConfigError):
    """The run dir already holds another run's results, which are never overwritten."""
