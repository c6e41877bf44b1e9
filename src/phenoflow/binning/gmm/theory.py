"""Theory systematics in the mixture's likelihood objective: each process's variation weights
summed into the fine cells, and each group's up and down yields per soft bin combined as the
inference stage combines them (:func:`phenoflow.inference.theory.group_shift`), in TensorFlow
so that they are differentiable in the bins (max and min almost everywhere).

The rows are those of :attr:`phenoflow.binning.gmm.profile.LikelihoodModel.shifts`: one per
(process, group) with variation weights, in the order of :func:`theory_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.variations import Variation, groups


@dataclass(frozen=True)
class ShiftRows:
    """Per row of the model's ``shifts``: its process's index ``process`` among the model's
    processes, the ``combine`` of its group and the columns of its members ``members``
    (start, stop) among the member columns of :func:`member_columns`."""

    process: tuple[int, ...]
    combine: tuple[str, ...]
    members: tuple[tuple[int, int], ...]


def theory_rows(processes: Sequence[str], variations: Mapping[str, Sequence[Variation]],
                columns: Sequence[str]) -> tuple[tuple[tuple[str, str], ...], ShiftRows, tuple[str, ...]]:  # fmt: skip
    """The (process, group) rows of the model's ``shifts`` for the ``processes`` whose
    ``variations`` all have weight ``columns`` (a process with none of them gets no row, as the
    inference stage gives it no theory shift), their :class:`ShiftRows`, and each member's column
    name in member order."""
    shifts, proc, combine, members, names = [], [], [], [], []
    for p, name in enumerate(processes):
        own = variations.get(name, ())
        present = [v for v in own if v.column in columns]
        if not present:
            continue
        if len(present) != len(own):
            raise ValueError(
                f"process {name}: no weights for its variations {[v.column for v in own if v not in present]}"
            )
        for group, rows in groups(own).items():
            shifts.append((name, group))
            proc.append(p)
            combine.append(rows[0].combine)
            members.append((len(names), len(names) + len(rows)))
            names += [v.column for v in rows]
    return tuple(shifts), ShiftRows(tuple(proc), tuple(combine), tuple(members)), tuple(names)


def member_columns(
    rows: ShiftRows, names: Sequence[str], process_index: np.ndarray, columns: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Each event's weight in every member column (n, M): the variation's weight on the events of
    its row's process, 0 on the others."""
    out = np.zeros((len(process_index), len(names)))
    for p, (a, b) in zip(rows.process, rows.members):
        mine = process_index == p
        for j in range(a, b):
            out[:, j] = np.where(mine, np.asarray(columns[names[j]], dtype=np.float64), 0.0)
    return out


def soft_shifts(rows: ShiftRows, nominal, members):
    """The up and down yields (..., J, K) of every row from the nominal yields of the processes
    (..., P, K) and the members' yields (..., M, K), each floored at 0 and combined as
    :func:`phenoflow.inference.theory.group_shift` does (TensorFlow)."""
    import tensorflow as tf

    members = tf.maximum(members, 0.0)
    up, down = [], []
    for p, combine, (a, b) in zip(rows.process, rows.combine, rows.members):
        nom, m = tf.maximum(nominal[..., p, :], 0.0), members[..., a:b, :]
        if combine == "envelope":
            hi, lo = tf.maximum(nom, tf.reduce_max(m, axis=-2)), tf.minimum(nom, tf.reduce_min(m, axis=-2))
        elif combine == "hessian":
            pairs = (
                tf.reshape(m, tf.concat([tf.shape(m)[:-2], [(b - a) // 2, 2, tf.shape(m)[-1]]], 0))
                - nom[..., None, None, :]
            )
            hi = nom + tf.sqrt(tf.reduce_sum(tf.maximum(tf.reduce_max(pairs, axis=-2), 0.0) ** 2, axis=-2) + 1e-300)
            lo = nom - tf.sqrt(tf.reduce_sum(tf.maximum(-tf.reduce_min(pairs, axis=-2), 0.0) ** 2, axis=-2) + 1e-300)
        else:  # replicas: standard deviation; symmhessian: root sum of squares
            d = m - (tf.reduce_mean(m, axis=-2, keepdims=True) if combine == "replicas" else nom[..., None, :])
            scale = 1.0 / (b - a - 1) if combine == "replicas" else 1.0
            delta = tf.sqrt(scale * tf.reduce_sum(d * d, axis=-2) + 1e-300)
            hi, lo = nom + delta, nom - delta
        up.append(hi)
        down.append(tf.maximum(lo, 0.0))
    return tf.stack(up, axis=-2), tf.stack(down, axis=-2)
