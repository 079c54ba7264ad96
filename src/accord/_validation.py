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
