"""phenoflow: a reproducible collider-phenomenology workflow library.

One package per stage, each module one idea: ``generation`` (Pythia8, LHE, MadGraph), ``detector``
(the fast simulation and the Delphes-layout ntuples), ``events`` (observables, selection, skim),
``features`` (feature tables, classes, jet images), ``models``, ``evaluation`` (metrics and
plots), ``binning``, ``inference``; each exports its public names (``__all__``). The Snakemake rules in ``workflow/rules`` call these through the thin
scripts in ``workflow/scripts/``.
"""

#: The package version, written only here (pyproject.toml reads it).
__version__ = "0.1.0"
