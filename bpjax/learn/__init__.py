"""Learning the category weights: offline training and walk-forward evaluation, the online
learner, reports."""
