"""The Pipe Builder: an MTHDS method of ours (builder.mthds) that writes, checks and repairs bundles."""
