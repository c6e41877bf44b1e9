"""The fast detector simulation: its card, the simulation and the Delphes-layout ntuples."""
