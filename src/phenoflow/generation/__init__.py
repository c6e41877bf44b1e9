"""Event generation: Pythia8 (default) and, in later stages, MadGraph/LHE backends."""
