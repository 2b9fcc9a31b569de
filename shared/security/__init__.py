"""The SSRF guard (http-api.md §10.5): which destinations callbacks and input downloads may reach."""
