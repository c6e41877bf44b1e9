"""Binning of classifier scores: the rule every method is judged by, the methods, the study and its plots."""
