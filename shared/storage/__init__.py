"""Blob storage: the one impure corner of `shared/` (disk, later S3), read and written by API and workers alike.

Never imported by workflow code; the architecture test keeps the rest of `shared/` pure and away from it.
"""
