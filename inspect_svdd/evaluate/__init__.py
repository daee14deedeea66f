"""How good a model is on labelled images: metrics (scikit-learn), shared by ``evaluate`` and the recipes."""
