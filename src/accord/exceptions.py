"""Exceptions and warnings raised by accord."""

from __future__ import annotations

__all__ = [
    "AccordError",
    "AccordWarning",
    "FormatError",
    "NonFiniteSimulationError",
    "SimulationFailedError",
    "StoreMismatchError",
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


class SimulationFailedError(AccordError):
    """A chunk of simulations failed.

    Either the simulator (or the prior) raised, which is not retried, or the
    worker running the chunk was lost more often than ``retries`` allows. The
    original exception is chained as ``__cause__``.

    Attributes
    ----------
    chunk : int
        Index of the chunk.
    rows : tuple of int
        Its rows, ``(start, stop)``, in the order of :func:`simulate`.
    attempts : int
        How many times the chunk was submitted.
    """

    def __init__(self, message: str, *, chunk: int, rows: tuple[int, int],
                 attempts: int) -> None:
        super().__init__(message)
        self.chunk = chunk
        self.rows = rows
        self.attempts = attempts


class StoreMismatchError(AccordError, ValueError):
    """A simulation store holds simulations of another problem or setup."""


class FormatError(AccordError):
    """A saved file is of another format version, truncated or edited."""


class AccordWarning(UserWarning):
    """Something is off, but the result is still usable; the message says what."""
