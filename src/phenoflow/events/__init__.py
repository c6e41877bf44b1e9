"""Events after the detector: observables, substructure, selection and the skim."""
