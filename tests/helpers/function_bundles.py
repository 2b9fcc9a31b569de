"""Bundles of PipeFunc steps that the run tests share: a chain of steps each feeding the next, and a
batch of one function over a list of texts."""

from __future__ import annotations


def chain_bundle(function_name: str, steps: int, domain: str) -> str:
    """`step_1` → ... → `step_<steps>` of pipe `chain`, each calling `function_name` on the previous
    step's text (the first on the input `name`)."""
    inputs = ["name", *(f"text_{step}" for step in range(1, steps))]
    pipes = "".join(
        f"""
[pipe.step_{step}]
type = "PipeFunc"
description = "Step {step}"
inputs = {{ {source} = "Text" }}
output = "Text"
function_name = "{function_name}"
"""
        for step, source in enumerate(inputs, start=1)
    )
    sequence = ", ".join(
        f'{{ pipe = "step_{step}", result = "text_{step}" }}' for step in range(1, steps + 1)
    )
    return f"""domain = "{domain}"
main_pipe = "chain"
{pipes}
[pipe.chain]
type = "PipeSequence"
description = "{steps} steps, each feeding the next"
inputs = {{ name = "Text" }}
output = "Text"
steps = [{sequence}]
"""


def batch_bundle(function_name: str, domain: str) -> str:
    """Pipe `echo_all`: `function_name` over every text of the input `items` (one `item` each)."""
    return f"""domain = "{domain}"
main_pipe = "echo_all"

[pipe.echo_all]
type = "PipeBatch"
description = "Every item through the function"
inputs = {{ items = "Text[]" }}
output = "Text[]"
branch_pipe_code = "echo_one"
input_list_name = "items"
input_item_name = "item"

[pipe.echo_one]
type = "PipeFunc"
description = "One item through the function"
inputs = {{ item = "Text" }}
output = "Text"
function_name = "{function_name}"
"""
