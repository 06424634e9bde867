"""Fit the polynomial behind the engine's vector exp() (v8_exp: csrc/src/activations.h, included by epilogue.h).

    python scripts/fit_exp_poly.py          # degree 6, the engine's
    python scripts/fit_exp_poly.py 5        # another degree, to compare

exp(r) on |r| <= ln2/2 (what is left after taking out n ln2) as 1 + r + c2 r^2 + ... + cD r^D,
with the first two coefficients exact so that small r keeps its full precision. The other
coefficients minimise the largest error relative to exp(r): Lawson's iteratively reweighted
least squares on a dense grid, in double precision against a 113-bit exp. They are then
rounded to float one at a time from the highest, the lower ones refitted after each rounding,
so the rounding of one is absorbed by the next. Prints the coefficients, highest first (the
order of the Horner evaluation), and the fit's largest relative error in exact arithmetic.
"""

from __future__ import annotations

import sys

import mpmath
import numpy as np

HALF_LN2 = float(np.log(2) / 2)


def fit(degree: int, grid: int = 4001, iterations: int = 300) -> tuple[list[float], float]:
    """Coefficients c0..c_degree (c0 = c1 = 1, the rest float32 values) and the largest
    relative error of the polynomial over the grid."""
    mpmath.mp.prec = 113
    r = np.cos(np.linspace(0, np.pi, grid)) * HALF_LN2  # denser towards the ends
    r = r[np.abs(r) > 1e-9]  # r = 0 is exact whatever the fit
    exp_r = np.array([float(mpmath.exp(mpmath.mpf(float(v)))) for v in r])
    # p(r) - exp(r) = r^2 (q(r) - want), q(r) = c2 + c3 r + ...
    want = (exp_r - 1 - r) / r**2
    to_relative = r**2 / exp_r
    fixed: dict[int, float] = {}
    for free in range(degree - 1, 0, -1):  # free coefficients of q left, highest rounded next
        target = want - sum(c * r**j for j, c in fixed.items())
        a = np.vander(r, free, increasing=True)
        weight = np.full_like(r, 1 / len(r))
        for _ in range(iterations):  # Lawson: weights follow the error towards equioscillation
            sw = np.sqrt(weight) * to_relative
            coef, *_ = np.linalg.lstsq(a * sw[:, None], target * sw, rcond=None)
            err = np.abs((a @ coef - target) * to_relative)
            weight = weight * err
            weight /= weight.sum()
        fixed[free - 1] = float(np.float32(coef[free - 1]))
    coefs = [1.0, 1.0] + [fixed[j] for j in range(degree - 1)]
    p = np.polyval(coefs[::-1], r)
    return coefs, float(np.max(np.abs(p - exp_r) / exp_r))


def main() -> None:
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    if degree < 2:
        raise SystemExit("fit_exp_poly.py: error: degree must be at least 2")
    coefs, err = fit(degree)
    print(f"degree {degree}, highest first:", ", ".join(f"{c:.9e}f" for c in coefs[::-1]))
    print(f"largest relative error in exact arithmetic: {err:.3e} (2^{np.log2(err):.2f})")


if __name__ == "__main__":
    main()
