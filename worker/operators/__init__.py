"""Operator executors that perform side effects: documents, registered functions, (later) models."""
