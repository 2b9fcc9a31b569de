"""Durable runs: the workflow's contract (inputs, results, progress, names) shared by the API and the workers. Pure."""
