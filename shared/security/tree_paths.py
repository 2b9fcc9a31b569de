"""What a method tree's logical path may be: relative, `/`-separated, never climbing out of its tree. Pure.

The service keeps tree paths as names (in verdicts, `location.file`, run records) and never opens them,
but clients write files back under them: a path that is absolute, climbs with `..`, uses Windows
separators or drive letters, or holds control characters (NUL included) is refused as it arrives.
"""

from __future__ import annotations

import re
from typing import Final

_DRIVE: Final = re.compile(r"^[A-Za-z]:")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def tree_path_fault(path: str) -> str | None:
    """Why `path` cannot name a file of a method tree, or None when it can."""
    if not path:
        return "it is empty"
    if path.startswith("/") or _DRIVE.match(path):
        return "it is absolute; tree paths are relative to the tree"
    if "\\" in path:
        return "it holds a backslash; tree paths are separated by '/'"
    if _CONTROL.search(path):
        return "it holds a control character"
    if ".." in path.split("/"):
        return "it climbs out of the tree with '..'"
    return None
