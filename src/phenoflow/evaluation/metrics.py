"""Weighted classifier metrics: ROC curves and AUC, threshold scans, confusion matrices, working points.

Yields are expected event counts (physical weights, already scaled to the full luminosity).
Weights are signed (NLO generators write negative event weights): every yield and efficiency
is a ratio of signed sums, and the project's one weighted ROC curve and AUC
(:func:`weighted_roc`, :func:`weighted_auc`) are computed here, without scikit-learn, whose
``roc_curve`` refuses a non-monotonic cumulative weight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from phenoflow.significance import ASIMOV, Significance, asimov_significance, asimov_significance_with_uncertainty


@dataclass(frozen=True)
class ThresholdScan:
    """Best score threshold (keep score >= threshold): its Z, s, b, the background uncertainty
    sigma_b that Z took (0 for the plain Asimov Z), s/sqrt(b) and the background MC events it
    keeps (nonzero weight)."""

    threshold: float
    significance: float
    s: float
    b: float
    s_over_sqrt_b: float
    sigma_b: float = 0.0
    b_events: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def max_significance(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    min_background: float,
    significance: Significance = ASIMOV,
    min_mc_events: int = 0,
) -> ThresholdScan:
    """Scan every distinct score threshold; maximise Z among those keeping b >= min_background
    and at least ``min_mc_events`` background MC events.

    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, 0 background): shape (n,).
    Z is ``significance`` (default the plain Asimov Z_A; with a background uncertainty, the
    kept background's sum of w^2 gives its MC error). A background MC event is a background
    row of nonzero weight; one of negative weight counts like the others.
    """
    is_signal = labels == 1
    thr, s, b = _cumulative_at_cuts(scores, weights, is_signal)
    _, _, n_b = _cumulative_at_cuts(scores, (weights != 0).astype(np.float64), is_signal)
    allowed = (b >= max(min_background, np.finfo(float).tiny)) & (n_b >= min_mc_events)
    if not allowed.any():
        raise ValueError(
            f"no threshold keeps a background of at least {min_background} events from at least "
            f"{min_mc_events} MC events (all of it: {b[-1]:g} from {n_b[-1]:g})"
        )
    b_safe = np.where(allowed, b, 1.0)
    if significance.plain:
        z = np.where(allowed, asimov_significance(s, b_safe), -np.inf)
        sigma = np.zeros_like(b)
    else:
        _, _, w2 = _cumulative_at_cuts(scores, weights**2, is_signal)
        sigma = significance.sigma_b(b_safe, w2)
        z = np.where(allowed, asimov_significance_with_uncertainty(s, b_safe, sigma), -np.inf)
    i = int(np.argmax(z))
    return ThresholdScan(
        float(thr[i]), float(z[i]), float(s[i]), float(b[i]), float(s[i] / np.sqrt(b[i])), float(sigma[i]), int(n_b[i])
    )


def weighted_roc(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted ROC curve: (signal efficiency, background efficiency, thresholds), each (m + 1,).

    Point i > 0 is the cut ``score >= thresholds[i]`` over the m distinct scores, tightest first;
    point 0 (threshold ``inf``) keeps nothing. Efficiencies are ratios of signed sums (``labels``
    1 signal, else background; shapes (n,)), so with negative weights the curve need not be
    monotonic and an efficiency may leave [0, 1]; both summed weights must be positive. Equal to
    scikit-learn's ``roc_curve(..., drop_intermediate=False)`` for non-negative weights.
    """
    scores, weights, is_signal, total_s, total_b = _binary_inputs(scores, weights, labels)
    thresholds, s, b = _cumulative_at_cuts(scores, weights, is_signal)
    return np.r_[0.0, s / total_s], np.r_[0.0, b / total_b], np.r_[np.inf, thresholds]


def weighted_auc(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> float:
    """Area under the weighted ROC curve, the project's one AUC (shapes (n,), ``labels`` 1 signal).

    AUC = sum_ij w_i w_j ([x_i > x_j] + [x_i = x_j] / 2) / (S B) over signal events i and
    background events j, S and B the summed signal and background weights: the probability that
    a signal event scores above a background event, ties counting one half. It is exactly the
    trapezoidal area under :func:`weighted_roc` (eps_B on the x axis), and it stays the right
    estimator with signed weights, since it is bilinear in the weights: each signed pair counts
    with its sign. (With negative weights the curve may fold back, and a tiny sample may give
    a value outside [0, 1].) S and B must be positive (ValueError naming the class otherwise).
    Equal to scikit-learn's ``roc_auc_score(labels, scores, sample_weight=weights)`` for
    non-negative weights.
    """
    scores, weights, is_signal, _, _ = _binary_inputs(scores, weights, labels)
    return _pairwise_auc(scores, weights, is_signal)


# --- Weighted metrics for comparing classifiers ---------------------------------------------------
#
# Conventions shared by the functions below: ``labels`` are 1 for signal and anything else for
# background (as above); a binary decision keeps an event as signal when ``score >= threshold``;
# weights may be negative (NLO generators), so sums are never assumed positive and every
# efficiency is a ratio of signed sums.


def _as_1d(name: str, values, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (n is not None and len(array) != n):
        raise ValueError(f"{name}: expected shape ({'n' if n is None else n},), got {array.shape}")
    return array


def _positive_total(name: str, total: float) -> float:
    if not total > 0:
        raise ValueError(f"the summed weight of {name} is {total}; it must be positive")
    return float(total)


def _binary_inputs(scores, weights, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(scores, weights, is_signal, S, B) as float arrays of shape (n,), with the signed summed
    signal and background weights S and B, each of which must be positive."""
    scores = _as_1d("scores", scores)
    weights = _as_1d("weights", weights, len(scores))
    is_signal = np.asarray(labels) == 1
    total_s = _positive_total("signal", weights[is_signal].sum())
    return scores, weights, is_signal, total_s, _positive_total("background", weights[~is_signal].sum())


def weighted_accuracy(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> float:
    """Weighted fraction of events classified correctly, signal meaning ``score >= threshold``.

    Shapes (n,). Equal to scikit-learn's ``accuracy_score`` with ``sample_weight``; the summed
    weight must be positive.
    """
    scores = _as_1d("scores", scores)
    weights, labels = _as_1d("weights", weights, len(scores)), np.asarray(labels)
    correct = (scores >= threshold) == (labels == 1)
    return float(np.sum(weights[correct]) / _positive_total("all events", weights.sum()))


def _cumulative_at_cuts(scores: np.ndarray, weights: np.ndarray, is_signal: np.ndarray):
    """Signal and background weight kept by each distinct cut ``score >= t``, tightest cut first.

    Returns (thresholds, s, b), each of shape (number of distinct scores,).
    """
    order = np.argsort(-scores, kind="stable")
    sc, w, y = scores[order], weights[order], is_signal[order]
    s = np.cumsum(np.where(y, w, 0.0))
    b = np.cumsum(np.where(y, 0.0, w))
    last = np.r_[sc[1:] != sc[:-1], True]  # tied scores are kept or dropped together
    return sc[last], s[last], b[last]


def background_rejection(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, signal_efficiency: float
) -> float:
    """Background rejection 1/eps_B at a working point of signal efficiency ``signal_efficiency``.

    R50 is ``signal_efficiency=0.5``, R99 ``0.99``. No interpolation: the cuts ``score >= t`` are
    scanned from the tightest to the loosest, and the working point is the first (tightest) cut
    whose weighted signal efficiency reaches the target (up to a relative rounding tolerance of
    1e-9). This is the conservative step choice: the efficiency achieved is at least the one
    asked for and eps_B is that of a real cut, never an interpolated one. Since the loosest cut
    keeps everything (eps_S = 1), every target in (0, 1] is reached.

    Returns ``inf`` where the working point keeps no background (eps_B <= 0, which negative
    weights can also produce). Shapes (n,); both summed signal and background weights must be
    positive.
    """
    if not 0 < signal_efficiency <= 1:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency}")
    scores, weights, is_signal, total_s, total_b = _binary_inputs(scores, weights, labels)
    _, s, b = _cumulative_at_cuts(scores, weights, is_signal)
    tolerance = 1e-9 * np.abs(weights[is_signal]).sum()
    reached = np.flatnonzero(s >= signal_efficiency * total_s - tolerance)
    eps_b = b[reached[0]] / total_b
    return float(1.0 / eps_b) if eps_b > 0 else float("inf")


def confusion_matrix(predicted: np.ndarray, true: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Weighted confusion matrix, shape (n_classes, n_classes): rows true class, columns predicted.

    ``predicted`` and ``true`` are integer class indices in [0, n_classes), shape (n,); entry
    [i, j] is the summed weight of events of true class i predicted as j. Equal to scikit-learn's
    ``confusion_matrix(true, predicted, sample_weight=weights, labels=range(n_classes))``.
    """
    predicted, true = np.asarray(predicted), np.asarray(true)
    weights = _as_1d("weights", weights, len(true))
    if predicted.shape != true.shape:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} differ in shape")
    for name, classes in (("predicted", predicted), ("true", true)):
        if classes.size and (classes.min() < 0 or classes.max() >= n_classes):
            raise ValueError(f"{name} classes must lie in [0, {n_classes}), got [{classes.min()}, {classes.max()}]")
    cells = true.astype(np.int64) * n_classes + predicted.astype(np.int64)
    return np.bincount(cells, weights=weights, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def project_to_binary(matrix: np.ndarray, signal_classes) -> np.ndarray:
    """Project a k×k confusion matrix (rows true, columns predicted) onto signal vs background.

    ``signal_classes``: the class indices that count as signal; all others are background. The
    result keeps the convention of :func:`confusion_matrix` with class 0 background and 1 signal,
    ``[[TN, FP], [FN, TP]]`` (scikit-learn's layout for binary labels). A signal event predicted
    as another signal class counts as a true positive: only the signal/background decision
    matters. (Note the layout differs from the tutorial's ``[[TP, FP], [FN, TN]]``, which has the
    predicted class in rows; and that projecting the arg-max matrix is a different decision from
    cutting on the summed signal probabilities, for which use :func:`binary_confusion`.)
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    k = matrix.shape[0]
    if matrix.shape != (k, k):
        raise ValueError(f"expected a square matrix, got shape {matrix.shape}")
    signal = np.zeros(k, dtype=bool)
    signal[np.asarray(list(signal_classes), dtype=np.int64)] = True
    groups = (~signal, signal)  # index 0 background, 1 signal
    return np.array([[matrix[np.ix_(rows, cols)].sum() for cols in groups] for rows in groups])


def binary_confusion(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Weighted 2×2 confusion matrix ``[[TN, FP], [FN, TP]]`` of the cut ``score >= threshold``.

    Rows true (0 background, 1 signal), columns predicted, as :func:`project_to_binary`.
    Shapes (n,).
    """
    scores = _as_1d("scores", scores)
    predicted = (scores >= threshold).astype(np.int64)
    return confusion_matrix(predicted, (np.asarray(labels) == 1).astype(np.int64), weights, 2)


def _pairwise_auc(scores: np.ndarray, weights: np.ndarray, is_signal: np.ndarray) -> float:
    """Weighted AUC as the weighted fraction of (signal, background) pairs ordered correctly.

    Ties count one half. The definition of :func:`weighted_auc`; O(n log n) by summing the
    weights per distinct score. NaN when either class's summed weight is <= 0 (signed weights).
    """
    total_s, total_b = weights[is_signal].sum(), weights[~is_signal].sum()
    if not (total_s > 0 and total_b > 0):
        return float("nan")
    values, group = np.unique(scores, return_inverse=True)
    s = np.bincount(group, weights=np.where(is_signal, weights, 0.0), minlength=len(values))
    b = np.bincount(group, weights=np.where(is_signal, 0.0, weights), minlength=len(values))
    b_below = np.cumsum(b) - b
    return float(np.sum(s * (b_below + 0.5 * b)) / (total_s * total_b))


def one_vs_rest_auc(probabilities: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> list[float]:
    """Weighted AUC of each class against all others, using that class's probability column.

    ``probabilities`` (n, k), ``weights`` (n,), ``labels`` integer classes in [0, k), (n,).
    Returns k values, each :func:`weighted_auc` of that class; a class (or the rest) whose summed
    signed weight is <= 0, e.g. without events, gives NaN rather than stopping the other
    classes' evaluation. Equal to scikit-learn's ``roc_auc_score(labels == c, probabilities[:, c],
    sample_weight=weights)`` for non-negative weights, and defined for negative ones too.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities: expected shape (n, k), got {probabilities.shape}")
    n, k = probabilities.shape
    weights, labels = _as_1d("weights", weights, n), np.asarray(labels)
    return [_pairwise_auc(probabilities[:, c], weights, labels == c) for c in range(k)]


def _weighted_cdf(scores: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Weighted empirical CDF, P(score <= x), evaluated at the points ``at``."""
    order = np.argsort(scores, kind="stable")
    cumulative = np.r_[0.0, np.cumsum(weights[order])]
    return cumulative[np.searchsorted(scores[order], at, side="right")] / weights.sum()


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective number of events (sum w)^2 / sum w^2; n for unit weights."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights.sum() ** 2 / np.sum(weights**2))


def ks_test(
    train_scores: np.ndarray, train_weights: np.ndarray, test_scores: np.ndarray, test_weights: np.ndarray
) -> tuple[float, float]:
    """Weighted two-sample Kolmogorov-Smirnov test: (statistic D, two-sided p-value).

    D is the largest distance between the two weighted empirical CDFs, taken over every score in
    either sample. The p-value is that of the Kolmogorov distribution for two samples of
    effective sizes n_a, n_b = (sum w)^2 / sum w^2 (scipy's ``kstwo`` with n = round(n_a n_b /
    (n_a + n_b))), which is exactly ``scipy.stats.ks_2samp(..., method="asymp")`` for unit
    weights. With non-uniform weights the p-value is approximate, and meaningful only for
    samples large enough for the asymptotic distribution. Shapes (n_train,), (n_test,); each
    sample's summed weight must be positive.
    """
    from scipy.stats import kstwo

    a, b = _as_1d("train_scores", train_scores), _as_1d("test_scores", test_scores)
    wa, wb = _as_1d("train_weights", train_weights, len(a)), _as_1d("test_weights", test_weights, len(b))
    _positive_total("the training sample", wa.sum())
    _positive_total("the test sample", wb.sum())
    points = np.unique(np.r_[a, b])
    statistic = float(np.max(np.abs(_weighted_cdf(a, wa, points) - _weighted_cdf(b, wb, points))))
    n_a, n_b = effective_sample_size(wa), effective_sample_size(wb)
    n = max(1.0, float(np.round(n_a * n_b / (n_a + n_b))))
    return statistic, float(np.clip(kstwo.sf(statistic, n), 0.0, 1.0))


@dataclass(frozen=True)
class WorkingPoint:
    """The efficiencies of one selection ``score >= threshold``: the signal's, the background's
    (combined, and per background process in ``per_background``), each a ratio of signed sums."""

    threshold: float
    signal_efficiency: float
    background_efficiency: float
    per_background: dict[str, float]

    @property
    def background_rejection(self) -> float:
        """1/eps_B; ``inf`` where the selection keeps no background (eps_B <= 0)."""
        return _rejection(self.background_efficiency)

    @property
    def balanced_accuracy(self) -> float:
        """(eps_S + (1 - eps_B)) / 2: the mean of the signal efficiency and the background rejection
        fraction, 0.5 for a selection that keeps everything or nothing, whatever the class yields."""
        return 0.5 * (self.signal_efficiency + 1.0 - self.background_efficiency)

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "signal_efficiency": self.signal_efficiency,
            "background_efficiency": self.background_efficiency,
            "background_rejection": self.background_rejection,
            "balanced_accuracy": self.balanced_accuracy,
            "per_background": {
                name: {"efficiency": eff, "rejection": _rejection(eff)} for name, eff in self.per_background.items()
            },
        }


def _rejection(efficiency: float) -> float:
    return float(1.0 / efficiency) if efficiency > 0 else float("inf")


def working_point(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, threshold: float, processes: np.ndarray | None = None
) -> WorkingPoint:
    """The efficiencies of the selection ``score >= threshold``.

    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, else background) and the
    events' ``processes`` (names; optional): shapes (n,). Each background process's efficiency is
    its kept over its total signed weight (which must be positive, like the signal's and the
    combined background's).
    """
    scores, weights, is_signal, total_s, total_b = _binary_inputs(scores, weights, labels)
    kept = scores >= threshold
    per_background = {}
    if processes is not None:
        processes = np.asarray(processes)
        for name in np.unique(processes[~is_signal]):
            mine = (processes == name) & ~is_signal
            total = _positive_total(f"background process {name}", weights[mine].sum())
            per_background[str(name)] = float(weights[mine & kept].sum() / total)
    return WorkingPoint(
        float(threshold),
        float(weights[is_signal & kept].sum() / total_s),
        float(weights[~is_signal & kept].sum() / total_b),
        per_background,
    )
