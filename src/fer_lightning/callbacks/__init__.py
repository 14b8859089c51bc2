"""Lightning callbacks that leave a run's record on disk."""

from fer_lightning.callbacks.figures import FigureLogger
from fer_lightning.callbacks.run_record import RunRecorder

__all__ = ["FigureLogger", "RunRecorder"]
