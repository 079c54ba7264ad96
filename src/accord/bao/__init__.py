"""Baryon acoustic oscillations: shipped data, flat LCDM distances, problems.

The real-data demonstration of accord: the tension between SDSS and DESI
measurements of the BAO scale (Bevins, Handley & Gessey-Jones 2024,
arXiv:2407.15478, section on BAO).

- :mod:`accord.bao.data` loads the Gaussian BAO files shipped with accord
  (DESI DR1 and DR2, SDSS DR12 and eBOSS DR16) or a user's own files;
- :mod:`accord.bao.cosmology` computes D_M/r_d, D_H/r_d and D_V/r_d in flat
  LCDM, vectorised over parameter draws;
- :mod:`accord.bao.problem` turns two data sets into a
  :class:`~accord.problem.Problem`;
- :mod:`accord.bao.job` runs the whole calibration from a configuration
  (:func:`run_bao`, the default of ``accord run``).

Examples
--------
>>> from accord.bao import default_bao_problem
>>> problem = default_bao_problem()
>>> problem.name
'SDSS DR12 LRG vs DESI DR1'
"""

from .cosmology import (
    PARAMETERISATIONS,
    Distances,
    Parameterisation,
    distances_over_rd,
    sound_horizon,
    theory_vector,
)
from .data import (
    QUANTITIES,
    BAOData,
    BAODataError,
    combine,
    list_bao,
    load_bao,
    load_bao_files,
    select_bao,
)
from .job import bao_problem_from_config, run_bao
from .problem import (
    BAOLogLikelihood,
    BAOModel,
    BAOSimulator,
    bao_problem,
    default_bao_problem,
)

__all__ = [
    "run_bao",
    "bao_problem_from_config",
    "BAOData",
    "BAODataError",
    "QUANTITIES",
    "load_bao",
    "load_bao_files",
    "list_bao",
    "select_bao",
    "combine",
    "Distances",
    "Parameterisation",
    "PARAMETERISATIONS",
    "distances_over_rd",
    "theory_vector",
    "sound_horizon",
    "BAOModel",
    "BAOSimulator",
    "BAOLogLikelihood",
    "bao_problem",
    "default_bao_problem",
]
