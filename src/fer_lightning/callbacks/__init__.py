"""Lightning callbacks that leave a run's record on disk, and the weight averages (EMA, SWA)."""

from fer_lightning.callbacks.averaging import EMA, SWA
from fer_lightning.callbacks.checkpoints import BestAndLastCheckpoint
from fer_lightning.callbacks.figure_logger import FigureLogger
from fer_lightning.callbacks.progress import ProgressBar
from fer_lightning.callbacks.run_record import RunRecorder
from fer_lightning.callbacks.seeding import EpochSeed

__all__ = ["EMA", "SWA", "BestAndLastCheckpoint", "EpochSeed", "FigureLogger", "ProgressBar", "RunRecorder"]
