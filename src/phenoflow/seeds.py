"""Derived random seeds: one per (global seed, stage, process, chunk), stable across runs."""

from __future__ import annotations

import hashlib

#: Pythia8 accepts seeds in [1, 900 000 000].
MAX_PYTHIA_SEED = 900_000_000


def derive_seed(global_seed: int, *keys: str | int, maximum: int = MAX_PYTHIA_SEED) -> int:
    """Seed in [1, maximum] from the global seed and any keys (e.g. process name, chunk index).

    The mapping is a SHA-256 hash, so it does not depend on Python's hash randomisation, and
    adding a chunk or a process never changes the seed of an existing one.
    """
    text = "/".join(str(k) for k in (global_seed, *keys))
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % maximum + 1
