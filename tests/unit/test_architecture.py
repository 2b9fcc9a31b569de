"""The shape of the house (STYLE.md): who may import whom, `shared/` stays pure, `__init__.py` files stay empty."""

from __future__ import annotations

import ast
import json
from importlib import import_module
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "worker", "shared")

# `shared/` runs inside Temporal's workflow sandbox: no network, disk, clock, randomness, nor the other sides.
FORBIDDEN_IN_SHARED = (
    "api",
    "worker",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "temporalio.client",
    "os",
    "pathlib",
    "socket",
    "subprocess",
    "random",
    "time",
)
FORBIDDEN_BY_PACKAGE = {"shared": FORBIDDEN_IN_SHARED, "api": ("worker",), "worker": ("api",)}

# Blob storage is written by the API (data URLs, method sources) and by workers (outputs), so it lives in
# `shared/` although it touches the disk. It is the only impure corner: nothing else in `shared/` may
# import it, so the workflow (which imports only the pure rest) never reaches it.
STORAGE_PACKAGE = "shared.storage"
FORBIDDEN_IN_STORAGE = ("api", "worker", "fastapi", "starlette", "uvicorn", "temporalio")
# The SSRF guard resolves host names (DNS) for the API at request time and for workers before each
# connection; its rules stay pure in `shared.security.address_rules`. Exempt like storage, and only it.
DESTINATION_MODULE = "shared.security.destination"
IMPURE_CORNERS = (STORAGE_PACKAGE, DESTINATION_MODULE)


def imported_modules(source: str, module_name: str, *, is_package: bool = False) -> set[str]:
    """Every absolute module name `source` imports; `from a import b` yields both `a` and `a.b`.

    Relative imports are resolved against `module_name`; one that climbs above the top package yields
    a name starting with `..`, which no allowed import matches.
    """
    package_parts = module_name.split(".") if is_package else module_name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            elif node.level - 1 < len(package_parts):
                kept = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join([*kept, *([node.module] if node.module else [])])
            else:
                base = ".." + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def is_forbidden(module: str, forbidden: tuple[str, ...]) -> bool:
    return module.startswith("..") or any(
        module == name or module.startswith(f"{name}.") for name in forbidden
    )


def python_files(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


def module_name_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def test_import_scan_reads_every_import_form() -> None:
    source = "\n".join(
        [
            "import os.path",
            "import api as a, json",
            "from worker import activities",
            "from temporalio import client",
            "from shared.language.issues import Issue",
            "from . import names",
            "from .parser import parse",
            "from .. import models",
            "from ...escape import thing",
            "if True:\n    from time import monotonic",
        ]
    )
    found = imported_modules(source, "shared.language.validator")
    assert {"os.path", "api", "json", "worker.activities", "temporalio.client", "time.monotonic"} <= found
    assert {"shared.language.names", "shared.language.parser.parse", "shared.models"} <= found
    assert "..escape" in found
    assert imported_modules("from . import names", "shared.language", is_package=True) == {
        "shared.language",
        "shared.language.names",
    }
    assert is_forbidden("os.path", FORBIDDEN_IN_SHARED)
    assert is_forbidden("temporalio.client", FORBIDDEN_IN_SHARED)
    assert not is_forbidden("temporalio.workflow", FORBIDDEN_IN_SHARED)
    assert not is_forbidden("timeit_like", ("time",))


def forbidden_for(module_name: str, package: str) -> tuple[str, ...]:
    if module_name == DESTINATION_MODULE:
        return FORBIDDEN_IN_STORAGE
    if module_name == STORAGE_PACKAGE or module_name.startswith(f"{STORAGE_PACKAGE}."):
        return FORBIDDEN_IN_STORAGE
    if package == "shared":
        return (*FORBIDDEN_IN_SHARED, *IMPURE_CORNERS)
    return FORBIDDEN_BY_PACKAGE[package]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_respect_the_boundaries(package: str) -> None:
    violations = [
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path in python_files(package)
        for module in sorted(
            imported_modules(
                path.read_text(encoding="utf-8"), module_name_of(path), is_package=path.name == "__init__.py"
            )
        )
        if is_forbidden(module, forbidden_for(module_name_of(path), package))
    ]
    assert violations == []


def test_only_storage_and_the_destination_check_are_exempt_from_purity() -> None:
    assert forbidden_for("shared.storage.blob_store", "shared") == FORBIDDEN_IN_STORAGE
    assert is_forbidden("shared.storage.blob_store", forbidden_for("shared.runtime.interpreter", "shared"))
    assert is_forbidden("os", forbidden_for("shared.runs.workflow_io", "shared"))
    assert forbidden_for(DESTINATION_MODULE, "shared") == FORBIDDEN_IN_STORAGE
    assert is_forbidden(DESTINATION_MODULE, forbidden_for("shared.runtime.interpreter", "shared"))
    # Only that one module: its pure neighbours keep every rule, and may not import it either.
    rules = forbidden_for("shared.security.address_rules", "shared")
    assert is_forbidden("socket", rules)
    assert is_forbidden(DESTINATION_MODULE, rules)
    assert is_forbidden("socket", forbidden_for("shared.security.destination_cache", "shared"))


@pytest.mark.parametrize("package", PACKAGES)
def test_init_files_hold_only_a_docstring(package: str) -> None:
    offenders: list[str] = []
    for path in sorted((REPO_ROOT / package).rglob("__init__.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if len(body) != 1 or ast.get_docstring(ast.Module(body=body, type_ignores=[])) is None:
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_belongs_to_the_methodflow_distribution_only(package: str) -> None:
    claimed = packages_distributions().get(package, [])
    if _is_editable_install():
        # An editable (hatchling) install records only a `.pth` file, so no top-level name can be
        # inferred from it: check that no other distribution claims the name and that it imports from here.
        assert claimed in ([], ["methodflow"])
        module_file = import_module(package).__file__
        assert module_file is not None
        assert Path(module_file).resolve().is_relative_to(REPO_ROOT)
    else:
        assert claimed == ["methodflow"]


def _is_editable_install() -> bool:
    direct_url = distribution("methodflow").read_text("direct_url.json")
    return direct_url is not None and bool(json.loads(direct_url).get("dir_info", {}).get("editable"))
