"""Checks of array arguments shared by the modules of accord."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_last_axis(name: str, value: Any, length: int, what: str = "parameter") -> np.ndarray:
    """``value`` as a float array of shape ``(*, length)``, or a ValueError naming it."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0 or array.shape[-1] != length:
        raise ValueError(
            f"{name} must have shape (*, {length}), one column per {what}; "
            f"got shape {array.shape}"
        )
    return array


def check_seed(seed: Any) -> Any:
    """``seed`` if it is None, a non-negative integer or a SeedSequence."""
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer, a numpy SeedSequence or None; "
            f"got {seed!r}")
    return int(seed)
