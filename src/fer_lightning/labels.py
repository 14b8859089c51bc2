"""The canonical label space every dataset is mapped into (FER2013 order, plus contempt)."""

from __future__ import annotations

CANONICAL_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "contempt",
)
FER2013_CLASSES: tuple[str, ...] = CANONICAL_CLASSES[:7]

# Synonyms seen in the folder layouts that Kaggle and the dataset owners ship.
CLASS_ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "contempt": "contempt",
}


def class_names(num_classes: int) -> tuple[str, ...]:
    """Return the canonical class names for a 7- or 8-class problem."""
    if num_classes not in (7, 8):
        raise ValueError(f"num_classes must be 7 (FER2013 classes) or 8 (plus contempt), got {num_classes}")
    return CANONICAL_CLASSES[:num_classes]


def canonical_index(name: str) -> int:
    """Map a class name or common synonym (case-insensitive) to its canonical index."""
    key = name.strip().lower()
    if key not in CLASS_ALIASES:
        allowed = ", ".join(sorted(CLASS_ALIASES))
        raise KeyError(f"unknown expression class {name!r}; allowed names: {allowed}")
    return CANONICAL_CLASSES.index(CLASS_ALIASES[key])
