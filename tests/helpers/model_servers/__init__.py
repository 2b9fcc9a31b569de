"""Stand-ins for model providers (OpenAI-compatible, Anthropic) on loopback ports, for the real SDKs."""
