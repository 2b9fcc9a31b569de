"""A fake OpenAI-compatible provider in a process of its own, answering every call after a fixed latency.

Usage: `python -m bench.model_provider --port P --latency-ms MS --key KEY`. The pools benchmark runs it
apart from the API it measures: thousands of batch calls answered in the API's process would slow the
API, not the workers, and blur what the benchmark compares.
"""

from __future__ import annotations

import argparse

import uvicorn

from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.openai_server import openai_app
from worker.dev_server import HOST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--key", required=True)
    given = parser.parse_args()
    # One fault for every call: its delay is the latency; it answers normally after it.
    server = ModelServer(
        "openai",
        api_key=given.key,
        port=given.port,
        faults=[Fault(delay=given.latency_ms / 1000, times=10**12)],
    )
    uvicorn.run(openai_app(server), host=HOST, port=given.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
