"""Experiments compose with any option: a group chosen on the command line comes with its own values only.

An experiment picks options (`override /scheduler: plateau`) and sets values on top of them
(`scheduler.scheduler.mode: min`). Hydra merges those values into whatever option ends up chosen, so
`experiment=dinh_gray scheduler=cosine` would hand ReduceLROnPlateau's `mode` to CosineAnnealingLR. Here, for
each of SWAPPABLE given on the command line next to an experiment, that group is taken from the config composed
without the experiment: the new option's own values plus the command line's `<group>.*` values.

Groups outside SWAPPABLE (trainer, callbacks, logger) keep the experiment's values: `experiment=dinh_gray
trainer=gpu` still trains its 30 epochs.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from fer_lightning.runtime.schema import job_context

SWAPPABLE = ("data", "augment", "model", "optimizer", "scheduler")


def swapped_groups(overrides: list[str], choices: dict) -> list[str]:
    """The SWAPPABLE groups chosen on the command line, when an experiment is selected too."""
    if not choices.get("experiment"):
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.key_or_group for o in parsed if o.key_or_group in SWAPPABLE and not o.is_delete()]


def apply_group_swaps(cfg: DictConfig, config_name: str, overrides: list[str], choices: dict) -> list[str]:
    """Replace each swapped group of `cfg` by its composition without the experiment; returns the groups."""
    groups = swapped_groups(overrides, choices)
    if not groups:
        return []
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    without, deleted = [], []
    for text, o in zip(overrides, parsed, strict=True):
        key = o.key_or_group
        inside = key.split(".")[0] in groups and "." in key
        if key == "experiment":
            continue
        if "." in key and key.split(".")[0] in choices and not inside:
            # a value of a group that keeps the experiment's option (data.root next to augment=none): only the
            # swapped groups are taken from this composition, and without the experiment the key may not exist
            continue
        if inside and o.is_delete():
            deleted.append(key)  # the key may have been the experiment's only: deleted below if there
        elif inside and not o.is_add():
            # a key the experiment had added to the group (data.num_folds on data=synthetic) is added here
            without.append("++" + text.lstrip("+"))
        else:
            without.append(text)
    plain = compose(config_name=config_name, overrides=without)
    with read_write(cfg), open_dict(cfg), read_write(plain), open_dict(plain):
        for key in deleted:
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(plain, parent)
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
        for group in groups:
            cfg[group] = plain[group]
    return groups


def apply_swaps(config: DictConfig) -> list[str]:
    """`apply_group_swaps` for a run's config: with its hydra node (a single run, a test) or a sweep trial's."""
    context = job_context(config)
    return apply_group_swaps(config, *context) if context is not None else []
