"""Task-queue routing and worker pools: the routes setting, the queue of each operator call, the queues
each pool polls, and the deck's rates (bad inputs included)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from shared.language.model_deck import DeckError, service_deck
from shared.language.parser import parse_bundle
from shared.language.pipe_blueprints import PipeBlueprint
from shared.language.report import BundleSource
from shared.runs.task_routes import RoutesError, TaskRouting, parse_routes, routing_for
from shared.runs.workflow_io import ActivityPolicy
from worker.pools import QueueRole, UnknownPoolError, polled_queues, pool_names, pool_task_queues

RATED = """
[models.paced]
type = "llm"
provider = "openai"
model = "paced-model"

[models.paced.rate]
calls_per_second = 5

[provider_rates.anthropic]
tokens_per_minute = 60000
tokens_per_call = 2000
"""


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("llm", "entry 1 ('llm') is not kind=pool"),
        ("llm=a,gpu=b", "entry 2 ('gpu=b') names no operator kind"),
        ("llm=a,llm=b", "entry 2 ('llm=b') routes 'llm' a second time"),
        ("llm=all", "names an unusable pool"),
        ("llm=callbacks", "names an unusable pool"),
        ("llm=LLM", "names an unusable pool"),
        ("func=", "names an unusable pool"),
    ],
)
def test_unusable_routes_are_refused_naming_the_entry(text: str, fault: str) -> None:
    with pytest.raises(RoutesError, match="TASK_QUEUE_ROUTES") as raised:
        parse_routes(text)
    assert fault in str(raised.value)


def test_routes_read_every_kind_and_skip_blank_entries() -> None:
    assert parse_routes("") == {}
    assert parse_routes(" llm = models , ,func=cpu,doc=main") == {
        "llm": "models",
        "func": "cpu",
        "doc": "main",
    }


def blueprint(pipe: str) -> PipeBlueprint:
    outcome = parse_bundle(BundleSource(path="x.mthds", text=f'domain = "d"\n{pipe}'))
    assert outcome.blueprint is not None, outcome.issues
    return next(iter(outcome.blueprint.pipe.values()))


LLM = '[pipe.p]\ntype = "PipeLLM"\ndescription = "d"\noutput = "Text"\nprompt = "hi"\n'
PACED_LLM = LLM + 'model = "paced"\n'
CLAUDE = LLM + 'model = "claude-sonnet"\n'
FUNC = '[pipe.p]\ntype = "PipeFunc"\ndescription = "d"\noutput = "Text"\nfunction_name = "tests.f"\n'


def test_each_kind_goes_to_its_pools_queue_and_limited_models_to_their_rate_queue() -> None:
    deck = service_deck(RATED)
    routing = routing_for("mf", parse_routes("llm=models,func=main"), deck)
    assert routing.kind_queues == {"llm": "mf-models"}  # `main` is the workflow's own queue
    assert routing.queue_for(blueprint(LLM), "native.Text", False) == "mf-models"
    assert routing.queue_for(blueprint(PACED_LLM), "native.Text", False) == "mf-rate-model-paced"
    assert routing.queue_for(blueprint(CLAUDE), "native.Text", False) == "mf-rate-provider-anthropic"
    assert routing.queue_for(blueprint(FUNC), "native.Text", False) is None


def test_without_routes_or_rates_everything_stays_on_the_main_queue_and_the_policy_is_unchanged() -> None:
    routing = routing_for("mf", {}, service_deck(None))
    assert routing == TaskRouting()
    assert routing.queue_for(blueprint(LLM), "native.Text", False) is None
    # Recorded policies keep their bytes: an unused routing is left out of the payload.
    assert "routing" not in ActivityPolicy(routing=routing).model_dump_json()


def test_a_rate_becomes_the_stricter_of_its_call_and_token_limits() -> None:
    rates = service_deck(RATED).rates()
    assert rates["model-paced"][0].activities_per_second == 5
    assert rates["provider-anthropic"][0].activities_per_second == 0.5  # 60000 / 60 / 2000
    assert rates["provider-anthropic"][1] == ["claude-sonnet"]


@pytest.mark.parametrize(
    ("deck", "fault"),
    [
        ('[models.x]\ntype = "llm"\nprovider = "o"\nmodel = "m"\nrate = {}\n', "needs calls_per_second"),
        ('[models.x]\ntype = "llm"\nprovider = "o"\nmodel = "m"\nrate = { per_day = 1 }\n', "per_day"),
        (
            '[models.x]\ntype = "llm"\nprovider = "o"\nmodel = "m"\nrate = { calls_per_second = 0 }\n',
            "greater than 0",
        ),
        ("[provider_rates.openai]\ncalls_per_second = -2\n", "greater than 0"),
    ],
)
def test_unusable_rates_stop_the_deck(deck: str, fault: str) -> None:
    with pytest.raises(DeckError, match=fault):
        service_deck(deck)


def test_each_pool_polls_its_own_queues() -> None:
    deck = service_deck(RATED)
    routes = parse_routes("llm=models,func=cpu")
    assert pool_names(routes) == ["all", "main", "callbacks", "cpu", "models"]
    # Rate queues go with the pool of their models' kind: both limited models are LLMs.
    assert pool_task_queues("mf", routes, deck, "models") == [
        "mf-models",
        "mf-rate-model-paced",
        "mf-rate-provider-anthropic",
    ]
    assert pool_task_queues("mf", routes, deck, "main") == ["mf"]
    assert pool_task_queues("mf", routes, deck, "cpu") == ["mf-cpu"]
    assert pool_task_queues("mf", routes, deck, "callbacks") == ["mf-callbacks"]
    everything = polled_queues("mf", routes, deck, "all")
    assert [queue.role for queue in everything] == [
        QueueRole.MAIN,
        QueueRole.OPERATORS,
        QueueRole.OPERATORS,
        QueueRole.RATE,
        QueueRole.RATE,
        QueueRole.CALLBACKS,
    ]
    assert [queue.activities_per_second for queue in everything if queue.role == QueueRole.RATE] == [5, 0.5]
    # Unrouted, the LLM kind (and its rate queues) belong to the main pool.
    assert pool_task_queues("mf", {}, deck, "main") == [
        "mf",
        "mf-rate-model-paced",
        "mf-rate-provider-anthropic",
    ]


def test_an_unknown_pool_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownPoolError,
        match=r"unknown worker pool 'gpu' \(pools of TASK_QUEUE_ROUTES: all, main, callbacks, cpu\)",
    ):
        polled_queues("mf", {"func": "cpu"}, service_deck(None), "gpu")


def test_the_api_refuses_unusable_routes_at_start_up() -> None:
    with pytest.raises(
        ValidationError, match=r"TASK_QUEUE_ROUTES entry 2 \('gpu=b'\) names no operator kind"
    ):
        ApiSettings(task_queue_routes="llm=a,gpu=b")
    assert ApiSettings(task_queue_routes="llm=a").task_queue_routes == "llm=a"
