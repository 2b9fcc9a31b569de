"""The MTHDS interpreter: working memory, the controller walk, pure operators and dry runs (pure)."""
