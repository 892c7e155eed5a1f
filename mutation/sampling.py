"""Sampled mutation score: which mutants a run checks, and how far its kill ratio can be
trusted.

Checking a uniform random sample of the mutants estimates the score of all of them
(Zhang, Hou, Hu, Xie, Mei, "Is operator-based mutant selection superior to random mutant
selection?", ICSE 2010: random selection predicts the full score as well as the selective
operator sets; Gopinath, Jensen, Groce, "How hard does mutation analysis have to be,
anyway?", ISSRE 2015: the score of a random sample is a binomial estimate, so a few
hundred mutants give it within a few points, whatever the program's size). The sample is
drawn per module (a stratum) with a seed, so a run can be repeated exactly.

Pure functions, no mutmut: `mutation/mutmut_driver.py` imports this file from its own
folder, and the tests import it as `mutation.sampling`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95% interval


def sample(population: Iterable[str], size: int, seed: int) -> list[str]:
    """`size` names drawn without replacement, the same for the same names and seed whatever
    their order; everything when `size` is 0 or at least the population."""
    names = sorted(set(population))
    if size <= 0 or size >= len(names):
        return names
    return sorted(random.Random(seed).sample(names, size))


def wilson(killed: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927; Newcombe, "Two-sided confidence
    intervals for the single proportion", Statistics in Medicine 1998, method 3): unlike
    p +- z*sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at 0 or n of n."""
    if n <= 0:
        return 0.0, 1.0
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Stratum:
    """One module: `population` mutants generated, `n` of them checked, `killed` killed."""
    population: int
    n: int
    killed: int


@dataclass(frozen=True)
class Estimate:
    ratio: float
    low: float
    high: float
    n_effective: float


def stratified(strata: Sequence[Stratum], z: float = Z95) -> Estimate:
    """The kill ratio of all the strata's mutants together: each module's sample ratio
    weighted by its share of the mutants (a small module checked whole must not count as
    much as a large one sampled), and a Wilson interval on the design's effective sample
    size (Korn and Graubard, "Confidence intervals for proportions with small expected
    number of positive counts estimated from survey data", Survey Methodology 1998)."""
    strata = [s for s in strata if s.n > 0]
    total = sum(s.population for s in strata)
    if not total:
        return Estimate(0.0, 0.0, 1.0, 0.0)
    ratio = sum(s.population / total * s.killed / s.n for s in strata)
    # variance of the stratified mean, with the finite population correction per stratum
    variance = 0.0
    for s in strata:
        p = s.killed / s.n
        correction = (s.population - s.n) / (s.population - 1) if s.population > 1 else 0.0
        variance += (s.population / total) ** 2 * p * (1 - p) / s.n * correction
    checked = sum(s.n for s in strata)
    if variance > 0:
        n_effective = min(checked, ratio * (1 - ratio) / variance)
    else:  # every module all killed or all survived, or checked whole: no spread to measure
        n_effective = checked
    low, high = wilson(ratio * n_effective, n_effective, z)
    return Estimate(ratio, low, high, n_effective)
