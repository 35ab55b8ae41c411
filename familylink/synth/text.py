"""Vectorised string helpers that also accept empty arrays (``np.char`` does not)."""

from __future__ import annotations

import numpy as np


def zero_padded(values: np.ndarray, width: int, prefix: str = "") -> np.ndarray:
    """Non-negative integers as zero-padded strings with a prefix (object array)."""
    values = np.asarray(values)
    if values.size == 0:
        return np.empty(0, dtype=object)
    return np.char.add(prefix, np.char.zfill(values.astype(str), width)).astype(object)


def formatted(template: str, values: np.ndarray) -> np.ndarray:
    """``template % value`` for each value (object array)."""
    values = np.asarray(values)
    if values.size == 0:
        return np.empty(0, dtype=object)
    return np.char.mod(template, values).astype(object)


def joined(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of string arrays and constants (object array)."""
    arrays = [p for p in parts if not isinstance(p, str)]
    size = np.asarray(arrays[0]).size if arrays else 1
    out = np.full(size, "", dtype=object)
    for part in parts:
        out = out + (part if isinstance(part, str) else np.asarray(part, dtype=object))
    return out
