"""Temporal activities, one module per family of side effects."""
