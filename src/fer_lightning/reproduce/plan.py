"""What `reproduce` will run: each recipe's run dir, its state (done / resumable / new) and the time it needs."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from fer_lightning.errors import ConfigError


@dataclass
class Recipe:
    """One seed-report recipe as the reproduce config lists it."""

    name: str
    seed: str
    claim: str
    claim_split: str
    epochs: int
    overrides: list[str] = field(default_factory=list)
    cpu_epochs: int | None = None
    sec_per_epoch: float | None = None
    gpu: bool = False

    @property
    def planned_epochs(self) -> int:
        """The epochs this plan trains: the report's length unless a CPU length is set."""
        return int(self.cpu_epochs or self.epochs)


def recipes_from_config(recipes: dict, gpu_recipes: dict | None, only: list[str] | None) -> list[Recipe]:
    """The recipes of the config, in order, narrowed to `only` (an unknown name is an error)."""
    out = [_recipe(name, spec, gpu=False) for name, spec in (recipes or {}).items()]
    out += [_recipe(name, spec, gpu=True) for name, spec in (gpu_recipes or {}).items()]
    if only:
        known = {r.name for r in out}
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(
                f"only={list(only)}: unknown recipe(s) {unknown}; allowed: {', '.join(sorted(known))}"
            )
        out = [r for r in out if r.name in only]
    return out


def _recipe(name: str, spec: dict, gpu: bool) -> Recipe:
    if "epochs" not in spec:
        raise ConfigError(f"recipes.{name}: 'epochs' is required (the report's training length)")
    return Recipe(
        name=name,
        seed=str(spec.get("seed", "-")),
        claim=str(spec.get("claim", "-")),
        claim_split=str(spec.get("claim_split", "-")),
        epochs=int(spec["epochs"]),
        overrides=[str(o) for o in spec.get("overrides") or []],
        cpu_epochs=spec.get("cpu_epochs"),
        sec_per_epoch=spec.get("sec_per_epoch"),
        gpu=gpu,
    )


def read_json(path: Path):
    """A JSON file's content, or None when it is absent or unreadable (a run killed before writing it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run_state(run_dir: Path) -> str:
    """'done' (metrics.json says completed), 'resume' (a last checkpoint exists), 'failed' or 'new'."""
    metrics = read_json(run_dir / "metrics.json")
    if metrics and metrics.get("status") == "completed":
        return "done"
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        return "resume"
    if metrics and metrics.get("status") == "failed":
        return "failed"
    return "new"


def epochs_done(run_dir: Path) -> list[dict]:
    """The epoch rows a run has written so far (empty for a new run)."""
    rows = read_json(run_dir / "epoch_metrics.json")
    return rows if isinstance(rows, list) else []


def remaining_seconds(recipe: Recipe, run_dir: Path) -> float | None:
    """Seconds still needed: remaining epochs times the run's own measured epoch time, else the estimate."""
    if recipe.gpu or run_state(run_dir) == "done":
        return 0.0
    rows = epochs_done(run_dir)
    measured = [r["seconds"] for r in rows if r.get("seconds")]
    # the median: one epoch slowed by another job on the machine should not move the estimate
    per_epoch = statistics.median(measured) if measured else recipe.sec_per_epoch
    if per_epoch is None:
        return None
    return max(recipe.planned_epochs - len(rows), 0) * float(per_epoch)


def format_plan(recipes: list[Recipe], out_dir: Path) -> str:
    """The plan as text: one line per recipe with its state, epochs and estimated minutes, then the total."""
    lines = [f"reproduce: {len(recipes)} recipes into {out_dir}"]
    total = 0.0
    for r in recipes:
        run_dir = out_dir / r.name
        if r.gpu:
            lines.append(f"  {r.name:<22} needs a GPU: CPU seconds per epoch probed only")
            continue
        state = run_state(run_dir)
        left = remaining_seconds(r, run_dir)
        total += left or 0.0
        length = f"{r.planned_epochs} epochs" + (
            f" (report: {r.epochs})" if r.planned_epochs != r.epochs else ""
        )
        eta = "unknown" if left is None else f"~{left / 60:.0f} min"
        done = len(epochs_done(run_dir))
        lines.append(f"  {r.name:<22} {state:<7} {done:>3}/{length:<22} {eta}")
    lines.append(
        f"estimated training time left: ~{total / 60:.0f} min on this machine (plus ~1 min per evaluation)"
    )
    return "\n".join(lines)
