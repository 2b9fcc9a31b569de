"""The container files agree with the code: entry points, settings names, ports, search attributes,
storage, secrets, worker pools.

No image is built and no container runs (the suite has no Docker engine): the Dockerfiles are read as
text, the compose file with PyYAML and against the Compose Specification schema (check-jsonschema);
the health probes run against real listeners, and the compose file's Temporal setup script runs with
the pinned Temporal CLI against the suite's dev server.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib import import_module
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import typer
import yaml
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings
from typer.core import TyperGroup

from api.main import create_app
from api.settings import ApiSettings
from shared.language.model_deck import service_deck
from shared.runs.names import SEARCH_ATTRIBUTES
from shared.runs.task_routes import ALL_POOLS, CALLBACKS_POOL, MAIN_POOL
from tests.helpers.container_files import (
    ALL_INTERFACES,
    BASE_IMAGE,
    COMPOSE_FILE,
    IMAGES,
    PROCESS_VARIABLES,
    PYPROJECT,
    REPO_ROOT,
    TEMPORAL_SDK_VARIABLES,
    arguments,
    container_port,
    dockerfile_stages,
    exec_form,
    flag_values,
    health_probe,
    image_env,
    mapping_at,
    single_port,
    strings_at,
)
from tests.helpers.container_files import compose as read_compose
from worker.cli import app as cli_app
from worker.dev_server import DevServer, free_port, temporal_binary
from worker.health import serve_health
from worker.pools import pool_task_queues
from worker.settings import WorkerSettings

COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
# The three pools the manifests and the compose file run (issue 15): workflows and bookkeeping, model
# calls, callback deliveries.
COMPOSE_POOLS = {MAIN_POOL, "llm", CALLBACKS_POOL}
# Read by boto3 and the OpenTelemetry SDK themselves, not by our settings.
LIBRARY_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
}
# A variable or environment entry named like this holds a secret.
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|(^|_)KEY$")
# The secrets compose must refuse to start without.
REQUIRED_SECRETS = {
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "MINIO_APP_PASSWORD",
    "COMPLETION_CALLBACK_SECRET",
    "API_KEY",
}
# Provider keys are optional: empty means that provider is not configured (runs needing it fail typed).
OPTIONAL_SECRETS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
# What a user exports before `docker compose up`: every required secret, nothing else.
USER_ENVIRONMENT = {name: f"{name.lower()}-value-1" for name in REQUIRED_SECRETS}


@functools.cache
def compose() -> dict[str, Any]:
    """The compose file, parsed once (tests that change it change a deep copy)."""
    return read_compose()


# --- compose's variable interpolation (https://docs.docker.com/compose/how-tos/environment-variables/) ---

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<operator>:?[?-])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


@dataclass(frozen=True)
class Interpolation:
    name: str
    operator: str  # "" (plain), ":?" / "?" (required, with a message), ":-" / "-" (a default)
    argument: str


class MissingVariableError(LookupError):
    """A `${VAR:?message}` whose variable is unset: compose stops with the message."""


def interpolations(text: str) -> list[Interpolation]:
    return [
        Interpolation(match["braced"] or match["bare"], match["operator"] or "", match["argument"] or "")
        for match in _INTERPOLATION.finditer(text)
        if not match["escaped"]
    ]


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, operator = match["braced"] or match["bare"], match["operator"] or ""
        value = environment.get(name)
        unset = value is None or (operator.startswith(":") and not value)
        if unset and operator.endswith("?"):
            msg = f"{name}: {match['argument']}"
            raise MissingVariableError(msg)
        if unset and operator.endswith("-"):
            return match["argument"]
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in cast(dict[str, Any], node).items():
            yield key
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in cast(list[Any], node):
            yield from strings_in(item)


# --- the compose file's services ---


def services() -> dict[str, dict[str, Any]]:
    return {name: mapping_at(compose(), "services", name) for name in mapping_at(compose(), "services")}


def services_of(dockerfile: str) -> list[str]:
    """The services built from one of our Dockerfiles."""
    return sorted(
        name
        for name, service in services().items()
        if "build" in service and mapping_at(service, "build").get("dockerfile") == dockerfile
    )


def our_services() -> dict[str, type[BaseSettings]]:
    return {name: settings for dockerfile, settings in IMAGES.values() for name in services_of(dockerfile)}


def environment_of(service: str, user: Mapping[str, str] = USER_ENVIRONMENT) -> dict[str, str]:
    """The service's environment as compose hands it over, with `user`'s variables exported."""
    written: Any = mapping_at(compose(), "services", service).get("environment") or {}
    assert isinstance(written, dict), f"{service}: environment is a mapping"
    return {key: interpolate(str(value), user) for key, value in cast(dict[str, Any], written).items()}


def interpolate_all(node: Any, user: Mapping[str, str]) -> None:
    """Every interpolation of the file resolved, as compose does before anything starts."""
    for text in strings_in(node):
        interpolate(text, user)


def one_shot_script(service: str) -> Path:
    """The script under deploy/compose a one-shot service runs (`entrypoint: [/bin/sh, /compose/X]`)."""
    entrypoint = strings_at(compose(), "services", service, "entrypoint")
    assert entrypoint[0] == "/bin/sh", entrypoint
    mounted = strings_at(compose(), "services", service, "volumes")
    assert "./deploy/compose:/compose:ro" in mounted, f"{service} does not mount deploy/compose"
    script = COMPOSE_DIR / entrypoint[1].removeprefix("/compose/")
    assert entrypoint[1].startswith("/compose/"), entrypoint
    assert script.is_file(), entrypoint
    return script


def seconds(duration: str) -> float:
    """A compose duration like `40s`, `1m30s`."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "an empty duration"
    assert parts is not None, duration
    return int(parts[1] or 0) * 60 + int(parts[2] or 0)


# --- the images ---


@pytest.mark.parametrize("service", sorted(IMAGES))
def test_images_install_the_project_without_dev_extras_and_run_unprivileged(service: str) -> None:
    dockerfile, _ = IMAGES[service]
    stages = dockerfile_stages(dockerfile)
    build, runtime = stages[0], stages[-1]
    assert [arguments(stage, "FROM")[0].split()[0] for stage in stages] == [BASE_IMAGE] * len(stages)
    installs = [run for run in arguments(build, "RUN") if "pip install" in run]
    assert installs, f"{dockerfile} installs nothing"
    for run in installs:
        assert re.search(r"pip install \.(\s|$)", run), run
        assert not re.search(r"(^|\s)(-e|--editable)(\s|$)|\[dev\]", run), run
    copied = {source for argument in arguments(build, "COPY") for source in argument.split()[:-1]}
    wheel_packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert {"pyproject.toml", PYPROJECT["project"]["readme"], *wheel_packages} <= copied
    (user,) = arguments(runtime, "USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert [argument.split()[0] for argument in arguments(runtime, "COPY")] == ["--from=build"]
    assert health_probe(runtime)[0] == "python"


def test_both_images_share_one_user_and_data_dir() -> None:
    api, worker = (dockerfile_stages(dockerfile)[-1] for dockerfile, _ in IMAGES.values())
    assert arguments(api, "RUN") == arguments(worker, "RUN")
    assert arguments(api, "USER") == arguments(worker, "USER")
    assert image_env(api)["DATA_DIR"] == image_env(worker)["DATA_DIR"]
    (setup,) = arguments(api, "RUN")
    uid, _, gid = arguments(api, "USER")[0].partition(":")
    # USER is numeric (so a runtime can tell it is not root); it is the user that owns DATA_DIR.
    assert f"--uid {uid} " in setup
    assert f"--gid {gid} " in setup
    assert f"chown methodflow:methodflow {image_env(api)['DATA_DIR']}" in setup


def test_dockerignore_keeps_out_local_state_but_not_what_is_copied() -> None:
    text = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8")
    patterns = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert not [pattern for pattern in patterns if pattern.startswith("!")], "exceptions are not checked here"
    for required in (".git", ".venv", ".cache", ".data", "tests", "**/__pycache__"):
        assert required in patterns
    for dockerfile, _ in IMAGES.values():
        sources = {
            source
            for stage in dockerfile_stages(dockerfile)
            for argument in arguments(stage, "COPY")
            if not argument.startswith("--from=")
            for source in argument.split()[:-1]
        }
        for source in sources:
            assert not [pattern for pattern in patterns if fnmatch(source, pattern.strip("/"))], source


async def test_api_image_serves_the_factory_on_its_port() -> None:
    runtime = dockerfile_stages("Dockerfile.api")[-1]
    command = exec_form(arguments(runtime, "CMD")[0])
    assert command[0] == "uvicorn"
    assert any(re.match(r"uvicorn\b", dependency) for dependency in PYPROJECT["project"]["dependencies"])
    assert "--factory" in command
    target = next(word for word in command[1:] if ":" in word and not word.startswith("-"))
    module_name, _, attribute = target.partition(":")
    factory = getattr(import_module(module_name), attribute)
    assert factory is create_app
    (port,) = flag_values(command, "--port")
    assert flag_values(command, "--host") == [ALL_INTERFACES]
    assert port == single_port(runtime) == str(ApiSettings().port)
    urls: list[str] = re.findall(r"http://[^'\"]+", health_probe(runtime)[-1])
    (url,) = (urlsplit(found) for found in urls)
    assert (url.hostname, str(url.port)) == ("127.0.0.1", port)
    # The path the probe asks for is a route of the app the factory builds, answering 200.
    transport = httpx.ASGITransport(app=factory(ApiSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await client.get(url.path)).status_code == 200
    (api,) = services_of("Dockerfile.api")
    assert [container_port(mapping) for mapping in strings_at(compose(), "services", api, "ports")] == [port]
    assert "command" not in services()[api], "the image's CMD is the command"


def test_worker_image_runs_the_worker_command_of_the_console_script() -> None:
    runtime = dockerfile_stages("Dockerfile.worker")[-1]
    command = exec_form(arguments(runtime, "CMD")[0])
    assert command == ["methodflow", "worker"]
    module_name, _, attribute = PYPROJECT["project"]["scripts"]["methodflow"].partition(":")
    app = getattr(import_module(module_name), attribute)
    assert isinstance(app, typer.Typer)
    names = {info.name or getattr(info.callback, "__name__", "") for info in app.registered_commands}
    assert "worker" in names
    port = image_env(runtime)["WORKER_HEALTH_PORT"]
    assert port == single_port(runtime)
    assert "os.environ['WORKER_HEALTH_PORT']" in health_probe(runtime)[-1]
    for service in services_of("Dockerfile.worker"):
        # The image's probe reads WORKER_HEALTH_PORT, so a service may move it, but not off EXPOSE unnoticed.
        assert environment_of(service).get("WORKER_HEALTH_PORT", port) == port, service


@pytest.mark.parametrize("service", sorted(IMAGES))
async def test_health_probe_passes_on_an_answer_and_fails_without_one(service: str) -> None:
    runtime = dockerfile_stages(IMAGES[service][0])[-1]
    port = free_port()
    written = health_probe(runtime)
    exposed = f"127.0.0.1:{single_port(runtime)}"
    # The API's probe names its port; the worker's reads WORKER_HEALTH_PORT. Either way, aim it at `port`.
    assert exposed in written[-1] or "WORKER_HEALTH_PORT" in written[-1]
    argv = [
        sys.executable if word == "python" else word.replace(exposed, f"127.0.0.1:{port}") for word in written
    ]
    env = {**os.environ, **image_env(runtime), "WORKER_HEALTH_PORT": str(port)}

    async def probe() -> int:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return await process.wait()

    server = await serve_health(port, host="127.0.0.1")
    try:
        assert await probe() == 0
    finally:
        server.close()
        await server.wait_closed()
    assert await probe() != 0


# --- the compose file: form, secrets, settings ---


def test_compose_file_validates_against_the_compose_specification(tmp_path: Path) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    argv = [str(checker), "--builtin-schema", "vendor.compose-spec"]
    done = subprocess.run([*argv, str(COMPOSE_FILE)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # The same check refuses a file that is wrong (a port list written as one string).
    broken = copy.deepcopy(compose())
    mapping_at(broken, "services", "api")["ports"] = "127.0.0.1:8081:8081"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    done = subprocess.run([*argv, str(tmp_path / "broken.yml")], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def test_every_secret_comes_from_the_environment_and_is_required() -> None:
    found = [found for text in strings_in(compose()) for found in interpolations(text)]
    secrets = [found for found in found if SECRET_NAME.search(found.name)]
    required = {found.name for found in secrets if found.operator == ":?" and found.argument.strip()}
    optional = {found.name for found in secrets if found.operator == ":-" and found.argument == ""}
    assert required == REQUIRED_SECRETS
    assert optional == OPTIONAL_SECRETS
    # No secret has a default value, nor a second, laxer spelling somewhere else in the file.
    assert not [found for found in secrets if found.name in required and found.operator != ":?"]
    assert not [found for found in secrets if found.name not in required | optional]
    # No service holds a secret written in the file: each such entry is exactly one interpolation.
    for name, service in services().items():
        for key, value in cast(dict[str, Any], service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[^}]+\}", str(value)), f"{name}: {key} is written in the file"
    # Unset, each required secret stops the interpolation with its own message.
    for secret in sorted(REQUIRED_SECRETS):
        missing = {key: value for key, value in USER_ENVIRONMENT.items() if key != secret}
        with pytest.raises(MissingVariableError, match=f"^{secret}: set {secret}"):
            interpolate_all(compose(), missing)


@pytest.mark.parametrize("service", sorted(our_services()))
def test_environment_names_are_settings_the_process_reads(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class = our_services()[service]
    assert settings_class.model_config.get("env_prefix", "") == ""
    dockerfile = mapping_at(compose(), "services", service, "build")["dockerfile"]
    environment = {**image_env(dockerfile_stages(dockerfile)[-1]), **environment_of(service)}
    fields = {name.upper(): name for name in settings_class.model_fields}
    aliases = {
        str(choice).upper(): name
        for name, field in settings_class.model_fields.items()
        if field.validation_alias is not None
        for choice in getattr(field.validation_alias, "choices", [field.validation_alias])
    }
    fields |= aliases
    unknown = set(environment) - set(fields) - TEMPORAL_SDK_VARIABLES - PROCESS_VARIABLES - LIBRARY_VARIABLES
    assert not unknown, f"{service}: {sorted(unknown)} is read by nothing"
    for name, value in environment.items():
        if name in fields:
            monkeypatch.setenv(name, value)
    settings: BaseSettings = settings_class()
    for name, value in environment.items():
        if name in fields:
            annotation = settings_class.model_fields[fields[name]].annotation
            assert annotation is not None
            expected = TypeAdapter(annotation).validate_python(value)
            actual = getattr(settings, fields[name])
            if hasattr(actual, "get_secret_value"):  # SecretStr compares by value only through this
                actual, expected = actual.get_secret_value(), expected.get_secret_value()
            assert actual == expected, name


def test_api_and_workers_agree_on_temporal_routes_and_storage() -> None:
    shared = (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_TASK_QUEUE",
        "TASK_QUEUE_ROUTES",
        "STORAGE",
        "STORAGE_S3_ENDPOINT_URL",
        "STORAGE_S3_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "COMPLETION_CALLBACK_SECRET",
    )
    seen = {tuple(environment_of(service).get(name) for name in shared) for service in our_services()}
    assert len(seen) == 1, f"the API and the workers differ: {seen}"
    values = dict(zip(shared, seen.pop(), strict=True))
    # Temporal: the address is the `temporal` service on a port it publishes; the namespace is set up.
    host, _, port = str(values["TEMPORAL_ADDRESS"]).partition(":")
    assert host in services()
    assert port in [container_port(mapping) for mapping in strings_at(compose(), "services", host, "ports")]
    assert environment_of("temporal-setup")["TEMPORAL_NAMESPACE"] == values["TEMPORAL_NAMESPACE"]
    # Storage: the bucket minio-init creates, on the minio service, as the user it creates.
    storage = urlsplit(str(values["STORAGE"]))
    endpoint = urlsplit(str(values["STORAGE_S3_ENDPOINT_URL"]))
    init = environment_of("minio-init")
    assert storage.scheme == "s3"
    assert storage.hostname == init["MINIO_BUCKET"]
    assert endpoint.hostname in services()
    assert str(values["STORAGE_S3_ENDPOINT_URL"]) == init["MINIO_ENDPOINT"]
    assert (values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]) == (
        init["MINIO_APP_USER"],
        init["MINIO_APP_PASSWORD"],
    )
    assert init["MINIO_ROOT_PASSWORD"] == environment_of("minio")["MINIO_ROOT_PASSWORD"]


def test_published_ports_listen_on_the_host_loopback_only() -> None:
    published = {
        name: strings_at(compose(), "services", name, "ports")
        for name, service in services().items()
        if "ports" in service
    }
    assert published
    for name, mappings in published.items():
        for mapping in mappings:
            assert mapping.startswith("127.0.0.1:"), f"{name}: {mapping}"


# --- the compose file: start order ---


def test_every_wait_is_for_a_health_check_or_a_one_shot_that_ends() -> None:
    everything = services()
    healthy = {
        name
        for name, service in everything.items()
        if "healthcheck" in service
        or (
            "build" in service
            and arguments(dockerfile_stages(service["build"]["dockerfile"])[-1], "HEALTHCHECK")
        )
    }
    one_shots = {
        name
        for name, service in everything.items()
        if str(service.get("restart", "no")).startswith(("no", "on-failure"))
    }
    for name, service in everything.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, how in cast(dict[str, Any], depends).items():
            condition = cast(dict[str, Any], how)["condition"]
            if condition == "service_healthy":
                assert target in healthy, f"{name} waits for {target}, which has no health check"
            else:
                assert condition == "service_completed_successfully", f"{name}: {condition}"
                assert target in one_shots, f"{name} waits for {target} to end, but it restarts forever"
    # Each one-shot runs a script of deploy/compose that the shell can parse.
    for name in one_shots:
        script = one_shot_script(name)
        checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, f"{script.name}: {checked.stderr}"
    # The API and every worker start only on a set-up Temporal and an existing bucket.
    for name in our_services():
        conditions = {target: how["condition"] for target, how in everything[name]["depends_on"].items()}
        assert conditions == {
            "temporal-setup": "service_completed_successfully",
            "minio-init": "service_completed_successfully",
        }, name


def test_temporal_runs_on_the_schema_and_dynamic_config_the_compose_file_prepares() -> None:
    server, schema = environment_of("temporal"), environment_of("temporal-schema")
    database = environment_of("postgresql")
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] == schema["POSTGRES_SEEDS"] == "postgresql"
    assert server["POSTGRES_USER"] == schema["POSTGRES_USER"] == database["POSTGRES_USER"]
    assert server["POSTGRES_PWD"] == schema["SQL_PASSWORD"] == database["POSTGRES_PASSWORD"]
    assert (server["DBNAME"], server["VISIBILITY_DBNAME"]) == (schema["DBNAME"], schema["VISIBILITY_DBNAME"])
    script = one_shot_script("temporal-schema").read_text(encoding="utf-8")
    assert "setup-schema" in script
    assert "update-schema" in script
    assert '"$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"' in script
    # The shard count is written down: it cannot change once the cluster exists.
    assert int(server["NUM_HISTORY_SHARDS"]) >= 1
    assert mapping_at(compose(), "services", "temporal", "depends_on", "temporal-schema")["condition"] == (
        "service_completed_successfully"
    )
    mounts = {
        target: source
        for source, target, *_ in (
            volume.split(":") for volume in strings_at(compose(), "services", "temporal", "volumes")
        )
    }
    dynamic = REPO_ROOT / mounts[server["DYNAMIC_CONFIG_FILE_PATH"]]
    assert dynamic.is_file()


def test_worker_services_stop_after_their_drain_and_a_heartbeat() -> None:
    """SIGKILL comes after the drain and after a cancelled activity's next heartbeat (it then ends)."""
    fields = WorkerSettings.model_fields
    for name in services_of("Dockerfile.worker"):
        environment = environment_of(name)
        drain = float(
            environment.get("WORKER_GRACEFUL_SHUTDOWN_SECONDS")
            or str(fields["worker_graceful_shutdown_seconds"].default)
        )
        heartbeat = float(
            environment.get("PIPE_ACTIVITY_HEARTBEAT_SECONDS")
            or str(fields["pipe_activity_heartbeat_seconds"].default)
        )
        assert seconds(services()[name]["stop_grace_period"]) > drain + heartbeat, name


# --- the compose file: worker pools ---


def test_worker_pools_are_the_contracts_and_poll_every_queue() -> None:
    pools: dict[str, str] = {}
    for name in services_of("Dockerfile.worker"):
        command = strings_at(compose(), "services", name, "command")
        assert command[:2] == ["methodflow", "worker"], name
        (pool,) = flag_values(command, "--pool")
        pools[name] = pool
    assert set(pools.values()) == COMPOSE_POOLS
    assert len(pools) == len(COMPOSE_POOLS), "one service a pool"
    # The CLI has the option the commands use.
    group = typer.main.get_command(cli_app)
    assert isinstance(group, TyperGroup)
    command = group.commands.get("worker")
    assert command is not None
    assert any("--pool" in param.opts for param in command.params)
    # With the compose routes and the built-in deck, every queue some run may use is polled by a pool
    # compose runs, and every pool compose runs is one the worker accepts (an unknown one raises).
    (name, *_) = pools
    settings = WorkerSettings(task_queue_routes=environment_of(name)["TASK_QUEUE_ROUTES"])
    deck = service_deck(None)
    main_queue = environment_of(name)["TEMPORAL_TASK_QUEUE"]
    polled = {
        queue
        for pool in pools.values()
        for queue in pool_task_queues(main_queue, settings.routes, deck, pool)
    }
    assert polled == set(pool_task_queues(main_queue, settings.routes, deck, ALL_POOLS))
    assert {f"{main_queue}-llm", f"{main_queue}-callbacks", main_queue} <= polled
    # Two pools scale out: more than one process each.
    for name, pool in pools.items():
        replicas = mapping_at(compose(), "services", name, "deploy")["replicas"]
        assert replicas >= (2 if pool in {MAIN_POOL, "llm"} else 1), name


# --- the compose file: Temporal versions and setup, run for real ---


def test_temporal_images_are_the_release_the_pinned_cli_embeds() -> None:
    done = subprocess.run([str(temporal_binary()), "--version"], capture_output=True, text=True, check=True)
    embedded = re.search(r"Server (\S+), UI (\S+)\)", done.stdout)
    assert embedded is not None, done.stdout
    server_version, ui_version = embedded[1], embedded[2]
    images = {name: str(service["image"]) for name, service in services().items() if "image" in service}
    temporal = {name: image for name, image in images.items() if image.startswith("temporalio/")}
    assert temporal["temporal"] == f"temporalio/server:{server_version}"
    assert temporal["temporal-ui"] == f"temporalio/ui:{ui_version}"
    assert {temporal["temporal-schema"], temporal["temporal-setup"]} == {
        f"temporalio/admin-tools:{server_version}"
    }
    # Every third-party image names its version: nothing floats.
    for name, image in images.items():
        if "build" not in services()[name]:
            tag = image.rpartition(":")[2]
            assert ":" in image, f"{name}: {image}"
            assert tag not in {"latest", ""}, f"{name}: {image}"


def dev_server_dynamic_config(server: DevServer) -> dict[str, Any]:
    """The `--dynamic-config-value K=V` flags the suite's dev server runs with (worker/dev_server.py)."""
    cmdline = Path(f"/proc/{server.process.pid}/cmdline")
    if not cmdline.exists():
        pytest.skip("no /proc: the dev server's command line cannot be read")
    argv = cmdline.read_bytes().decode().split("\0")
    return {
        key: json.loads(value)
        for key, _, value in (pair.partition("=") for pair in flag_values(argv, "--dynamic-config-value"))
    }


def test_compose_temporal_has_the_dynamic_config_of_the_dev_server(temporal_server: DevServer) -> None:
    dev = dev_server_dynamic_config(temporal_server)
    assert dev, "the dev server sets no dynamic config?"
    text = (COMPOSE_DIR / "temporal-dynamicconfig.yaml").read_text(encoding="utf-8")
    config = cast(dict[str, Any], yaml.safe_load(text))
    for key, entries in config.items():
        assert isinstance(entries, list), key
        assert entries, key
        assert all(isinstance(entry, dict) and "value" in entry for entry in cast(list[Any], entries)), key
    values = {key: cast(list[dict[str, Any]], entries)[0]["value"] for key, entries in config.items()}
    # What the dev server of `methodflow dev` and the tests is told, the compose cluster is told too.
    assert {key: values.get(key) for key in dev} == dev


def run_setup(
    address: str, namespace: str, home: Path, attempts: int = 30
) -> subprocess.CompletedProcess[str]:
    script = one_shot_script("temporal-setup")
    names = strings_at(compose(), "services", "temporal-setup", "command")
    env = {
        "PATH": f"{temporal_binary().parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "SETUP_ATTEMPTS": str(attempts),
        "SETUP_SLEEP_SECONDS": "0.5",
    }
    return subprocess.run(
        ["sh", str(script), *names], env=env, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.timeout(120)
def test_temporal_setup_creates_the_namespace_and_search_attributes(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    """The compose file's setup script with the pinned CLI, against the dev server: a fresh namespace
    gets the run search attributes as Keyword, and a second run changes nothing."""
    assert shutil.which("sh") is not None
    assert strings_at(compose(), "services", "temporal-setup", "command") == list(SEARCH_ATTRIBUTES)
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        done = run_setup(temporal_server.address, namespace, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    listing = ["operator", "search-attribute", "list", "--address", temporal_server.address]
    listed = subprocess.run(
        [str(temporal_binary()), *listing, "--namespace", namespace, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    custom = json.loads(listed.stdout)["customAttributes"]
    assert {name: custom.get(name) for name in SEARCH_ATTRIBUTES} == dict.fromkeys(
        SEARCH_ATTRIBUTES, "INDEXED_VALUE_TYPE_KEYWORD"
    )
    # Nothing listening: the script fails instead of reporting success.
    refused = run_setup(f"127.0.0.1:{free_port()}", namespace, tmp_path, attempts=2)
    assert refused.returncode != 0
    assert "cluster health: still failing" in refused.stderr
