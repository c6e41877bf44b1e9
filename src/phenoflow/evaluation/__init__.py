"""Weighted metrics, the evaluation of one classifier, the comparison of all and their plots."""
