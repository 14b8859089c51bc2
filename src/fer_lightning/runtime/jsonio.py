"""JSON records written atomically (light on imports: used by entry points before torch loads)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def write_json(path: Path, payload) -> None:
    """Write JSON atomically (a reader never sees half a file), with NaN written as null."""

    def clean(obj):
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [clean(v) for v in obj]
        return obj

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(payload), indent=2, sort_keys=False))
    tmp.replace(path)
