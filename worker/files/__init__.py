"""The files operators read: Document and Image inputs, by `data:`, `pipelex-storage://` or http(s) URL."""
