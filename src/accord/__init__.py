"""accord: calibrated Bayesian tension between two experiments.

accord turns the Bayesian evidence ratio R = Z_AB / (Z_A Z_B) into a tension
T and a concordance C in sigma, by learning the distribution of log R over
data pairs that agree by construction (Bevins, Handley & Gessey-Jones 2024,
arXiv:2407.15478).
"""

from . import bao, evidence, linear, priors
from ._version import __version__
from .calibration import CalibrationResult, calibrate
from .evidence import (
    EvidenceResult,
    cross_check,
    evidence_from_chains,
    evidence_from_numbers,
    run_nested_sampling,
)
from .estimator import RatioEstimator, TrainingSettings, load, train
from .exceptions import (
    AccordError,
    AccordWarning,
    FormatError,
    NonFiniteSimulationError,
    SimulationFailedError,
    StoreMismatchError,
)
from .executors import executor_from_spec
from .pipeline import RunResult, run
from .problem import Problem
from .simulation import Simulations, simulate
from .stats import TensionStatistics, tension_from_p, tension_from_sample
from .store import SimulationStore, simulate_to_store

__all__ = [
    "__version__",
    "priors",
    "linear",
    "bao",
    "evidence",
    "EvidenceResult",
    "evidence_from_numbers",
    "evidence_from_chains",
    "run_nested_sampling",
    "cross_check",
    "Problem",
    "Simulations",
    "simulate",
    "simulate_to_store",
    "SimulationStore",
    "executor_from_spec",
    "TrainingSettings",
    "RatioEstimator",
    "train",
    "load",
    "CalibrationResult",
    "calibrate",
    "RunResult",
    "run",
    "TensionStatistics",
    "tension_from_p",
    "tension_from_sample",
    "AccordError",
    "AccordWarning",
    "FormatError",
    "NonFiniteSimulationError",
    "SimulationFailedError",
    "StoreMismatchError",
]
