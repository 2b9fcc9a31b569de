"""Stamps and lock of generated artifacts (`POST /v1/codegen`): each file says where it came from. Pure.

Every artifact starts with a stamp block in its language's line-comment syntax:

    # >>> pipelex-codegen-stamp >>>
    # crate_fingerprint: <the crate's fingerprint>
    # engine_version: <this service's version>
    # projection: types / <target>
    # options: {}
    # content_hash: <SHA-256 hex of the body>
    # <<< pipelex-codegen-stamp <<<
    <body>

`content_hash` is the SHA-256 (lowercase hex) of the UTF-8 bytes of the body: everything after the
newline that ends the `<<<` line, to the end of the file. An edit below the stamp is then detectable
from the file alone. The lock (`codegen.lock`, TOML) lists the artifact set: `lock_version = 1`,
`crate_fingerprint`, `engine_version`, then one `[[artifacts]]` table (`path`, `content_hash`) per
artifact, sorted by path, so a deleted or added file is detectable too.

The markers, fields and lock layout are the reference's (pipelex 0.92.2 codegen), so its offline
`pipelex codegen check` (and pipelex-sdk's) verifies our artifacts as it verifies its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

LOCK_FILENAME = "codegen.lock"
LOCK_VERSION = 1
_BEGIN = ">>> pipelex-codegen-stamp >>>"
_END = "<<< pipelex-codegen-stamp <<<"
_LOCK_HEADER = "# codegen.lock — generated artifact set (Methodflow codegen). Do not edit by hand.\n"
_COMMENT_BY_SUFFIX = {".py": "#", ".ts": "//"}


@dataclass(frozen=True)
class Artifact:
    """One generated file: its path relative to the output directory and its full text."""

    path: str
    content: str


@dataclass(frozen=True)
class Projection:
    """The stamped artifacts of one codegen run and the text of their lock."""

    artifacts: tuple[Artifact, ...]
    lock: str


def content_hash(body: str) -> str:
    """SHA-256 hex of a body's UTF-8 bytes (what the stamp and the lock record)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def stamped(
    bodies: Sequence[Artifact], *, crate_fingerprint: str, engine_version: str, kind: str, target: str
) -> Projection:
    """Each body with its stamp block on top, and the lock of the set."""
    artifacts = tuple(
        Artifact(
            body.path,
            _stamp_block(
                body,
                crate_fingerprint=crate_fingerprint,
                engine_version=engine_version,
                projection=f"{kind} / {target}",
            )
            + body.content,
        )
        for body in bodies
    )
    hashes = {body.path: content_hash(body.content) for body in bodies}
    return Projection(
        artifacts, _lock(hashes, crate_fingerprint=crate_fingerprint, engine_version=engine_version)
    )


def _stamp_block(body: Artifact, *, crate_fingerprint: str, engine_version: str, projection: str) -> str:
    comment = _COMMENT_BY_SUFFIX[body.path[body.path.rfind(".") :]]
    fields = {
        "crate_fingerprint": crate_fingerprint,
        "engine_version": engine_version,
        "projection": projection,
        "options": "{}",  # no output-affecting option exists yet
        "content_hash": content_hash(body.content),
    }
    lines = [_BEGIN, *(f"{key}: {_one_line(value)}" for key, value in fields.items()), _END]
    return "".join(f"{comment} {line}\n" for line in lines)


def _one_line(value: str) -> str:
    # A line break inside the fence would end the comment: a value never carries one.
    return " ".join(value.split())


def _lock(hashes: dict[str, str], *, crate_fingerprint: str, engine_version: str) -> str:
    lines = [
        _LOCK_HEADER,
        f"lock_version = {LOCK_VERSION}",
        f"crate_fingerprint = {_toml_string(crate_fingerprint)}",
        f"engine_version = {_toml_string(engine_version)}",
    ]
    for path in sorted(hashes):
        lines += [
            "",
            "[[artifacts]]",
            f"path = {_toml_string(path)}",
            f"content_hash = {_toml_string(hashes[path])}",
        ]
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string once DEL, which TOML wants escaped, is escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
