"""The shape of the house (STYLE.md): who may import whom, `shared/` stays pure, `__init__.py` files stay empty."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tokenize
from importlib import import_module
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import NamedTuple

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


class ImportStatement(NamedTuple):
    """One `import` or `from` statement as written: names without their aliases."""

    names: tuple[str, ...]
    module: str | None = None  # None for `import a, b`; the module of `from <dots><module> import ...`
    level: int = 0  # the dots of a relative `from`


def imported_modules(source: str, module_name: str, *, is_package: bool = False) -> set[str]:
    """Every absolute module name `source` imports; `from a import b` yields both `a` and `a.b`.

    Relative imports are resolved against `module_name`; one that climbs above the top package yields
    a name starting with `..`, which no allowed import matches.
    """
    package_parts = module_name.split(".") if is_package else module_name.split(".")[:-1]
    found: set[str] = set()
    for statement in import_statements(source):
        if statement.module is None:
            found.update(statement.names)
            continue
        module, level = statement.module, statement.level
        if level == 0:
            base = module
        elif level - 1 < len(package_parts):
            kept = package_parts[: len(package_parts) - (level - 1)]
            base = ".".join([*kept, *([module] if module else [])])
        else:
            base = ".." + module
        found.add(base)
        found.update(f"{base}.{name}" for name in statement.names if name != "*")
    return found


def import_statements(source: str) -> list[ImportStatement]:
    """Every `import` and `from` statement of `source`, wherever it stands (nested blocks included).

    Read with `tokenize`, not `ast.parse`: CPython 3.11 builds the AST in C with a recursion counter
    that threads share (gh-106905), so under load another thread's parse broke this test with
    `SystemError: AST constructor recursion depth mismatch`. Tokens need no recursion and share nothing.
    """
    statements: list[ImportStatement] = []
    for words in _statements(source):
        if words[0] == "import":
            statements.append(ImportStatement(_names(words[1:])))
        elif words[0] == "from":
            level, start = 0, 1
            while words[start] in (".", "..."):
                level += len(words[start])
                start += 1
            end = words.index("import", start)
            module = "".join(words[start:end])
            statements.append(ImportStatement(_names(words[end + 1 :]), module, level))
    return statements


_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")
_NOISE = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING})


def _statements(source: str) -> list[list[str]]:
    """The token strings of each simple statement, grouping parentheses left out."""
    statements: list[list[str]] = []
    current: list[str] = []
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _NOISE:
            continue
        text = token.string
        if token.type == tokenize.OP and text in _OPENING:
            depth += 1
        elif token.type == tokenize.OP and text in _CLOSING:
            depth -= 1
        # A statement ends at a line end, a `;`, or the `:` of a compound header (`if x: import y`).
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (depth == 0 and text in (";", ":")):
            if current:
                statements.append(current)
            current = []
        elif text not in ("(", ")"):
            current.append(text)
    return statements


def _names(words: list[str]) -> tuple[str, ...]:
    """`a.b as c, d` -> ("a.b", "d")."""
    names: list[str] = []
    for item in " ".join(words).split(","):
        parts = item.split()
        if parts:
            names.append("".join(parts[: parts.index("as")] if "as" in parts else parts))
    return tuple(names)


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
            "if TYPE_CHECKING: import socket",
            "x = 1; import random as r",
            "from subprocess import (\n    run,  # a comment\n    Popen as P,\n)",
            "from \\\n    uvicorn import Config",
            "text = 'import fastapi, in a string'",
            "values = {'k': 1}; from starlette import routing",
        ]
    )
    found = imported_modules(source, "shared.language.validator")
    assert {"os.path", "api", "json", "worker.activities", "temporalio.client", "time.monotonic"} <= found
    assert {"shared.language.names", "shared.language.parser.parse", "shared.models"} <= found
    assert "..escape" in found
    assert {"socket", "random", "subprocess.run", "subprocess.Popen", "uvicorn.Config"} <= found
    assert {"starlette", "starlette.routing"} <= found
    assert "fastapi" not in found
    assert imported_modules("from . import names", "shared.language", is_package=True) == {
        "shared.language",
        "shared.language.names",
    }
    assert is_forbidden("os.path", FORBIDDEN_IN_SHARED)
    assert is_forbidden("temporalio.client", FORBIDDEN_IN_SHARED)
    assert not is_forbidden("temporalio.workflow", FORBIDDEN_IN_SHARED)
    assert not is_forbidden("timeit_like", ("time",))


# The compiler's view of the same statements, for the cross-check below: in a process of its own, whose
# only thread is the one parsing, `ast.parse` cannot meet the race the token scan avoids.
_AST_STATEMENTS = """
import ast, json, sys
found = {}
for path in sys.argv[1:]:
    statements = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            statements.append([[alias.name for alias in node.names], None, 0])
        elif isinstance(node, ast.ImportFrom):
            statements.append([[alias.name for alias in node.names], node.module or "", node.level])
    found[path] = sorted(statements, key=json.dumps)
print(json.dumps(found))
"""


def test_token_scan_agrees_with_the_compiler() -> None:
    paths = [path for folder in (*PACKAGES, "tests", "bench") for path in python_files(folder)]
    command = [sys.executable, "-c", _AST_STATEMENTS, *map(str, paths)]
    compiled = json.loads(subprocess.run(command, capture_output=True, check=True, timeout=120).stdout)
    for path in paths:
        scanned = [
            [list(statement.names), statement.module, statement.level]
            for statement in import_statements(path.read_text(encoding="utf-8"))
        ]
        assert sorted(scanned, key=json.dumps) == compiled[str(path)], path


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
        if not is_only_a_docstring(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def is_only_a_docstring(source: str) -> bool:
    """True when `source` holds one plain string literal and nothing else (comments aside); by tokens."""
    noise = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING, tokenize.ENDMARKER}
    tokens = [
        token for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type not in noise
    ]
    if len(tokens) != 1 or tokens[0].type != tokenize.STRING:
        return False
    prefix = tokens[0].string[: min(tokens[0].string.find(q) for q in "'\"" if q in tokens[0].string)]
    # b"..." and f"..." are expressions, not docstrings.
    return not set(prefix.lower()) & {"b", "f"}


def test_docstring_check_reads_what_python_calls_a_docstring() -> None:
    assert is_only_a_docstring('"""The package."""\n')
    assert is_only_a_docstring('# comment\n"""The package."""  # trailing\n\n')
    assert is_only_a_docstring("r'raw docstring'\n")
    assert not is_only_a_docstring('"""Doc."""\nfrom .a import b\n')
    assert not is_only_a_docstring('"""Doc."""\n__all__ = []\n')
    assert not is_only_a_docstring("import os\n")
    assert not is_only_a_docstring("")
    assert not is_only_a_docstring('b"bytes"\n')
    assert not is_only_a_docstring('f"{x}"\n')


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
