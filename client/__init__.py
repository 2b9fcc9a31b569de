"""A typed Python client of the methodflow service, needing only httpx and pydantic.

Unlike the service's packages, whose `__init__.py` stay empty, this one names the client's public face,
so that `from client import MethodflowClient` is all a user writes.
"""

from client.async_client import AsyncMethodflowClient
from client.errors import (
    AccountProblem,
    InputProblem,
    MethodflowError,
    MethodProblem,
    OperatorProblem,
    RunStillRunning,
    RuntimeProblem,
    ServiceUnavailable,
    WaitTimeout,
)
from client.models import (
    CancelRequested,
    Deliveries,
    Formatted,
    LintReport,
    ModelDeck,
    ResultItems,
    ResumeJob,
    ResumeJobAccepted,
    ResumeJobRun,
    RunPage,
    RunProgress,
    RunRecord,
    RunResults,
    RunStarted,
    RunStatus,
    RunSummary,
    RunUsage,
    ValidationVerdict,
    Version,
)
from client.retrying import RetryPolicy
from client.sync_client import MethodflowClient
from client.tool_models import (
    GeneratedCode,
    Health,
    ModelCheck,
    OutputTemplate,
    Readiness,
    ResolvedCrate,
    RunnerCode,
)
from client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AccountProblem",
    "AsyncMethodflowClient",
    "CancelRequested",
    "Deliveries",
    "Formatted",
    "GeneratedCode",
    "Health",
    "InputProblem",
    "LintReport",
    "MethodProblem",
    "MethodflowClient",
    "MethodflowError",
    "ModelCheck",
    "ModelDeck",
    "OperatorProblem",
    "OutputTemplate",
    "Readiness",
    "ResolvedCrate",
    "ResultItems",
    "ResumeJob",
    "ResumeJobAccepted",
    "ResumeJobRun",
    "RetryPolicy",
    "RunPage",
    "RunProgress",
    "RunRecord",
    "RunResults",
    "RunStarted",
    "RunStatus",
    "RunStillRunning",
    "RunSummary",
    "RunUsage",
    "RunnerCode",
    "RuntimeProblem",
    "ServiceUnavailable",
    "ValidationVerdict",
    "Version",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
