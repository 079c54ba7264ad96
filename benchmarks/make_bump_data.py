"""Regenerate the shipped observation of the bump-hunt example, bit for bit.

Draws the counts of both experiments from accord.examples.bump.TRUTH with the
seed accord.examples.bump.SEED, through the example's own simulators, and
writes src/accord/data/bump/counts_A.txt and counts_B.txt (mass in GeV and
count per bin). Run from the repository root:

    python benchmarks/make_bump_data.py [--check]

With --check nothing is written; the exit status says whether the shipped
files equal the regenerated counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from accord.examples.bump import MASSES, SEED, TRUTH, make_observation

FOLDER = Path(__file__).resolve().parent.parent / "src" / "accord" / "data" / "bump"


def render(label: str, counts: np.ndarray) -> str:
    truth = ", ".join(f"{name}={value:.6g}" for name, value in TRUTH.items()
                      if name == "mu" or name.endswith(f"_{label}"))
    lines = [f"# bump-hunt example, experiment {label}: Poisson counts per mass bin",
             f"# drawn by benchmarks/make_bump_data.py with seed {SEED} from",
             f"# {truth}",
             "# mass_GeV count"]
    lines += [f"{m:.6f} {int(c)}" for m, c in zip(MASSES, counts)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the shipped files instead of writing")
    args = parser.parse_args()
    texts = {label: render(label, counts)
             for label, counts in zip("AB", make_observation(SEED))}
    if args.check:
        same = all((FOLDER / f"counts_{label}.txt").read_text() == text
                   for label, text in texts.items())
        print("shipped bump data match" if same else "shipped bump data DIFFER")
        return 0 if same else 1
    FOLDER.mkdir(parents=True, exist_ok=True)
    for label, text in texts.items():
        (FOLDER / f"counts_{label}.txt").write_text(text)
        print(f"wrote {FOLDER / f'counts_{label}.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
