"""Training tasks: what the trainer changes for a kind of run (token labeling ...)."""
