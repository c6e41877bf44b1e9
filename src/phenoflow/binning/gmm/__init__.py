"""Bins of classifier outputs optimised by a Gaussian mixture (GATO-style), in TensorFlow Probability.

The score space (1-D scores in [lo, hi], or softmax vectors on the simplex in their C-1 free
coordinates, see :mod:`phenoflow.binning.simplex`) is partitioned by a mixture of K Gaussians: an event
belongs to the component k maximising log N(x | mu_k, Sigma_k) + log pi_k. Training replaces this
hard assignment by gamma_k = softmax_k((log N + log pi) / T), which makes the per-component yields
and with them the combined significance Z = sqrt(sum_k Z(s_k, b_k)^2) differentiable (Z the
plain Asimov Z_A, or Cowan's Z with each soft bin's background uncertainty sigma_b^2 =
(rel b_k)^2 + sum w^2_k from its soft sum of w^2, see :func:`significance_squared_with_uncertainty`);
the temperature T is annealed towards a hard assignment while Adam maximises Z. The bins are
judged like every other method's, by :mod:`phenoflow.binning.rule` (significances, yields, merging
under the rule); this module adds the mixture and its training with a differentiable
significance.

Design choices:

* Cost independent of the event count. Events are first summed into fine cells: in 1-D
  ``n_fine`` bins at quantiles of the MC-event count of the scores (so resolution sits where the
  events, and with them the MC knowledge of the yields, are; the GATO toy puts most of its
  significance in the last 0.01 of the score, which equal-width bins would not resolve); in n-D
  the populated cells of a grid of ``n_fine`` divisions per free coordinate. The loss sees only
  per-cell sums: signal yield per signal, background yield and background sum of w^2.
* The mixture is evaluated at one point per cell, the centroid of its MC events, rather than
  integrated over the cell (the 1-D CDF alternative). The T -> 0 limit of the soft assignment is
  then exactly the hard argmax rule at that point, so soft and hard yields differ only in the
  cells a boundary cuts; bin-integrated masses pi_k (Phi_k(e_j+1) - Phi_k(e_j)) would instead be
  maximised by a different component than the density near a boundary (a bias that survives
  T -> 0), need log-differences of CDFs that underflow in the tails, and have no cheap n-D form.
* Parameters: mixture logits; means through a sigmoid onto [lo, hi] (1-D) or a softmax onto the
  simplex (n-D, C-1 free logits against a fixed 0); scales through ``tfp.bijectors.FillScaleTriL``
  (softplus diagonal; a 1x1 factor, i.e. a positive width, in 1-D). The Gaussian log-density is
  written out with a triangular solve, since ``tfd.MultivariateNormalTriL.log_prob`` broadcasts
  the scales over all cells and is an order of magnitude slower here.
* Everything runs in one compiled ``tf.function`` holding a ``tf.while_loop`` over the steps, with
  Adam written out (Kingma & Ba, default betas); the temperature and the learning rate are
  ``tf.Variable``s assigned at every step from their schedules, so annealing reaches the compiled
  graph. The compiled loop is memoised per (dimension, mean map, combination, whether Z has a
  background uncertainty) and serves fits of
  any size; it computes in float32 (twice as fast as float64 here, and ample for per-cell sums and
  Z), while every reported number is recomputed in float64 from the events. ``n_restarts``
  independent starts are trained side by side as a batch dimension (1-D: edges at signal
  quantiles, from equal-signal ones to increasingly top-heavy ones, and, with one signal,
  restarts 1-3 at the exact optimum on coarse grids of ``n_coarse`` x (1, 1.5, 2) runs of fine
  cells, :func:`coarse_optimum_edges`; n-D: means at random populated cells), all from a numpy
  Generator seeded by ``seed``. Same seed, same inputs -> identical result.
* The rule (``min_background`` for b_k, ``max_rel_uncertainty`` for sqrt(sum w^2)_k / b_k of the
  background, ``min_mc_events`` for its number of MC events n_k) acts three ways. (1) The soft
  Z is taken at :func:`rule_background`, the background each bin would need to obey the rule,
  so breaking it gains nothing. (2) Squared hinge penalties, relative to Z and with a safety
  ``margin``, bounded by 1 per bin (:func:`rule_penalty`: the uncertainty rule as an effective
  MC count b^2/w2 >= 1/max_rel^2, which stays finite where a soft bin holds a fraction of one
  heavy MC event, and the soft count sum_cells gamma n_cell >= min_mc_events, both weighted by
  ``penalty_uncertainty``); non-finite gradients are zeroed. (3) Every 5 steps the hard
  (argmax) assignment of the cells is scored: its Z if every bin (1-D: every interval of one
  winner, at most K of them) obeys the rule; each restart keeps its best such state. The result is the best hard Z under the rule, on the
  events, among every restart's start, best and final state, and its bins are checked and
  merged under the same rule (1-D: :func:`phenoflow.binning.rule.merge_low_background`
  for the background floor, then :meth:`phenoflow.binning.rule.BinRule.merge`, as in
  :func:`phenoflow.binning.rule.apply_rule_1d`; n-D: :meth:`phenoflow.binning.rule.BinRule.merge` with
  touching bins). Why: on real scores with few MC events of large weights the soft relaxation
  alone ended 3-80 % below the exact optimum, or in NaN (CHANGELOG.md, 2026-12-06).
* Signed event weights (NLO generators) enter every yield with their sign: cell sums, soft
  yields (gamma-weighted sums of the cells) and hard yields; sums of w^2 are positive, and an
  event of negative weight counts as one MC event like any other. A soft bin whose background
  is <= 0 has its Z taken at the rule's floor (or at 1e-12 without a rule: large), and the
  penalties push it back (:func:`rule_penalty`); a hard bin with b <= 0 is always merged by
  the rule. The 1-D starting edges use the running maximum of the signed signal distribution
  function.
* Several signals: Z_i per signal with the other signals counted as background, combined by
  ``combination`` (:data:`phenoflow.binning.rule.COMBINATIONS`); "minimum" is a smooth minimum
  -tau logsumexp(-Z_i / tau), tau = 2% of the mean Z_i, in the loss and the exact one in results.
  The MC-uncertainty constraint concerns the true background only.
* Results come from the hard assignment evaluated on the events themselves. In 1-D the bins are
  the runs of fine cells with one winning component (exactly what training scores as its hard
  state), each edge midway between the last event of one run and the first of the next, usable
  with :func:`phenoflow.binning.rule.binned_yields`; in n-D a
  :class:`BinMap` assigns any score vector to a bin.

TensorFlow is imported only when a mixture is trained.
"""

from __future__ import annotations

from phenoflow.binning.gmm.cells import (
    COARSE_GRIDS,
    FineCells,
    coarse_optimum_edges,
    fine_cells,
    log_joint,
)
from phenoflow.binning.gmm.fit import BinMap, GMMBinningResult, fit_gmm_binning
from phenoflow.binning.gmm.loss import (
    SCHEDULES,
    differentiable_significance,
    rule_background,
    rule_penalty,
    schedule,
    significance_squared_with_uncertainty,
)
from phenoflow.binning.gmm.settings import FINE_CELLS_1D, FINE_DIVISIONS_SIMPLEX, GMMSettings

__all__ = [
    "COARSE_GRIDS",
    "FINE_CELLS_1D",
    "FINE_DIVISIONS_SIMPLEX",
    "SCHEDULES",
    "BinMap",
    "FineCells",
    "GMMBinningResult",
    "GMMSettings",
    "coarse_optimum_edges",
    "differentiable_significance",
    "fine_cells",
    "fit_gmm_binning",
    "log_joint",
    "rule_background",
    "rule_penalty",
    "schedule",
    "significance_squared_with_uncertainty",
]
