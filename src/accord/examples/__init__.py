"""The paper's worked examples as ready-made problems.

- :func:`cm21_problem`: the 21-cm global signal seen by two radiometers with
  overlapping bands (arXiv:2407.15478), observed spectra of the published
  PolyChord runs;
- :func:`bump_problem`: two colliders that count events and see an excess
  near 125 GeV (arXiv:2407.15478), with a shipped observation drawn from
  documented truths and seed.

Both are plain :class:`~accord.problem.Problem` objects built from a prior of
:mod:`accord.priors` and two picklable, vectorised simulators and
likelihoods: a template for a user's own problem.

References
----------
Bevins, Handley & Gessey-Jones (2024), arXiv:2407.15478.

Examples
--------
>>> from accord.examples import cm21_problem, bump_problem
>>> cm21_problem(0.2).shared
('A', 'nu0', 'w')
>>> bump_problem().shared
('mu',)
"""

from . import bump, cm21
from .bump import Collider, bump_prior, bump_problem, load_bump
from .cm21 import Radiometer, cm21_prior, cm21_problem, load_cm21

__all__ = [
    "Collider",
    "Radiometer",
    "bump",
    "bump_prior",
    "bump_problem",
    "cm21",
    "cm21_prior",
    "cm21_problem",
    "load_bump",
    "load_cm21",
]
