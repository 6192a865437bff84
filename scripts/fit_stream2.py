#!/usr/bin/python3
"""Derive stream 2's polynomial coefficients (src/lib/fill/stream2.c).

Least-squares fits on Chebyshev nodes in double precision, printed as float
constants; the error each gives when evaluated in float32 with fused
multiply-adds (Horner's rule here; stream2.c's Estrin order rounds alike to
within an ulp) is printed beside it.  Run with Debian's
python3 (numpy, scipy); the constants in stream2.c are this script's output and
must never change once published: they define stream 2's bytes."""
import textwrap

import numpy as np
from scipy.special import erf, erfinv

F = np.float32


def fit(fn, lo, hi, deg, n=4000):
    k = np.arange(n)
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / n)
    return [float(F(a)) for a in np.polynomial.polynomial.polyfit(x, fn(x), deg)]


def fma(a, b, c):
    return F(np.float64(a) * np.float64(b) + np.float64(c))


def horner(c, x):
    x = x.astype(F)
    p = F(c[-1])
    for a in c[-2::-1]:
        p = fma(p, x, F(a))
    return p


def lit(a):
    t = "%.9g" % a
    return t + (".0f" if "." not in t and "e" not in t else "f")


def show(name, c, err):
    print("/* %s: max error %.2g in float32 */" % (name, err))
    body = textwrap.wrap(", ".join(lit(a) for a in c), 92)
    print("static const float %s[%d] = {\n%s\n};" % (name, len(c), "\n".join("    " + b for b in body)))


# ln(1+f) = f + f^2 Q(f) for f = m - 1, m in [sqrt(1/2), sqrt(2)): relative
# accuracy kept near f = 0 (u near 1).
lo, hi = np.sqrt(0.5) - 1, np.sqrt(2) - 1
q = fit(lambda f: (np.log1p(f) - f) / f ** 2, lo, hi, 8)
f = np.linspace(lo, hi, 400001).astype(F)
ln = fma(F(f * f), horner(q, f), f)
show("LN_Q", q, np.max(np.abs(ln - np.log1p(f.astype(float))) / np.maximum(np.abs(np.log1p(f.astype(float))), 1e-30)))

# sin(t pi/2) = t S(t^2), cos(t pi/2) = C(t^2) for t in [-1/2, 1/2] (quarter turns).
t = np.linspace(-0.5, 0.5, 400001).astype(F)
z = F(t * t)
s = fit(lambda z: np.sin(np.sqrt(z) * np.pi / 2) / np.sqrt(z), 1e-12, 0.25, 3)
show("SIN_S", s, np.max(np.abs(F(t * horner(s, z)) - np.sin(t.astype(float) * np.pi / 2))))
c = fit(lambda z: np.cos(np.sqrt(z) * np.pi / 2), 0, 0.25, 4)
show("COS_C", c, np.max(np.abs(horner(c, z) - np.cos(t.astype(float) * np.pi / 2))))

# N(0,1) truncated to [-2, 2] by its inverse CDF: y = erf(sqrt 2) v, v uniform
# in (-1, 1); z = sqrt(2) erfinv(y) = y R(w), w = -ln(1 - y^2) in [0, 2.42].
C = erf(np.sqrt(2))
wmax = -np.log1p(-C * C)


def ratio(w):
    y = np.sqrt(-np.expm1(-w))
    return np.sqrt(2) * erfinv(y) / y


r = fit(ratio, 1e-12, wmax * 1.001, 6)
y = np.linspace(-C, C, 400001)
zz = F(F(y) * horner(r, F(-np.log1p(-y * y))))
show("TRUNC_R", r, np.max(np.abs(zz - np.sqrt(2) * erfinv(y))))
print("#define TRUNC_ERF2 %.9gf   /* erf(sqrt 2) */" % C)
