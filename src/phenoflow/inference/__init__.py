"""Statistical inference on optimised binnings: HistFactory workspaces (pyhf), expected significances and limits."""
