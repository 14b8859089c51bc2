"""Typed configs: a value given on the command line must have the type of the value it replaces.

The schema of every group is its own option files: the type of each key is the type of its value there
(`detect: true` is a boolean, `data.batch_size: 128` an integer). Keys whose default is null carry their type in
NULL_DEFAULT_TYPES. The check composes the same config without the command line's key=value overrides and
compares, before any work: `detect=no` is then an error naming the key and the allowed values, not a truthy
string. The values an experiment file sets (`experiment=<name>`, the project's or a user's own) are held to the
same types: the reference is the config composed with the same options but without the experiment.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, ListConfig, OmegaConf

from fer_lightning.errors import ConfigError

log = logging.getLogger("fer_lightning")

# Keys that are null by default, so their option file shows no type.
NULL_DEFAULT_TYPES: dict[str, type] = {
    "ckpt_path": str,
    "init_from": str,
    "image": str,
    "layer": str,
    "max_frames": int,
    "model.dropout": float,
    "data.num_folds": int,
    "occlusion.patch": int,
    "occlusion.stride": int,
    "detector.cascade": str,
}

# Keys whose value is a mode name or a boolean (data.in_memory: auto | true | false).
MODE_OR_BOOL_KEYS = {"data.in_memory"}

# Keys that take one value or a list of such values, by entry config: eval averages a list of checkpoints
# (an ensemble); the other commands read one checkpoint, so a list there stays a type error.
ONE_OR_LIST_KEYS: dict[str, set[str]] = {"eval": {"ckpt_path"}}

_EXPECTED = {
    bool: "a boolean; allowed: true, false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list, e.g. [0.5]",
    dict: "a group of keys",
}


def _kind(value) -> type | None:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    if isinstance(value, list | ListConfig):
        return list
    if isinstance(value, dict | DictConfig):
        return dict
    return None


def _accepts(expected: type, value) -> bool:
    given = _kind(value)
    if value is None:
        return expected is not bool  # null switches a value off; a flag is true or false
    if expected is float:
        return given in (int, float)
    if expected is str:
        return given in (
            str,
            int,
            float,
        )  # a name or path that happens to be numeric (precision=16, devices=2)
    return given is expected


def expected_type(baseline: DictConfig, key: str) -> type | None:
    """The type of `key` in the config composed without command-line values, or None when it has none."""
    if key in NULL_DEFAULT_TYPES:
        return NULL_DEFAULT_TYPES[key]
    try:
        value = OmegaConf.select(baseline, key, throw_on_resolution_failure=False, throw_on_missing=False)
    except Exception:  # an interpolation into the hydra node, unresolvable outside a run
        return None
    return _kind(value)


def check_value(key: str, value, expected: type | None, shown: str) -> None:
    """Raise a ConfigError naming the key and the expected type when `value` does not fit."""
    if (
        expected is None
        or _accepts(expected, value)
        or (key in MODE_OR_BOOL_KEYS and isinstance(value, bool))
    ):
        return
    hint = f" (use {key}=null to switch it off)" if expected is dict else ""
    raise ConfigError(f"{key}={shown}: expected {_EXPECTED[expected]}{hint}")


def value_overrides(overrides: list[str], choices: dict) -> tuple[list[str], list]:
    """Split command-line overrides into group choices (kept for the baseline) and parsed key=value ones."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    keep, values = [], []
    for text, override in zip(overrides, parsed, strict=True):
        key = override.key_or_group
        is_group = key in choices or (override.package is None and key.split("/")[0] in choices)
        if is_group or key.startswith("hydra") or override.is_delete() or override.is_sweep_override():
            keep.append(text)
        elif override.is_add():
            keep.append(text)  # a new key (+callbacks.x=...) has nothing to be compared with
        else:
            values.append(override)
    return keep, values


def check_override_types(config: DictConfig, config_name: str, overrides: list[str], choices: dict) -> None:
    """Compare each key=value override with the type its key has without it; the first misfit is an error."""
    from hydra import compose

    keep, values = value_overrides(overrides, choices)
    if not values:
        return
    baseline = compose(config_name=config_name, overrides=keep)
    for override in values:
        key = override.key_or_group
        value = OmegaConf.select(config, key, throw_on_resolution_failure=False, throw_on_missing=False)
        shown = override.input_line.partition("=")[2]
        items = (
            value
            if key in ONE_OR_LIST_KEYS.get(config_name, ()) and isinstance(value, ListConfig)
            else [value]
        )
        for item in items:
            check_value(key, item, expected_type(baseline, key), shown)


def _leaves(node, prefix: str = ""):
    """(dotted key, value) of every leaf of a config, interpolations left unresolved."""
    for key in node.keys() if isinstance(node, DictConfig) else []:
        path = f"{prefix}{key}"
        if OmegaConf.is_interpolation(node, key) or OmegaConf.is_missing(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value


def check_experiment_types(config: DictConfig, config_name: str, overrides: list[str], choices: dict) -> None:
    """Compare every value of the composed run with its type in the same options composed without the
    experiment; a misfit is an error naming the experiment file's key (a command-line value is checked first)."""
    experiment = choices.get("experiment")
    if not experiment:
        return
    from hydra import compose

    keep, _ = value_overrides(overrides, choices)
    keep = [o for o in keep if o.lstrip("+~").partition("=")[0] != "experiment"]
    mentioned = {o.lstrip("+~").partition("=")[0] for o in keep}
    # the options the experiment picked (override /scheduler: plateau), without the values it sets on them
    picks = [
        f"{group}={option}"
        for group, option in choices.items()
        if option is not None
        and group != "experiment"
        and not group.startswith("hydra")
        and group not in mentioned
    ]
    try:
        reference = compose(config_name=config_name, overrides=keep + picks)
    except Exception as err:
        # an option the experiment adds beyond the defaults list: nothing to compare with
        log.debug("experiment=%s: no reference config to check its values against (%s)", experiment, err)
        return
    for key, value in _leaves(config):
        if key.split(".")[0] == "hydra" or isinstance(value, str) and "${" in value:
            continue
        try:
            check_value(key, value, expected_type(reference, key), repr(value))
        except ConfigError as err:
            raise ConfigError(
                f"experiment={experiment} sets {err} (in the experiment's config file)"
            ) from None


def job_context(config: DictConfig | None = None) -> tuple[str, list[str], dict] | None:
    """(config name, command-line overrides, group choices) of a run: from `config.hydra` when given, else from
    the running job's HydraConfig; None outside Hydra (a config composed by a test and handed to train())."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    if config is not None and "hydra" in config:
        hydra = config.hydra
    elif HydraConfig.initialized() and GlobalHydra.instance().is_initialized():
        hydra = HydraConfig.get()
    else:
        return None
    choices = OmegaConf.to_container(hydra.runtime.choices)
    # a user's own config folder (hydra.searchpath=[file://...]) must be searched by every re-composition too
    searchpath = [o for o in hydra.overrides.hydra if str(o).lstrip("+").startswith("hydra.searchpath=")]
    return str(hydra.job.config_name), [*searchpath, *hydra.overrides.task], choices


def check_config_types(config: DictConfig) -> None:
    """The typed check of a run's config: `config` with its hydra node, or a job's task config."""
    context = job_context(config)
    if context is not None:
        check_override_types(config, *context)
        check_experiment_types(config, *context)
