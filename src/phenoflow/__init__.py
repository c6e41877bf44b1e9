"""phenoflow: a reproducible collider-phenomenology workflow library.

Each module holds one idea: generation (Pythia8), detector-level objects, the Delphes-layout
ntuple format, skimming, observables, datasets, models, metrics, binning and plots. The Snakemake
rules in ``workflow/rules`` call these through the thin scripts in ``scripts/``.
"""

__version__ = "0.1.0"
