"""Exceptions and warnings raised by accord."""

from __future__ import annotations

__all__ = [
    "AccordError",
    "AccordWarning",
    "FormatError",
    "NonFiniteSimulationError",
]


class AccordError(Exception):
    """Base class of the errors that accord raises about a run or its files."""


class NonFiniteSimulationError(AccordError):
    """A simulator returned NaN or infinite values.

    Attributes
    ----------
    n_failed : int
        Number of simulated rows with a non-finite value.
    path : str or None
        File holding the parameter values of the failed rows.
    """

    def __init__(self, message: str, *, n_failed: int, path: str | None) -> None:
        super().__init__(message)
        self.n_failed = n_failed
        self.path = path


class FormatError(AccordError):
    """A saved file is of another format version, truncated or edited."""


class AccordWarning(UserWarning):
    """Something is off, but the result is still usable; the message says what."""
