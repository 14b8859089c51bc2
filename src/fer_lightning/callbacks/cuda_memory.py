"""Per-epoch CUDA memory of a training, written to `cuda_memory.json`, to see whether memory grows over epochs."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from fer_lightning.runtime.jsonio import write_json

MIB = 2**20


class CudaMemoryLog(pl.Callback):
    """After each training epoch, record allocated, peak and reserved CUDA memory (MiB); nothing off the GPU.

    The allocator's counters are host-side, so reading them costs no device synchronisation.
    """

    def __init__(self, output_dir: str, filename: str = "cuda_memory.json") -> None:
        self.path = Path(output_dir) / filename
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Append this epoch's memory figures and rewrite the file."""
        device = pl_module.device
        if device.type != "cuda":
            return
        self.rows.append(
            {
                "epoch": trainer.current_epoch,
                "allocated_mib": torch.cuda.memory_allocated(device) / MIB,
                "max_allocated_mib": torch.cuda.max_memory_allocated(device) / MIB,
                "reserved_mib": torch.cuda.memory_reserved(device) / MIB,
            }
        )
        if trainer.is_global_zero:
            write_json(self.path, self.rows)
