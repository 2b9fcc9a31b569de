"""Agreement of our method tooling routes with the reference server's over the corpus; prints, asserts nothing
(issue 16).

Boots both servers as bench/tooling.py does and sends every valid corpus method to both: `/v1/pipe-io`
(`files` map; the whole answer JSON must be equal, key order aside), `/v1/format` (each bundle; `formatted`
byte for byte and `changed`), `/v1/lint` (each bundle; the sets of (kind, range.start_line) of error
diagnostics, empty on both for a valid bundle) and `/v1/codegen` for each target (artifact paths, and bodies
below the stamp block: stamps carry the engine version and differ by design). Per route it prints
`N agree / M compared`, then its disagreements counted by category (the kind and place of each one's first
difference, with an example); `--show K` adds K full diffs per route. Per codegen target it also counts the
methods whose every artifact agrees BELOW THE BANNER: the comment banner under the stamp is each engine's
own (ours names Methodflow), and python-structures' base is ours by design (a local `StructuredContent`
and local native classes where the reference imports pipelex's `StructuredContent`, `TextContent`...; our
users do not install pipelex): that count sets aside the pipelex imports, our local base and native classes,
and the name of every class's pipelex-or-local base, and compares the rest byte for byte. Also: how many of the corpus's INVALID
entries each lint flags with at least one error (ours also reports MTHDS errors the reference's lint leaves
to validation, by design), and whether our python-pydantic artifacts compile and import in a fresh interpreter.

Run from the repo root once `make compare-reference` has installed the reference:
`.venv/bin/python bench/tooling_agreement.py [--show K]`.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import httpx

# Run as a script, Python puts `bench/` first on sys.path; the repo root is needed to import `bench` and `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare_reference import ServerDidNotStart
from bench.tooling import OurServerDidNotStart, Server, both_servers, method_body, reference_missing
from shared.language.pinned_natives import PINNED_DESCRIPTIONS
from tests.conformance.corpus import CorpusEntry, CorpusUnavailableError, Validity, fetch_wheel, load_entries

CODEGEN_TARGETS = ("python-pydantic", "python-structures", "ts-zod")
IN_FLIGHT = 4  # requests at once per server: quicker than one by one, light on a 2-CPU machine
REQUEST_TIMEOUT_S = 120.0
IMPORT_TIMEOUT_S = 300.0
EXAMPLE_CHARS = 150
EVERY_SHOWN = 20
# The end of a codegen artifact's stamp block (`# <<< pipelex-codegen-stamp <<<`, `//` in TypeScript).
STAMP_END = re.compile(r"^(?:#|//) <<< [\w.-]*stamp <<<\n", re.MULTILINE)
# Map members whose keys name the method's own things: one category for every pipe, input or property.
NAMED_KEYS = frozenset(
    {"pipe_io_contracts", "input_form", "output_form", "inputs", "properties", "$defs", "files"}
)
# Compiles then runs each file given (a generated module) in this interpreter; prints one JSON verdict a line.
IMPORT_CHECK = """
import json, runpy, sys
for path in sys.argv[1:]:
    try:
        compile(open(path, encoding="utf-8").read(), path, "exec")
    except SyntaxError as exc:
        print(json.dumps([path, "compile", f"{type(exc).__name__}: {exc}"]))
        continue
    try:
        runpy.run_path(path)
    except Exception as exc:
        print(json.dumps([path, "import", f"{type(exc).__name__}: {exc}"]))
        continue
    print(json.dumps([path, "ok", ""]))
"""


@dataclass(frozen=True)
class Job:
    """One request sent to both servers: the route it is compared under, and what it is about."""

    route: str
    subject: str  # the entry, or `entry/bundle.mthds` for a single-file route
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the parsed JSON, or the text when it is not JSON


@dataclass(frozen=True)
class Disagreement:
    subject: str
    category: str  # the kind and generic place of the first difference
    first: str  # that difference, concretely
    diff: str  # the full diff, for --show
    every: frozenset[str] = frozenset()  # the categories of all its differences (whole-JSON routes)


@dataclass
class RouteReport:
    route: str
    compared: int = 0
    disagreements: list[Disagreement] = field(default_factory=list[Disagreement])
    below_banner: int | None = None  # codegen: methods agreeing below the banner (deliberate part aside)


def jobs_of(valid: list[CorpusEntry], invalid: list[CorpusEntry]) -> list[Job]:
    jobs: list[Job] = []
    for entry in valid:
        jobs.append(Job("/v1/pipe-io", entry.name, "/v1/pipe-io", method_body(entry)))
        for bundle in entry.bundles:
            subject = f"{entry.name}/{bundle.path}"
            jobs.append(Job("/v1/format", subject, "/v1/format", {"content": bundle.text}))
            jobs.append(Job("/v1/lint", subject, "/v1/lint", {"content": bundle.text}))
        for target in CODEGEN_TARGETS:
            body = method_body(entry) | {"kind": "types", "target": target}
            jobs.append(Job(f"/v1/codegen {target}", entry.name, "/v1/codegen", body))
    for entry in invalid:
        for bundle in entry.bundles:
            jobs.append(
                Job("lint invalid", f"{entry.name}/{bundle.path}", "/v1/lint", {"content": bundle.text})
            )
    return jobs


async def answers_of(server: Server, jobs: list[Job]) -> list[Answer]:
    """Every job's answer from `server`, `IN_FLIGHT` at a time; a transport error is an answer of status 0."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as http:

        async def one(job: Job) -> Answer:
            async with gate:
                try:
                    response = await http.post(job.path, json=job.body)
                except httpx.HTTPError as exc:
                    return Answer(0, f"{type(exc).__name__}: {exc}")
            try:
                return Answer(response.status_code, response.json())
            except ValueError:
                return Answer(response.status_code, response.text)

        return await asyncio.gather(*(one(job) for job in jobs))


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 3] + "..."


def text_diff(reference: str, ours: str, label: str = "") -> str:
    names = (f"reference {label}".strip(), f"ours {label}".strip())
    lines = difflib.unified_diff(reference.splitlines(), ours.splitlines(), *names, n=2, lineterm="")
    return "\n".join(lines)


def json_object(value: Any) -> dict[str, Any] | None:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def json_array(value: Any) -> list[Any] | None:
    return cast("list[Any]", value) if isinstance(value, list) else None


def json_differences(
    reference: Any, ours: Any, path: str = "", generic: str = ""
) -> Iterator[tuple[str, str]]:
    """`(category, concrete description)` of every place two JSON values differ, in document order.

    Object keys are walked in the reference's order, then ours' extra keys; key order itself is not compared.
    """
    reference_object, our_object = json_object(reference), json_object(ours)
    if reference_object is not None and our_object is not None:
        yield from _member_differences(reference_object, our_object, path, generic)
        return
    reference_array, our_array = json_array(reference), json_array(ours)
    if reference_array is not None and our_array is not None:
        for index, (left, right) in enumerate(zip(reference_array, our_array, strict=False)):
            yield from json_differences(left, right, f"{path}[{index}]", f"{generic}[*]")
        if len(reference_array) != len(our_array):
            lengths = f"reference {len(reference_array)} items, ours {len(our_array)}"
            yield f"list length differs at {generic}", f"{path}: {lengths}"
        return
    if reference == ours and type(reference) is type(ours):
        return
    kind = "value differs" if type(reference) is type(ours) else "type differs"
    yield (
        f"{kind} at {generic or '<answer>'}",
        f"{path or '<answer>'}: reference {short(reference)} / ours {short(ours)}",
    )


def _member_differences(
    reference: dict[str, Any], ours: dict[str, Any], path: str, generic: str
) -> Iterator[tuple[str, str]]:
    # Under a map of the method's own names (pipes, inputs, properties), every key is one category.
    named = path.rpartition(".")[2] in NAMED_KEYS or path in NAMED_KEYS
    for key in [*reference, *(key for key in ours if key not in reference)]:
        segment = f"{path}.{key}" if path else key
        place = "<name>" if named else key
        shape = f"{generic}.{place}" if generic else place
        if key not in ours:
            yield f"missing in ours at {shape}", f"{segment}: reference {short(reference[key])}"
        elif key not in reference:
            yield f"extra in ours at {shape}", f"{segment}: ours {short(ours[key])}"
        else:
            yield from json_differences(reference[key], ours[key], segment, shape)


def first_line_difference(reference: str, ours: str) -> str:
    reference_lines, our_lines = reference.splitlines(), ours.splitlines()
    for number, (left, right) in enumerate(zip(reference_lines, our_lines, strict=False), start=1):
        if left != right:
            return f"line {number}: reference {short(left)} / ours {short(right)}"
    if len(reference_lines) != len(our_lines):
        return f"line count: reference {len(reference_lines)}, ours {len(our_lines)}"
    return "final newline differs"


def text_difference_kind(reference: str, ours: str) -> str:
    """What sets two texts apart, from the most to the least benign."""
    if [line for line in reference.splitlines() if line.strip()] == [
        line for line in ours.splitlines() if line.strip()
    ]:
        return "blank lines only"
    if re.sub(r"[ \t]+", " ", reference).strip() == re.sub(r"[ \t]+", " ", ours).strip():
        return "horizontal spacing only"
    if re.sub(r"\s+", "", reference) == re.sub(r"\s+", "", ours):
        return "whitespace only"
    return "text differs"


def failed(reference: Answer, ours: Answer) -> tuple[str, str] | None:
    """`(category, description)` when either server did not answer 200: nothing to compare then."""
    for side, answer in (("ours", ours), ("reference", reference)):
        if answer.status != 200:
            problem = json_object(answer.body) or {}
            code, detail = problem.get("code", ""), problem.get("detail", answer.body)
            return (
                f"{side} answered HTTP {answer.status} {code}",
                f"{side}: HTTP {answer.status} {code} {short(detail)}",
            )
    return None


def compare_whole(reference: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str, str] | None:
    found = next(json_differences(reference, ours), None)
    return None if found is None else (*found, text_diff(pretty(reference), pretty(ours)))


def compare_format(reference: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str, str] | None:
    if reference["formatted"] == ours.get("formatted") and reference["changed"] == ours.get("changed"):
        return None
    formatted = str(ours.get("formatted", ""))
    if reference["formatted"] == formatted:
        return (
            "changed differs",
            f"changed: reference {reference['changed']} / ours {ours.get('changed')}",
            "",
        )
    kind = text_difference_kind(reference["formatted"], formatted)
    return (
        f"formatted: {kind}",
        first_line_difference(reference["formatted"], formatted),
        text_diff(reference["formatted"], formatted),
    )


def error_keys(answer: dict[str, Any]) -> set[tuple[str, int | None]]:
    """(kind, range.start_line) of the error diagnostics of a lint or format answer."""
    keys: set[tuple[str, int | None]] = set()
    for diagnostic in json_array(answer.get("diagnostics")) or []:
        if diagnostic.get("severity") == "error":
            extent = json_object(diagnostic.get("range")) or {}
            keys.add((diagnostic.get("kind"), extent.get("start_line")))
    return keys


def compare_lint(reference: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str, str] | None:
    reference_keys, our_keys = error_keys(reference), error_keys(ours)
    if reference_keys == our_keys:
        return None
    only_ours, only_reference = (
        sorted(our_keys - reference_keys, key=str),
        sorted(reference_keys - our_keys, key=str),
    )
    if only_ours:
        messages = [item["message"] for item in ours["diagnostics"] if item.get("kind") == only_ours[0][0]]
        category = f"only ours: {only_ours[0][0]}"
    else:
        messages = [
            item["message"] for item in reference["diagnostics"] if item.get("kind") == only_reference[0][0]
        ]
        category = f"only reference: {only_reference[0][0]}"
    first = (
        f"only ours {only_ours}, only reference {only_reference}: {short(messages[0] if messages else '')}"
    )
    return category, first, text_diff(pretty(reference["diagnostics"]), pretty(ours["diagnostics"]))


def artifact_bodies(answer: dict[str, Any]) -> dict[str, str]:
    """Each artifact's text below its stamp block (the whole text when it has none)."""
    bodies: dict[str, str] = {}
    for artifact in json_array(answer.get("artifacts")) or []:
        content: str = artifact.get("content", "")
        end = STAMP_END.search(content)
        bodies[artifact.get("path", "")] = content[end.end() :] if end else content
    return bodies


def compare_codegen(reference: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str, str] | None:
    if reference.get("is_valid") is not True or ours.get("is_valid") is not True:
        return compare_whole(reference, ours)
    reference_bodies, our_bodies = artifact_bodies(reference), artifact_bodies(ours)
    if sorted(reference_bodies) != sorted(our_bodies):
        first = f"reference {sorted(reference_bodies)} / ours {sorted(our_bodies)}"
        return "artifact paths differ", first, ""
    differing = [path for path in reference_bodies if reference_bodies[path] != our_bodies[path]]
    if not differing:
        return None
    diffs = "\n".join(text_diff(reference_bodies[path], our_bodies[path], path) for path in differing)
    # The comment banner under the stamp is each engine's own: say whether the code below it differs too.
    for path in differing:
        reference_code, our_code = (
            code_below_banner(reference_bodies[path]),
            code_below_banner(our_bodies[path]),
        )
        if reference_code != our_code:
            kind = text_difference_kind(reference_code, our_code)
            return (
                f"{path}: code {kind}",
                f"{path} code {first_line_difference(reference_code, our_code)}",
                diffs,
            )
    first = differing[0]
    banners = f"{', '.join(differing)}: comment banner only"
    return banners, f"{first} {first_line_difference(reference_bodies[first], our_bodies[first])}", diffs


def code_below_banner(body: str) -> str:
    """An artifact's body without its leading comment lines (`#` or `//`) and blank lines."""
    lines = body.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].lstrip().startswith(("#", "//"))):
        start += 1
    return "".join(lines[start:])


# python-structures: the import of a pipelex class, and the header of a class (its name and base).
PIPELEX_IMPORT = re.compile(r"^from pipelex[\w.]* import (?:\([^)]*\)|[^\n]*)\n", re.MULTILINE)
CLASS_HEADER = re.compile(r"^class (\w+)\((\w+)\):", re.MULTILINE)
LOCAL_BASE = "StructuredContent"


def agree_below_banner(route: str, reference: dict[str, Any], ours: dict[str, Any]) -> bool:
    """Every artifact's code below its banner is the same on both, python-structures' base set aside."""
    if reference.get("is_valid") is not True or ours.get("is_valid") is not True:
        return reference == ours
    reference_bodies, our_bodies = artifact_bodies(reference), artifact_bodies(ours)
    if sorted(reference_bodies) != sorted(our_bodies):
        return False
    for path, reference_body in reference_bodies.items():
        reference_code, our_code = code_below_banner(reference_body), code_below_banner(our_bodies[path])
        if route == "/v1/codegen python-structures":
            reference_code, our_code = structures_without_base(reference_code, our_code)
        if reference_code != our_code:
            return False
    return True


def structures_without_base(reference: str, ours: str) -> tuple[str, str]:
    """Both structures modules with the deliberate difference taken out: the reference's pipelex imports
    and our `BaseModel` import, our local `StructuredContent` class and the local classes standing for the
    natives the reference imports (`Text` for `TextContent`), a reference to a native class spelled ours'
    way, and the name of every base that is pipelex's or its local stand-in."""
    imported = {
        name.strip(" (),\n")
        for line in PIPELEX_IMPORT.findall(reference)
        for name in line.partition(" import ")[2].split(",")
        if name.strip(" (),\n")
    }
    natives = {name.removesuffix("Content") for name in imported if name != LOCAL_BASE}
    for name in natives:
        reference = re.sub(rf"\b{name}Content\b", name, reference)
    reference = PIPELEX_IMPORT.sub("", reference)
    ours = re.sub(r"^(from pydantic import )BaseModel, ", r"\1", ours, flags=re.MULTILINE)
    ours = re.sub(r"^from pydantic import BaseModel\n", "", ours, flags=re.MULTILINE)
    kept = [
        block
        for block in ours.split("\n\n\n")
        if (header := CLASS_HEADER.match(block)) is None
        or header[1] not in {LOCAL_BASE, *PINNED_DESCRIPTIONS}
    ]
    ours = "\n\n\n".join(kept)
    roots = {LOCAL_BASE, *natives}

    def any_root(header: re.Match[str]) -> str:
        return f"class {header[1]}(<base>):" if header[2] in roots else header[0]

    def settled(code: str) -> str:
        # Blank-line runs and the module's end as the blocks taken out leave them: not compared.
        return CLASS_HEADER.sub(any_root, re.sub(r"\n{2,}", "\n\n", code)).rstrip("\n") + "\n"

    return settled(reference), settled(ours)


WHOLE_JSON_ROUTES = frozenset({"/v1/pipe-io"})
COMPARERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], tuple[str, str, str] | None]] = {
    "/v1/pipe-io": compare_whole,
    "/v1/format": compare_format,
    "/v1/lint": compare_lint,
    **{f"/v1/codegen {target}": compare_codegen for target in CODEGEN_TARGETS},
}


def route_reports(jobs: list[Job], references: list[Answer], ours: list[Answer]) -> list[RouteReport]:
    reports = {route: RouteReport(route) for route in COMPARERS}
    for route in reports:
        if route.startswith("/v1/codegen "):
            reports[route].below_banner = 0
    for job, reference, our in zip(jobs, references, ours, strict=True):
        if job.route not in reports:
            continue
        report = reports[job.route]
        report.compared += 1
        outcome = failed(reference, our)
        reference_body, our_body = json_object(reference.body), json_object(our.body)
        if outcome is not None:
            found = (*outcome, "")
        elif reference_body is None or our_body is None:
            found = (
                "answer is not a JSON object",
                f"reference {short(reference.body)} / ours {short(our.body)}",
                "",
            )
        else:
            found = COMPARERS[job.route](reference_body, our_body)
            if report.below_banner is not None and agree_below_banner(job.route, reference_body, our_body):
                report.below_banner += 1
        if found is not None:
            every = frozenset[str]()
            if job.route in WHOLE_JSON_ROUTES and reference_body is not None and our_body is not None:
                every = frozenset(category for category, _ in json_differences(reference_body, our_body))
            report.disagreements.append(Disagreement(job.subject, *found, every))
    return list(reports.values())


def print_report(report: RouteReport, show: int) -> None:
    agree = report.compared - len(report.disagreements)
    print(f"{report.route}: {agree} agree / {report.compared} compared")
    if report.below_banner is not None:
        aside = "the banner"
        if report.route == "/v1/codegen python-structures":
            aside += " and our local StructuredContent base and native classes"
        print(f"  {report.below_banner} agree / {report.compared} below the banner ({aside} set aside)")
    by_category: dict[str, list[Disagreement]] = {}
    for disagreement in report.disagreements:
        by_category.setdefault(disagreement.category, []).append(disagreement)
    for category, members in sorted(by_category.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"  {len(members):>4}  {category}")
        print(f"          e.g. {members[0].subject}: {members[0].first}")
    every = Counter(category for disagreement in report.disagreements for category in disagreement.every)
    if every:
        print(f"  every difference, by the number of subjects showing it ({len(every)} categories):")
        for category, times in sorted(every.items(), key=lambda item: (-item[1], item[0]))[:EVERY_SHOWN]:
            print(f"  {times:>4}  {category}")
        if len(every) > EVERY_SHOWN:
            print(f"        ... {len(every) - EVERY_SHOWN} more categories (see --show K)")
    for disagreement in report.disagreements[:show]:
        print(f"  --- full diff, {disagreement.subject} ---")
        for line in (disagreement.diff or disagreement.first).splitlines():
            print(f"    {line}")


def print_invalid_lint(
    jobs: list[Job], references: list[Answer], ours: list[Answer], invalid: list[CorpusEntry]
) -> None:
    """Per invalid entry: does each lint report an error on any of its bundles?"""
    flagged: dict[str, set[str]] = {"reference": set(), "ours": set()}
    broken: Counter[str] = Counter()
    for job, reference, our in zip(jobs, references, ours, strict=True):
        if job.route != "lint invalid":
            continue
        entry = job.subject.partition("/")[0]
        for side, answer in (("reference", reference), ("ours", our)):
            body = json_object(answer.body)
            if answer.status != 200 or body is None:
                broken[f"{side} HTTP {answer.status}"] += 1
            elif error_keys(body):
                flagged[side].add(entry)
    names = [entry.name for entry in invalid]
    expected = {entry.name: entry.manifest.expected_error for entry in invalid}
    both = flagged["reference"] & flagged["ours"]
    print(f"/v1/lint on the {len(names)} INVALID entries: at least one error found by")
    print(
        f"  reference {len(flagged['reference'])}, ours {len(flagged['ours'])}; both {len(both)}, "
        f"only ours {len(flagged['ours'] - flagged['reference'])}, "
        f"only reference {len(flagged['reference'] - flagged['ours'])}, "
        f"neither {len([name for name in names if name not in flagged['reference'] | flagged['ours']])}"
    )
    for label, members in (
        ("only reference", sorted(flagged["reference"] - flagged["ours"])),
        ("neither", sorted(name for name in names if name not in flagged["reference"] | flagged["ours"])),
    ):
        for name in members:
            print(f"    {label}: {name} (expected {expected[name]})")
    for reason, times in broken.items():
        print(f"    {reason}: {times} answers")


def pydantic_modules(jobs: list[Job], answers: list[Answer], folder: Path) -> list[Path]:
    """Write the `.py` artifacts of the python-pydantic answers under `folder/<entry>/`; their paths."""
    written: list[Path] = []
    for job, answer in zip(jobs, answers, strict=True):
        body = json_object(answer.body)
        if job.route != "/v1/codegen python-pydantic" or answer.status != 200 or body is None:
            continue
        for artifact in json_array(body.get("artifacts")) or []:
            if str(artifact.get("path", "")).endswith(".py"):
                target = folder / job.subject / Path(str(artifact["path"])).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(str(artifact.get("content", "")), encoding="utf-8")
                written.append(target)
    return written


def print_imports(side: str, jobs: list[Job], answers: list[Answer]) -> None:
    """Whether a side's python-pydantic modules compile and run (build their models) in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="tooling-codegen-") as folder:
        modules = pydantic_modules(jobs, answers, Path(folder))
        if not modules:
            print(f"python-pydantic modules of {side}: none to check")
            return
        done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script, files we just wrote
            [sys.executable, "-c", IMPORT_CHECK, *map(str, modules)],
            capture_output=True,
            text=True,
            timeout=IMPORT_TIMEOUT_S,
            check=False,
        )
        verdicts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
        stages = Counter(stage for _, stage, _ in verdicts)
        print(
            f"python-pydantic modules of {side} (pydantic {version('pydantic')}): {len(modules)} written, "
            f"{len(modules) - stages['compile']} compile, {stages['ok']} import (their models build)"
        )
        for path, stage, message in verdicts:
            if stage != "ok":
                print(f"    {Path(path).relative_to(folder)}: {stage} failed: {short(message)}")
        if len(verdicts) != len(modules):
            print(f"    the checker stopped early (exit {done.returncode}): {short(done.stderr.strip())}")


async def fetch_all(servers: tuple[Server, Server], jobs: list[Job]) -> tuple[list[Answer], list[Answer]]:
    reference, ours = servers
    answers = await asyncio.gather(answers_of(reference, jobs), answers_of(ours, jobs))
    return answers[0], answers[1]


def entries_by_validity() -> tuple[list[CorpusEntry], list[CorpusEntry]]:
    """The corpus's valid entries and its invalid ones."""
    entries = load_entries(fetch_wheel())
    valid = [entry for entry in entries if entry.manifest.validity is Validity.VALID]
    return valid, [entry for entry in entries if entry.manifest.validity is Validity.INVALID]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--show", type=int, default=0, metavar="K", help="print K full diffs per route")
    show: int = parser.parse_args().show
    if (missing := reference_missing()) is not None:
        print(missing)
        return 2
    try:
        valid, invalid = entries_by_validity()
    except CorpusUnavailableError as exc:
        print(f"corpus unavailable: {exc}")
        return 1
    jobs = jobs_of(valid, invalid)
    print(
        f"tooling agreement: {len(valid)} valid corpus methods, {len(invalid)} invalid, {len(jobs)} requests per server"
    )
    with tempfile.TemporaryDirectory(prefix="bench-tooling-agreement-") as scratch:
        try:
            with both_servers(Path(scratch)) as servers:
                references, ours = asyncio.run(fetch_all(servers, jobs))
        except (ServerDidNotStart, OurServerDidNotStart) as exc:
            print(exc)
            return 2
    for report in route_reports(jobs, references, ours):
        print_report(report, show)
    print_invalid_lint(jobs, references, ours, invalid)
    print_imports("ours", jobs, ours)
    print_imports("the reference (baseline)", jobs, references)
    return 0


if __name__ == "__main__":
    sys.exit(main())
