"""accord: calibrated Bayesian tension between two experiments.

accord turns the Bayesian evidence ratio R = Z_AB / (Z_A Z_B) into a tension
T and a concordance C in sigma, by learning the distribution of log R over
data pairs that agree by construction (Bevins, Handley & Gessey-Jones 2024,
arXiv:2407.15478).
"""

from . import priors
from ._version import __version__
from .exceptions import AccordError, AccordWarning, FormatError, NonFiniteSimulationError
from .problem import Problem

__all__ = [
    "__version__",
    "priors",
    "Problem",
    "AccordError",
    "AccordWarning",
    "FormatError",
    "NonFiniteSimulationError",
]
