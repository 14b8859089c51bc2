"""Lightning callbacks that leave a run's record on disk."""

from fer_lightning.callbacks.figures import FigureLogger
from fer_lightning.callbacks.run_record import RunRecorder
from fer_lightning.callbacks.seeding import EpochSeed

__all__ = ["EpochSeed", "FigureLogger", "RunRecorder"]
