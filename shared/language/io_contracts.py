"""`pipe_io_contracts` of a valid library: each pipe's inputs and output in the protocol's closed shape. Pure."""

from __future__ import annotations

from typing import Any

from shared.language.check_context import CheckContext
from shared.language.concept_spec import ConceptSpec, Multiplicity, Presence
from shared.language.contract_schema import ContractSchemas


def pipe_io_contracts(context: CheckContext) -> dict[str, dict[str, Any]]:
    """Contracts of every pipe of the library, keyed `domain.pipe_code`.

    The JSON Schemas are built once per concept for the whole library, so pipes sharing a concept share
    its schema object: the contracts are read-only.
    """
    schemas = ContractSchemas(context.library)
    contracts: dict[str, dict[str, Any]] = {}
    for ref, entry in context.library.pipes.items():
        contract = context.contract(entry)
        inputs = {
            name: {
                "concept_ref": concept,
                "presence": spec.presence.value,
                **_multiplicity(spec),
                "json_schema": schemas.input_schema(concept, spec),
            }
            for name, (spec, concept) in contract.inputs.items()
        }
        spec, concept = contract.output
        output = {
            "concept_ref": concept,
            **_multiplicity(spec),
            "optional": spec.presence is Presence.OPTIONAL,
            "json_schema": schemas.output_schema(concept, spec),
        }
        contracts[ref] = {"inputs": inputs, "output": output}
    return contracts


def _multiplicity(spec: ConceptSpec) -> dict[str, Any]:
    fixed = spec.multiplicity is Multiplicity.FIXED
    return {"multiplicity": spec.multiplicity.value, "item_count": spec.count if fixed else None}
