"""Intonation contour: shape, dynamics, confidence and one collapsed label.

Works on voiced frames only, in semitones relative to the utterance median, with no interpolation over
unvoiced gaps (a pause is not a pitch valley). Time is normalised over the voiced span, so the label
does not depend on duration. Shape comes from two fits: a straight line (net rise or fall) and the
best continuous two-segment line (a turn: rise then fall, or fall then rise).
"""

from __future__ import annotations

import numpy as np

SHAPES = ("rising", "falling", "rising-falling", "falling-rising", "level")
LABELS = ("rising", "falling", "rising-falling", "falling-rising", "flat", "expressive", "uncertain", "too_short")


def _fit(u: np.ndarray, y: np.ndarray, basis: list[np.ndarray]) -> tuple[np.ndarray, float]:
    a = np.stack(basis, axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return coef, float(np.sum((a @ coef - y) ** 2))


BREAKPOINTS = np.arange(0.2, 0.81, 0.05)


def _hinge_fits(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous two-segment fits y ~ c + s1 min(u - b, 0) + s2 max(u - b, 0) for every breakpoint b at once,
    by the normal equations. Returns coefficients (B, 3) and residual sums of squares (B,)."""
    d = u[None, :] - BREAKPOINTS[:, None]
    a = np.stack([np.ones_like(d), np.minimum(d, 0), np.maximum(d, 0)], axis=2)  # (B, N, 3)
    ata = np.einsum("bni,bnj->bij", a, a) + 1e-9 * np.eye(3)
    aty = np.einsum("bni,n->bi", a, y)
    coef = np.linalg.solve(ata, aty[..., None])[..., 0]
    sse = np.maximum(float(y @ y) - np.einsum("bi,bi->b", coef, aty), 0.0)
    return coef, sse


def shape(u: np.ndarray, st: np.ndarray, shape_st: float) -> tuple[str, dict]:
    """Shape of semitone values ``st`` at normalised times ``u`` in [0, 1]."""
    (_, slope), sse_line = _fit(u, st, [np.ones_like(u), u])
    coefs, sses = _hinge_fits(u, st)
    k = int(np.argmin(sses))
    b, (_, s1, s2), sse_turn = BREAKPOINTS[k], coefs[k], float(sses[k])
    rise1, rise2 = float(s1 * b), float(s2 * (1 - b))
    sst = float(np.sum((st - st.mean()) ** 2)) or 1e-9
    info = {"net_st": round(float(slope), 2), "turn_at": round(float(b), 2), "first_st": round(rise1, 2),
            "second_st": round(rise2, 2), "fit_r2": round(1 - sse_line / sst, 3)}  # fmt: skip
    turn_explains = sse_turn < 0.7 * sse_line
    if turn_explains and rise1 >= shape_st and rise2 <= -shape_st:
        return "rising-falling", {**info, "fit_r2": round(1 - sse_turn / sst, 3)}
    if turn_explains and rise1 <= -shape_st and rise2 >= shape_st:
        return "falling-rising", {**info, "fit_r2": round(1 - sse_turn / sst, 3)}
    if slope >= shape_st:
        return "rising", info
    if slope <= -shape_st:
        return "falling", info
    return "level", info


def contour(
    times: np.ndarray,
    f0: np.ndarray,
    time_step: float,
    min_voiced_s: float = 0.25,
    shape_st: float = 2.0,
    flat_range_st: float = 4.0,
    expressive_range_st: float = 10.0,
    min_confidence: float = 0.35,
) -> dict:
    """Contour of an F0 track (Hz, NaN where unvoiced)."""
    voiced = np.isfinite(f0)
    voiced_s = float(voiced.sum() * time_step)
    empty = {"contour": "too_short", "contour_shape": None, "contour_dynamics": None, "contour_confidence": 0.0}
    if voiced_s < min_voiced_s or voiced.sum() < 5:
        return empty
    t, f = times[voiced], f0[voiced]
    st = 12 * np.log2(f / np.median(f))
    span = float(t[-1] - t[0])
    if span <= 0:
        return empty
    u = (t - t[0]) / span
    name, info = shape(u, st, shape_st)
    rng = float(np.percentile(st, 95) - np.percentile(st, 5))
    dynamics = "flat" if rng < flat_range_st else "expressive" if rng >= expressive_range_st else "moderate"
    # confidence: enough voiced time, voicing that covers its span, no long pauses inside it
    gaps = np.diff(t) - time_step
    longest_gap = float(gaps.max()) if len(gaps) else 0.0
    c_voiced = min(1.0, (voiced_s - min_voiced_s) / 0.5 + 0.4)
    c_cover = min(1.0, voiced_s / span / 0.5)
    c_pause = 1.0 - min(0.6, max(0.0, longest_gap - 0.3) / 1.5)
    confidence = round(float(c_voiced * c_cover * c_pause), 3)
    if confidence < min_confidence:
        label = "uncertain"
    elif dynamics == "expressive" and (name == "level" or info["fit_r2"] < 0.5):
        label = "expressive"  # wide excursions that no single rise, fall or turn describes
    elif name != "level":
        label = name
    else:
        label = "flat"
    return {"contour": label, "contour_shape": name, "contour_dynamics": dynamics, "contour_confidence": confidence,
            "contour_range_st": round(rng, 2), **{f"contour_{k}": v for k, v in info.items()}}  # fmt: skip
