"""The Kubernetes manifests (deploy/k8s) agree with Kubernetes, with KEDA and with the code.

Every overlay is rendered by the real `kubectl kustomize`; each object is checked against the Kubernetes
schemas (`kubernetes-validate`, strict) or KEDA's CRD schemas (tests/data/keda). Environment names,
commands, ports, task queues and the Temporal namespace are checked against the settings classes, the
console script, the pool code and the SDK's environment configuration; the probe paths are asked of
the real API and worker processes, started with the manifests' own commands and settings.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, cast, get_args

import click
import httpx
import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from temporalio.envconfig import ClientConfigProfile

from api.settings import ApiSettings
from shared.runs.connection import sdk_environment
from shared.runs.names import callbacks_task_queue
from tests.helpers.container_files import PYPROJECT, REPO_ROOT, TEMPORAL_SDK_VARIABLES
from worker import cli
from worker.dev_server import free_port
from worker.pools import pool_names, pool_task_queues
from worker.settings import WorkerSettings

Manifest = dict[str, Any]

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KEDA_CRDS = REPO_ROOT / "tests" / "data" / "keda"
OVERLAYS = ("dev", "prod", "temporal-cloud", "temporal-cloud-mtls")
CLOUD_OVERLAYS = ("temporal-cloud", "temporal-cloud-mtls")
# A Kubernetes release kubernetes-validate ships schemas of; autoscaling/v2 and policy/v1 are GA there.
KUBERNETES_VERSION = "1.30.0"
POOLS = ("main", "llm", "callbacks")
SETTINGS_SECRET = "methodflow-secrets"  # noqa: S105 -- the Secret's name, not a secret
# Read by libraries the processes use, not by our settings: boto3 and the OpenTelemetry SDK.
EXTERNAL_PREFIXES = ("AWS_", "OTEL_")
# Secrets the settings classes do not hold: boto3's keys and the SDK's Temporal Cloud API key.
EXTERNAL_SECRETS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "TEMPORAL_API_KEY"}
API_PORT = 8081  # the contract's port (Dockerfile.api, ApiSettings.port)

# --- rendering and reading the manifests ---


@functools.cache
def rendered(overlay: str) -> tuple[Manifest, ...]:
    """The objects `kubectl kustomize` renders for an overlay."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(
            "kubectl is not on PATH, so deploy/k8s cannot be rendered: `make test` installs it "
            "(Debian's kubernetes-client, as root), or install kubectl yourself",
            pytrace=False,
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    documents = cast(list[Manifest | None], list(yaml.safe_load_all(result.stdout)))
    return tuple(document for document in documents if document)


def of_kind(overlay: str, kind: str) -> list[Manifest]:
    return [item for item in rendered(overlay) if item["kind"] == kind]


def named(overlay: str, kind: str, name: str) -> Manifest:
    matches = [item for item in of_kind(overlay, kind) if item["metadata"]["name"] == name]
    assert len(matches) == 1, f"{overlay}: expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def labels(item: Manifest) -> dict[str, str]:
    return cast(dict[str, str], item["metadata"].get("labels", {}))


def methodflow_deployments(overlay: str) -> list[Manifest]:
    """The API's and the workers' Deployments (not the dev overlay's Temporal dev server)."""
    return [
        item
        for item in of_kind(overlay, "Deployment")
        if labels(item).get("app.kubernetes.io/name") == "methodflow"
    ]


def api_deployment(overlay: str) -> Manifest:
    return named(overlay, "Deployment", "methodflow-api")


def worker_deployment(overlay: str, pool: str) -> Manifest:
    return named(overlay, "Deployment", f"methodflow-worker-{pool}")


def pod_spec(deployment: Manifest) -> dict[str, Any]:
    return cast(dict[str, Any], deployment["spec"]["template"]["spec"])


def only_container(deployment: Manifest) -> dict[str, Any]:
    containers = cast(list[dict[str, Any]], pod_spec(deployment)["containers"])
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def config_map_data(overlay: str, name: str) -> dict[str, str]:
    return cast(dict[str, str], named(overlay, "ConfigMap", name).get("data", {}))


def container_environment(overlay: str, container: dict[str, Any]) -> dict[str, str | None]:
    """The container's variables: ConfigMap values by name, `None` for a value taken from a Secret."""
    environment: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: only ConfigMaps come in whole: {source}"
        environment.update(config_map_data(overlay, source["configMapRef"]["name"]))
    for variable in container.get("env", []):
        environment[variable["name"]] = variable.get("value")
    return environment


def settings_map(overlay: str) -> dict[str, str]:
    """The ConfigMap every methodflow container reads (one for all: checked below)."""
    (name,) = {
        source["configMapRef"]["name"]
        for deployment in methodflow_deployments(overlay)
        for source in only_container(deployment).get("envFrom", [])
    }
    return config_map_data(overlay, name)


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    return cast(int, number)


def http_probes(container: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """Each probe's (container port, path)."""
    probes: dict[str, tuple[int, str]] = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container:
            get = container[kind]["httpGet"]
            probes[kind] = (named_port(container, get["port"]), get["path"])
    return probes


def secret_name(overlay: str) -> str:
    """The name of the Secret the pods read: the dev overlay's generated one (hashed), else the external one."""
    generated = [item["metadata"]["name"] for item in of_kind(overlay, "Secret")]
    assert all(name.startswith(f"{SETTINGS_SECRET}-") for name in generated)
    return generated[0] if generated else SETTINGS_SECRET


def secret_fields(settings: type[BaseSettings]) -> set[str]:
    """The environment names of a settings class's secrets (its `SecretStr` fields)."""
    return {
        name.upper()
        for name, field in settings.model_fields.items()
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation)
    }


# --- KEDA's CRD schemas ---


def closed(schema: Any) -> Any:
    """The schema with unknown fields refused, as `kubectl apply --validate=strict` refuses them: a
    structural CRD schema would silently prune a misspelled field instead."""
    if isinstance(schema, list):
        return [closed(item) for item in cast(list[Any], schema)]
    if not isinstance(schema, dict):
        return schema
    node = {key: closed(value) for key, value in cast(dict[str, Any], schema).items()}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


@functools.cache
def keda_schema(kind: str) -> dict[str, Any]:
    for path in sorted(KEDA_CRDS.glob("*.yaml")):
        crd = cast(Manifest, yaml.safe_load(path.read_text(encoding="utf-8")))
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [item for item in crd["spec"]["versions"] if item["name"] == "v1alpha1"]
            return cast(dict[str, Any], closed(version["schema"]["openAPIV3Schema"]))
    msg = f"no CRD of {kind} in {KEDA_CRDS}"
    raise LookupError(msg)


def keda_errors(item: Manifest) -> list[str]:
    validator = jsonschema.Draft7Validator(keda_schema(item["kind"]))
    # jsonschema's stubs leave one overload of iter_errors partly untyped; the errors themselves are typed.
    errors: list[jsonschema.ValidationError] = list(validator.iter_errors(item))  # pyright: ignore[reportUnknownMemberType]
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors]


# --- the tests: rendering and schemas ---


def test_every_overlay_is_tested() -> None:
    assert sorted(path.name for path in (K8S_DIR / "overlays").iterdir() if path.is_dir()) == sorted(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_the_api_and_the_three_pools(overlay: str) -> None:
    names = {(item["kind"], item["metadata"]["name"]) for item in rendered(overlay)}
    for pool in POOLS:
        for kind in ("Deployment", "PodDisruptionBudget", "ScaledObject"):
            assert (kind, f"methodflow-worker-{pool}") in names
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        assert (kind, "methodflow-api") in names
    assert ("ServiceAccount", "methodflow") in names
    assert ("NetworkPolicy", "methodflow-worker") in names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    failures: list[str] = []
    for item in rendered(overlay):
        if item["apiVersion"].startswith("keda.sh/"):
            continue  # not Kubernetes' own: KEDA's CRD schema checks it below
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            failures.append(f"{item['kind']} {item['metadata']['name']}: {exc}")
    assert not failures, "\n".join(failures)


def test_the_kubernetes_validation_refuses_an_unknown_field() -> None:
    deployment = api_deployment("prod")
    misspelled = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelled, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_objects_validate_against_kedas_crd_schemas(overlay: str) -> None:
    keda = [item for item in rendered(overlay) if item["apiVersion"].startswith("keda.sh/")]
    assert {item["apiVersion"] for item in keda} == {"keda.sh/v1alpha1"}
    assert len(of_kind(overlay, "ScaledObject")) == len(POOLS)
    failures = [
        f"{item['kind']} {item['metadata']['name']}: {error}" for item in keda for error in keda_errors(item)
    ]
    assert not failures, "\n".join(failures)


def test_the_keda_schema_refuses_an_unknown_field() -> None:
    scaled = named("prod", "ScaledObject", "methodflow-worker-main")
    assert not keda_errors(scaled)
    misspelled = {**scaled, "spec": {**scaled["spec"], "minReplicas": 1}}
    assert any("minReplicas" in error for error in keda_errors(misspelled))


# --- environment and secrets ---


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_and_workers_share_one_settings_config_map(overlay: str) -> None:
    sources = {
        deployment["metadata"]["name"]: [
            source["configMapRef"]["name"] for source in only_container(deployment)["envFrom"]
        ]
        for deployment in methodflow_deployments(overlay)
    }
    assert len(sources) == 1 + len(POOLS)
    assert len({tuple(names) for names in sources.values()}) == 1, sources
    settings = settings_map(overlay)
    # The API and every worker must route operator kinds alike: the same routes, the same main queue.
    assert settings["TASK_QUEUE_ROUTES"]
    assert settings["TEMPORAL_TASK_QUEUE"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_environment_name_is_read_by_the_process(overlay: str) -> None:
    api_fields = {name.upper() for name in ApiSettings.model_fields}
    worker_fields = {name.upper() for name in WorkerSettings.model_fields}

    def documented(name: str) -> bool:
        return name in TEMPORAL_SDK_VARIABLES or name.startswith(EXTERNAL_PREFIXES)

    shared = set(settings_map(overlay))
    assert not {name for name in shared if not (name in api_fields | worker_fields or documented(name))}
    for deployment in methodflow_deployments(overlay):
        fields = api_fields if deployment["metadata"]["name"] == "methodflow-api" else worker_fields
        own = {variable["name"] for variable in only_container(deployment).get("env", [])}
        assert not {name for name in own if not (name in fields or documented(name))}, deployment["metadata"][
            "name"
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_comes_from_a_secret(overlay: str) -> None:
    secrets = secret_fields(ApiSettings) | secret_fields(WorkerSettings) | EXTERNAL_SECRETS
    assert {"API_KEY", "JWT_SECRET_KEY", "COMPLETION_CALLBACK_SECRET", "OPENAI_API_KEY"} <= secrets
    for config_map in of_kind(overlay, "ConfigMap"):
        assert not secrets & set(config_map.get("data", {})), config_map["metadata"]["name"]
    for deployment in methodflow_deployments(overlay):
        for variable in only_container(deployment).get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if variable["name"] in secrets:
                assert "value" not in variable, variable
                assert reference == {"name": secret_name(overlay), "key": variable["name"], "optional": True}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_gets_every_secret_it_reads(overlay: str) -> None:
    def from_secret(deployment: Manifest) -> set[str]:
        return {
            variable["name"]
            for variable in only_container(deployment).get("env", [])
            if "secretKeyRef" in variable.get("valueFrom", {})
        }

    connection = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TEMPORAL_API_KEY"}
    assert from_secret(api_deployment(overlay)) == secret_fields(ApiSettings) | connection
    # The main pool runs whatever no route moves, so it reads every secret a worker may need.
    assert from_secret(worker_deployment(overlay, "main")) == secret_fields(WorkerSettings) | connection
    assert (
        from_secret(worker_deployment(overlay, "llm")) == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} | connection
    )
    assert from_secret(worker_deployment(overlay, "callbacks")) == {"COMPLETION_CALLBACK_SECRET"} | connection


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_dev_ships_a_secret_and_its_values_are_placeholders(overlay: str) -> None:
    secrets = of_kind(overlay, "Secret")
    if overlay != "dev":
        assert secrets == [], "prod overlays expect an external Secret"
        return
    (secret,) = secrets
    assert secret["metadata"]["name"].startswith(f"{SETTINGS_SECRET}-")  # the generator's hashed name
    assert secret["data"]
    assert all(b"placeholder" in base64.b64decode(value) for value in secret["data"].values())


# --- commands, ports, probes, pods ---


def worker_command_parameters(command: list[str]) -> dict[str, Any]:
    """The parameters `methodflow` reads from a worker's command line (click's own parsing)."""
    assert command[0] == "methodflow"
    assert PYPROJECT["project"]["scripts"]["methodflow"] == "worker.cli:app"
    group = cast(click.Group, typer.main.get_command(cli.app))
    subcommand = group.commands[command[1]]
    with subcommand.make_context(command[1], command[2:]) as context:
        return dict(context.params)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_commands_exist(overlay: str) -> None:
    api = only_container(api_deployment(overlay))
    command = api["command"]
    assert command[0] == "uvicorn"
    assert (Path(sys.executable).parent / "uvicorn").exists(), "uvicorn is a dependency with a console script"
    assert "--factory" in command
    module, _, factory = command[1].partition(":")
    assert callable(getattr(import_module(module), factory))
    assert command[command.index("--port") + 1] == str(API_PORT)

    settings = settings_map(overlay)
    worker_settings = WorkerSettings(
        temporal_task_queue=settings["TEMPORAL_TASK_QUEUE"], task_queue_routes=settings["TASK_QUEUE_ROUTES"]
    )
    for pool in POOLS:
        parameters = worker_command_parameters(only_container(worker_deployment(overlay, pool))["command"])
        assert parameters["pool"] == pool
        assert pool in pool_names(worker_settings.routes)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_match_the_settings(overlay: str) -> None:
    settings = settings_map(overlay)
    assert ApiSettings.model_fields["port"].default == API_PORT
    api = only_container(api_deployment(overlay))
    assert [(port["name"], port["containerPort"]) for port in api["ports"]] == [("http", API_PORT)]
    service = named(overlay, "Service", "methodflow-api")
    assert [named_port(api, port["targetPort"]) for port in service["spec"]["ports"]] == [API_PORT]
    annotations = api_deployment(overlay)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(API_PORT)

    health, metrics = int(settings["WORKER_HEALTH_PORT"]), int(settings["WORKER_METRICS_PORT"])
    for pool in POOLS:
        deployment = worker_deployment(overlay, pool)
        worker = only_container(deployment)
        ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
        assert ports == {"health": health, "metrics": metrics}
        assert {port for port, _ in http_probes(worker).values()} == {health}
        assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_are_the_contracts_and_the_same_everywhere(overlay: str) -> None:
    api = http_probes(only_container(api_deployment(overlay)))
    assert api["livenessProbe"] == (API_PORT, "/health")
    assert api["readinessProbe"] == (API_PORT, "/ready")
    health = int(settings_map(overlay)["WORKER_HEALTH_PORT"])
    for pool in POOLS:
        worker = http_probes(only_container(worker_deployment(overlay, pool)))
        assert worker["livenessProbe"] == (health, "/healthz")
        assert worker["readinessProbe"] == (health, "/ready")
        assert worker == http_probes(only_container(worker_deployment("dev", pool)))
    assert api == http_probes(only_container(api_deployment("dev")))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_have_time_to_drain_before_they_are_killed(overlay: str) -> None:
    settings = settings_map(overlay)
    heartbeat = float(settings["PIPE_ACTIVITY_HEARTBEAT_SECONDS"])
    drain = float(settings["WORKER_GRACEFUL_SHUTDOWN_SECONDS"])
    for pool in POOLS:
        grace = pod_spec(worker_deployment(overlay, pool))["terminationGracePeriodSeconds"]
        assert grace > heartbeat + drain, pool


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down(overlay: str) -> None:
    account = named(overlay, "ServiceAccount", "methodflow")
    assert account["automountServiceAccountToken"] is False
    data_dir = settings_map(overlay)["DATA_DIR"]
    for deployment in methodflow_deployments(overlay):
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == "methodflow"
        assert spec["automountServiceAccountToken"] is False
        assert "replicas" not in deployment["spec"], "an autoscaler owns the replicas"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] != 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        container = only_container(deployment)
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        # The root filesystem is read-only: every place the process writes is a volume.
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
        assert "emptyDir" in mounts["/tmp"]  # noqa: S108 -- the pods' mount path, nothing written here
        assert data_dir in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_the_service_ports(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    for deployment in methodflow_deployments(overlay):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        (policy,) = [
            policy
            for policy in policies
            if policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        container = only_container(deployment)
        admitted = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
        if deployment["metadata"]["name"] == "methodflow-api":
            assert admitted == {API_PORT}
        else:
            assert admitted == {port["containerPort"] for port in container["ports"]}
            # Workers: only the monitoring namespace may reach them (the kubelet's probes pass anyway).
            for rule in policy["spec"]["ingress"]:
                assert rule["from"] == [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
                ]


# --- autoscaling: the queues and the Temporal namespace the code uses ---


def keda_metadata(overlay: str, trigger: dict[str, Any], target: Manifest) -> dict[str, str]:
    """The trigger's metadata as KEDA reads it: a `<name>FromEnv` entry resolved from the target's
    first container (its env and its envFrom ConfigMap), as KEDA's resolver does."""
    environment = container_environment(overlay, only_container(target))
    metadata = dict(cast(dict[str, str], trigger["metadata"]))
    for key, variable in list(metadata.items()):
        if key.endswith("FromEnv"):
            value = environment.get(variable)
            assert value is not None, f"{key}: {variable} is not a plain variable of the target"
            metadata.setdefault(key.removesuffix("FromEnv"), value)
    return metadata


def code_connection(overlay: str, container: dict[str, Any]) -> ClientConfigProfile:
    """The Temporal connection the code makes from this container's plain environment (the optional
    secrets left out: TLS must not hang on one being given), as shared/runs/connection.py reads it."""
    environment = {
        name: value for name, value in container_environment(overlay, container).items() if value is not None
    }
    return ClientConfigProfile.load(disable_file=True, override_env_vars=sdk_environment(environment))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaled_objects_watch_the_queues_and_namespace_the_code_uses(overlay: str) -> None:
    settings = settings_map(overlay)
    main_queue = settings["TEMPORAL_TASK_QUEUE"]
    assert main_queue == WorkerSettings.model_fields["temporal_task_queue"].default
    worker_settings = WorkerSettings(
        temporal_task_queue=main_queue, task_queue_routes=settings["TASK_QUEUE_ROUTES"]
    )
    deck = worker_settings.load_model_deck()
    api_connection = code_connection(overlay, only_container(api_deployment(overlay)))
    queues_of_pool: dict[str, set[str]] = {}
    for pool in POOLS:
        target = worker_deployment(overlay, pool)
        scaled = named(overlay, "ScaledObject", f"methodflow-worker-{pool}")
        assert scaled["spec"]["scaleTargetRef"] == {"name": target["metadata"]["name"]}
        connection = code_connection(overlay, only_container(target))
        queues: set[str] = set()
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "temporal"
            metadata = keda_metadata(overlay, trigger, target)
            assert metadata["endpoint"] == connection.address == api_connection.address
            assert metadata["namespace"] == connection.namespace == api_connection.namespace
            queue_types = set(metadata["queueTypes"].split(","))
            # Workflow tasks are all on the main queue (and the deliveries' on theirs).
            assert queue_types == ({"activity"} if pool == "llm" else {"workflow", "activity"})
            assert int(metadata["targetQueueSize"]) > 0
            queues.add(metadata["taskQueue"])
        assert queues == set(pool_task_queues(main_queue, worker_settings.routes, deck, pool))
        queues_of_pool[pool] = queues
    assert queues_of_pool == {
        "main": {main_queue},
        "llm": {f"{main_queue}-llm"},
        "callbacks": {callbacks_task_queue(main_queue)},
    }
    # Every pool the routes name has a Deployment: no routed kind waits on a queue nobody polls.
    assert set(pool_names(worker_settings.routes)) - {"all"} == set(POOLS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_main_pool_never_scales_to_zero(overlay: str) -> None:
    replicas = {
        pool: named(overlay, "ScaledObject", f"methodflow-worker-{pool}")["spec"]["minReplicaCount"]
        for pool in POOLS
    }
    assert replicas["main"] >= 1
    assert replicas["callbacks"] >= 1
    assert replicas["llm"] == 0


@pytest.mark.parametrize("overlay", CLOUD_OVERLAYS)
def test_cloud_overlays_connect_with_tls_and_their_scalers_authenticate(overlay: str) -> None:
    for deployment in methodflow_deployments(overlay):
        connection = code_connection(overlay, only_container(deployment))
        assert connection.tls is not None
        assert not connection.tls.disabled
        assert connection.address is not None
        assert connection.address.endswith(".tmprl.cloud:7233")
    (authentication,) = of_kind(overlay, "TriggerAuthentication")
    references = {
        (ref["parameter"], ref["name"], ref["key"]) for ref in authentication["spec"]["secretTargetRef"]
    }
    if overlay == "temporal-cloud":
        # The key the pods read as TEMPORAL_API_KEY.
        assert references == {("apiKey", SETTINGS_SECRET, "TEMPORAL_API_KEY")}
    else:
        (volume,) = [
            volume for volume in pod_spec(worker_deployment(overlay, "main"))["volumes"] if "secret" in volume
        ]
        secret = volume["secret"]["secretName"]
        assert references == {("cert", secret, "tls.crt"), ("key", secret, "tls.key")}
        settings = settings_map(overlay)
        mount = next(
            mount["mountPath"]
            for mount in only_container(worker_deployment(overlay, "main"))["volumeMounts"]
            if mount["name"] == volume["name"]
        )
        assert settings["TEMPORAL_TLS_CLIENT_CERT"] == f"{mount}/tls.crt"
        assert settings["TEMPORAL_TLS_CLIENT_KEY"] == f"{mount}/tls.key"
    for scaled in of_kind(overlay, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["authenticationRef"] == {"name": authentication["metadata"]["name"]}


# --- the probe and scrape paths, asked of the real processes ---


@dataclass(frozen=True)
class Running:
    """A process started with a container's command; `ports` maps the container's ports to its own."""

    container: dict[str, Any]
    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[int, int]

    def get(self, container_port: int, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.ports[container_port]}{path}", timeout=5)

    def wait_answering(self, container_port: int, path: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.container['name']} exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                self.get(container_port, path)
            except httpx.TransportError:
                time.sleep(0.1)
            else:
                return
        pytest.fail(f"{self.container['name']}: {path} did not answer within {within} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def process_environment(
    container: dict[str, Any], temporal_address: str, data_dir: Path, task_queue: str
) -> dict[str, str]:
    """The dev overlay's environment for this container, on this machine: the dev server, a data dir, a
    main task queue of the test's own (the dev server is shared with other tests) and the dev Secret's
    values."""
    (secret,) = of_kind("dev", "Secret")
    environment = {**os.environ}
    for name, value in container_environment("dev", container).items():
        if value is not None:
            environment[name] = value
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference is not None and reference["key"] in secret["data"]:
            environment[variable["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
    data_dir.mkdir(parents=True, exist_ok=True)
    environment.update(
        TEMPORAL_ADDRESS=temporal_address,
        DATA_DIR=str(data_dir),
        TEMPORAL_TASK_QUEUE=task_queue,
    )
    return environment


def start(
    stack: ExitStack, command: list[str], environment: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """The container's command (its console script from this venv), stopped with SIGTERM as the kubelet
    stops it."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / command[0]), *command[1:]],
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    return process


@pytest.fixture(scope="module")
def processes(
    temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Generator[dict[str, Running]]:
    """The dev overlay's API and its three worker pools, each run with its container's command and
    environment on loopback ports, against the dev server; once every process answers."""
    directory = tmp_path_factory.mktemp("k8s-processes")
    # One main queue for all four, as in the cluster: the API's /ready sees the pools poll its queues.
    task_queue = f"k8s-probes-{uuid.uuid4().hex[:8]}"
    settings = settings_map("dev")
    health, metrics = int(settings["WORKER_HEALTH_PORT"]), int(settings["WORKER_METRICS_PORT"])
    with ExitStack() as stack:
        started: dict[str, Running] = {}
        api = only_container(api_deployment("dev"))
        port = free_port()
        command = list(api["command"])
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
        log = directory / "api.log"
        process = start(
            stack, command, process_environment(api, temporal_address, directory / "api", task_queue), log
        )
        started["api"] = Running(api, process, log, {API_PORT: port})
        for pool in POOLS:
            worker = only_container(worker_deployment("dev", pool))
            ports = {health: free_port(), metrics: free_port()}
            environment = process_environment(worker, temporal_address, directory / pool, task_queue)
            environment.update(WORKER_HEALTH_PORT=str(ports[health]), WORKER_METRICS_PORT=str(ports[metrics]))
            log = directory / f"{pool}.log"
            process = start(stack, worker["command"], environment, log)
            started[pool] = Running(worker, process, log, ports)
        started["api"].wait_answering(API_PORT, "/health")
        for pool in POOLS:
            # The health port listens once the worker polls: what the startup probe waits for.
            started[pool].wait_answering(health, "/healthz")
        yield started


# The first test to use `processes` waits for four processes to start on a shared machine.
@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", ["api", *POOLS])
def test_every_probe_path_answers_in_the_running_process(processes: dict[str, Running], name: str) -> None:
    running = processes[name]
    probes = http_probes(running.container)
    assert {"livenessProbe", "readinessProbe"} <= set(probes)
    for kind, (port, path) in probes.items():
        # Readiness may lag the first answer (a worker is ready once it polls): the kubelet asks again.
        deadline = time.monotonic() + (30 if kind == "readinessProbe" else 0)
        response = running.get(port, path)
        while response.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            response = running.get(port, path)
        assert response.status_code == 200, f"{kind} {path}: {response.status_code} {response.text}"


@pytest.mark.timeout(180)
def test_the_three_pools_poll_every_queue_the_api_routes_to(processes: dict[str, Running]) -> None:
    api = processes["api"]
    # A poller shows in Temporal's task queue description once it has polled: allow it a few seconds.
    deadline = time.monotonic() + 30
    readiness = api.get(API_PORT, "/ready").json()
    while readiness.get("unpolled_task_queues") != [] and time.monotonic() < deadline:
        time.sleep(0.5)
        readiness = api.get(API_PORT, "/ready").json()
    assert readiness["unpolled_task_queues"] == [], readiness


def assert_prometheus_text(running: Running, deployment: Manifest) -> None:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    response = running.get(int(annotations["prometheus.io/port"]), annotations["prometheus.io/path"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in response.text


@pytest.mark.timeout(180)
def test_the_api_scrape_path_answers_prometheus_text(processes: dict[str, Running]) -> None:
    assert_prometheus_text(processes["api"], api_deployment("dev"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("pool", POOLS)
def test_every_worker_scrape_path_answers_prometheus_text(processes: dict[str, Running], pool: str) -> None:
    assert_prometheus_text(processes[pool], worker_deployment("dev", pool))
