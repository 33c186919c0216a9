"""Workspace-relative paths: syntax checks and owner scope (SPEC §1).

A path is accepted only in its one canonical spelling. Nothing is ever decoded or normalized
into acceptance: a path that *could* mean something else on some system is refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from toolbelt.errors import InvalidArgument, OutOfScope

STATE_DIR = ".toolbelt"
MAX_PATH_CHARS = 1024
MAX_SEGMENT_BYTES = 255
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PERCENT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Characters that some system or normalization may read as a separator or a dot.
_LOOKALIKES = frozenset("\u2215\u2044\u29f8\uff0f\uff3c\u2024\u2025\u2026\uff0e\u3002\ufe52\u00b7")

DEFAULT_SCOPE = ("users/{owner}/**",)


def _hint_path() -> str:
    return (
        "Use a workspace-relative POSIX path such as users/<owner>/notes/<name>.md (see fs_list)."
    )


def check_path(path: object, *, allow_root: bool = False) -> str:
    """Return `path` if it is a canonical workspace-relative POSIX path, else raise.

    `allow_root` accepts "." (the workspace itself) for listing and searching.
    """
    if not isinstance(path, str):
        raise InvalidArgument("path must be a string.", hint=_hint_path())
    if allow_root and path == ".":
        return path
    problem = _path_problem(path)
    if problem is not None:
        code, why = problem
        err_cls = OutOfScope if code == "out_of_scope" else InvalidArgument
        raise err_cls(
            f"Path {path!r} is refused: {why}.", hint=_hint_path(), details={"path": path}
        )
    return path


@lru_cache(maxsize=4096)
def _path_problem(path: str) -> tuple[str, str] | None:
    """What is wrong with `path` (code, reason), or None; a pure function of the string, so
    the verdicts on the paths in use are kept (every call checks its path more than once)."""
    if path == "":
        return "invalid_argument", "it is empty"
    if len(path) > MAX_PATH_CHARS:
        return "invalid_argument", f"it is longer than {MAX_PATH_CHARS} characters"
    for ch in path:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return (
                "invalid_argument",
                f"it contains the control or format character U+{ord(ch):04X}",
            )
    if "\\" in path:
        return "invalid_argument", "backslashes are not path separators here"
    if path.startswith("/"):
        return "out_of_scope", "absolute paths are not allowed"
    if _DRIVE_RE.match(path) or ":" in path:
        return "invalid_argument", "drive letters and colons are not allowed"
    if path.startswith("~"):
        return "out_of_scope", "home-directory paths are not allowed"
    if _PERCENT_RE.search(path):
        return "invalid_argument", "percent-encoded characters are not allowed (paths are literal)"
    if unicodedata.normalize("NFC", path) != path:
        return "invalid_argument", "it is not in Unicode NFC form"
    if any(ch in _LOOKALIKES for ch in path):
        return "invalid_argument", "it contains a character that looks like a dot or a slash"
    segments = path.split("/")
    for seg in segments:
        if seg == "":
            return "invalid_argument", "it has an empty segment (double or trailing slash)"
        if seg in (".", ".."):
            return "out_of_scope", "'.' and '..' segments are not allowed"
        nfkc = unicodedata.normalize("NFKC", seg)
        if nfkc in (".", "..") or "/" in nfkc or "\\" in nfkc:
            return "invalid_argument", "a segment normalizes to a dot or a separator"
        if seg.startswith("~"):
            return "invalid_argument", "segments may not start with '~'"
        if len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return "invalid_argument", f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    if segments[0] == STATE_DIR:
        return "out_of_scope", "the .toolbelt/ state is not reachable through tools"
    return None


def check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not OWNER_RE.match(owner):
        raise InvalidArgument(
            f"Owner id {owner!r} is not valid.",
            hint="Owner ids match [A-Za-z0-9][A-Za-z0-9_-]{0,63}, e.g. u1.",
            details={"owner": owner},
        )
    return owner


@lru_cache(maxsize=256)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: `**` spans segments, `*` and `?` stay inside one segment.

    A trailing `/**` also matches the directory itself.
    """
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        if pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    out.append(r"\Z")  # not "$", which also matches before a trailing newline
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class Scope:
    """The paths one owner may read and write, as globs already expanded for that owner."""

    owner: str | None
    """The owner these globs are for; None means unrestricted (maintainer commands)."""
    read: tuple[str, ...]
    write: tuple[str, ...]

    @classmethod
    def for_owner(
        cls, owner: str, read: Sequence[str] = DEFAULT_SCOPE, write: Sequence[str] | None = None
    ) -> Scope:
        check_owner(owner)

        def expand(globs: Sequence[str]) -> tuple[str, ...]:
            return tuple(g.replace("{owner}", owner) for g in globs)

        return cls(owner, expand(read), expand(write if write is not None else read))

    @classmethod
    def unrestricted(cls) -> Scope:
        return cls(None, ("**",), ("**",))

    def can_read(self, path: str) -> bool:
        return _matches(path, self.read)

    def can_write(self, path: str) -> bool:
        return _matches(path, self.write)

    def may_contain(self, directory: str) -> bool:
        """Whether anything under `directory` could be readable (for pruning walks)."""
        if directory == ".":
            return True
        if self.can_read(directory):
            return True
        for glob in self.read:
            fixed = glob.split("*", 1)[0].split("?", 1)[0]
            if fixed.startswith(directory + "/") or fixed == directory + "/":
                return True
            if "*" in glob.split("/", 1)[0]:
                return True
        return False

    def require_read(self, path: str) -> None:
        if not self.can_read(path):
            raise OutOfScope(
                f"{path} is outside the scope of owner {self.owner}.",
                hint=f"Use a path under {self.read[0].replace('/**', '/')} (see fs_list).",
                details={"path": path, "scope": list(self.read)},
            )

    def require_write(self, path: str) -> None:
        if not self.can_write(path):
            raise OutOfScope(
                f"{path} is outside the writable scope of owner {self.owner}.",
                hint=f"Write under {self.write[0].replace('/**', '/')} instead.",
                details={"path": path, "scope": list(self.write)},
            )


def _matches(path: str, globs: Iterable[str]) -> bool:
    return any(glob_to_regex(g).match(path) for g in globs)
