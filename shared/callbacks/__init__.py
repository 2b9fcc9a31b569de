"""Completion callbacks: what is pure about them (signing and verifying the `run.finished` event)."""
