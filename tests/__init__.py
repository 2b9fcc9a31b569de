"""Methodflow test suite."""
