"""The HTTP API: validates requests and (later) submits runs to Temporal; never imports `worker`."""
