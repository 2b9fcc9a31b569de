"""The Temporal worker: runs pipeline workflows and operator activities (later issues); never imports `api`."""
