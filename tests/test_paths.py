"""Unit tests of toolbelt/paths.py: check_path, check_owner, glob_to_regex and Scope (SPEC §1)."""

from __future__ import annotations

import pytest

from toolbelt.errors import InvalidArgument, OutOfScope, ToolError
from toolbelt.paths import (
    DEFAULT_SCOPE,
    MAX_PATH_CHARS,
    MAX_SEGMENT_BYTES,
    Scope,
    check_owner,
    check_path,
    glob_to_regex,
)

# -- check_path: accepted --------------------------------------------------------------------

ACCEPTED = [
    "users/u1/overview.md",
    "users/u1/notes/running-log.md",
    "users/u1/parts/p-anxious-planner/profile.md",
    "users",
    "a",
    "users/u1/notes/with space.md",
    "users/u1/notes/caf\u00e9.md",  # NFC form of é
    "users/u1/notes/\u65e5\u8a18.md",  # CJK
    "users/u1/notes/.hidden.md",
    "users/u1/notes/a..b.md",  # dots inside a name are only a name
    "users/u1/notes/...",  # three dots: a literal name, not a parent reference
    "users/u1/notes/100%.md",  # a lone % is not percent-encoding
    "users/u1/notes/%zz.md",
    "users/u1/notes/a~b.md",  # ~ only refused at a segment start
    "users/u1/" + "n" * (MAX_SEGMENT_BYTES - 3) + ".md",  # exactly the segment limit
]


@pytest.mark.parametrize("path", ACCEPTED)
def test_check_path_accepts_canonical_paths(path: str) -> None:
    assert check_path(path) == path


def test_check_path_accepts_root_only_when_allowed() -> None:
    assert check_path(".", allow_root=True) == "."
    with pytest.raises(OutOfScope):
        check_path(".")


def test_check_path_accepts_exactly_max_path_chars() -> None:
    seg = "s" * 100
    path = "/".join([seg] * 10)
    path = path + "/" + "t" * (MAX_PATH_CHARS - len(path) - 1)
    assert len(path) == MAX_PATH_CHARS
    assert check_path(path) == path
    with pytest.raises(InvalidArgument):
        check_path(path + "x")


# -- check_path: refused ---------------------------------------------------------------------

REFUSED: list[tuple[str, str]] = [
    # (path, code)
    ("", "invalid_argument"),
    ("..", "out_of_scope"),
    ("../x", "out_of_scope"),
    ("users/..", "out_of_scope"),
    ("users/u1/../u2/overview.md", "out_of_scope"),
    ("users/u1/notes/..", "out_of_scope"),
    ("./x", "out_of_scope"),
    ("users/./u1", "out_of_scope"),
    ("/etc/passwd", "out_of_scope"),
    ("//x", "out_of_scope"),
    ("~", "out_of_scope"),
    ("~root/x", "out_of_scope"),
    ("users/u1/~/x.md", "invalid_argument"),
    (".toolbelt", "out_of_scope"),
    (".toolbelt/ledger.sqlite3", "out_of_scope"),
    ("users//u1", "invalid_argument"),
    ("users/u1/", "invalid_argument"),
    ("users\\u2\\overview.md", "invalid_argument"),
    ("..\\..", "invalid_argument"),
    ("C:/x", "invalid_argument"),
    ("c:\\x", "invalid_argument"),
    ("users/u1/a.md:stream", "invalid_argument"),
    ("%2e%2e/x", "invalid_argument"),
    ("%2E%2E%2F", "invalid_argument"),
    ("users%2fu2", "invalid_argument"),
    ("%252e", "invalid_argument"),
    ("\uff0e\uff0e\uff0f", "invalid_argument"),  # fullwidth ../
    ("users/u1/\u2215etc", "invalid_argument"),  # division slash
    ("users/u1/\u2044etc", "invalid_argument"),  # fraction slash
    ("users/u1/\uff0fetc", "invalid_argument"),  # fullwidth solidus
    ("users/u1/\u2024\u2024/x", "invalid_argument"),  # one-dot leaders
    ("users/u1/\u2025", "invalid_argument"),  # two-dot leader
    ("users/u1/caf\u0065\u0301.md", "invalid_argument"),  # NFD é
    ("users/u1/\u212b.md", "invalid_argument"),  # Angstrom sign, not NFC
    ("users/u1/a\u200b.md", "invalid_argument"),  # zero-width space
    ("users/u1/\u202egnp.md", "invalid_argument"),  # right-to-left override
    ("users/u1/a\ufeff.md", "invalid_argument"),  # BOM / ZWNBSP
    ("users/u1/a\x00.md", "invalid_argument"),
    ("users/u1/a\n.md", "invalid_argument"),
    ("users/u1/a\t.md", "invalid_argument"),
    ("users/u1/a\x7f.md", "invalid_argument"),
    ("users/u1/a\x85.md", "invalid_argument"),
    ("users/u1/a\u2028.md", "invalid_argument"),
    ("users/u1/a\ud800.md", "invalid_argument"),  # lone surrogate
    ("users/u1/a\ue000.md", "invalid_argument"),  # private use
    ("x" * (MAX_PATH_CHARS + 1), "invalid_argument"),
    ("users/u1/" + "n" * (MAX_SEGMENT_BYTES + 1), "invalid_argument"),
    ("users/u1/" + "\u00e9" * 128 + ".md", "invalid_argument"),  # 256+ bytes, 131 chars
]


@pytest.mark.parametrize(("path", "code"), REFUSED, ids=[repr(p)[:40] for p, _ in REFUSED])
def test_check_path_refuses(path: str, code: str) -> None:
    with pytest.raises(ToolError) as info:
        check_path(path)
    err = info.value
    assert err.code == code
    assert err.message and err.hint
    assert err.details == {"path": path}


@pytest.mark.parametrize("value", [None, 1, b"users/u1/overview.md", ["users"], {"p": 1}])
def test_check_path_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_path(value)
    assert info.value.hint


def test_check_path_never_normalizes_into_acceptance() -> None:
    # A refused spelling is refused whether or not its decoded or normalized form is harmless.
    for path in ("users/u1/%6fverview.md", "users/u1/overview\uff0emd", "users/./u1/overview.md"):
        with pytest.raises(ToolError):
            check_path(path)


# -- check_owner -----------------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["u1", "U2", "user_3", "a-b", "0", "x" * 64])
def test_check_owner_accepts(owner: str) -> None:
    assert check_owner(owner) == owner


@pytest.mark.parametrize(
    "owner", ["", "-u", "_u", "u/1", "..", "u*", "u?", "u{owner}", "x" * 65, "u 1", None, 7]
)
def test_check_owner_refuses(owner: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_owner(owner)
    assert info.value.hint


# -- glob_to_regex ---------------------------------------------------------------------------

GLOBS: list[tuple[str, str, bool]] = [
    # (glob, path, matches)
    ("users/u1/**", "users/u1", True),  # a trailing /** matches the directory itself
    ("users/u1/**", "users/u1/overview.md", True),
    ("users/u1/**", "users/u1/a/b/c.md", True),
    ("users/u1/**", "users/u10/overview.md", False),
    ("users/u1/**", "users/u1x", False),
    ("users/u1/**", "users/u", False),
    ("users/u1/**", "users", False),
    ("users/u1/**", "xusers/u1/a.md", False),
    ("users/u1/**", "users/u2/overview.md", False),
    ("**", "anything/at/all.md", True),
    ("**", "", True),
    ("*.md", "a.md", True),
    ("*.md", "dir/a.md", False),  # * stays inside one segment
    ("**/*.md", "a.md", True),  # **/ may match no directory
    ("**/*.md", "x/y/a.md", True),
    ("**/*.md", "x/y/a.txt", False),
    ("users/*/notes/**", "users/u2/notes/a.md", True),
    ("users/*/notes/**", "users/u2/x/notes/a.md", False),
    ("users/u?/x.md", "users/u1/x.md", True),
    ("users/u?/x.md", "users/u12/x.md", False),
    ("users/u?/x.md", "users/u//x.md", False),  # ? never matches a slash
    ("a.md", "aXmd", False),  # a dot is literal
    ("a+b.md", "a+b.md", True),  # regex metacharacters are literal
    ("a+b.md", "aab.md", False),
    ("(x)|y", "y", False),
    ("(x)|y", "(x)|y", True),
    ("[ab].md", "a.md", False),
    ("[ab].md", "[ab].md", True),
    ("shared/**", "shared", True),
    ("shared/**", "shared-not/a.md", False),
    ("a/**/b.md", "a/b.md", True),
    ("a/**/b.md", "a/x/y/b.md", True),
    ("a/**/b.md", "ab.md", False),
]


@pytest.mark.parametrize(("glob", "path", "matches"), GLOBS)
def test_glob_to_regex(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(glob).match(path)) is matches


def test_glob_to_regex_is_anchored_at_both_ends() -> None:
    rx = glob_to_regex("users/u1/overview.md")
    assert rx.match("users/u1/overview.md")
    assert not rx.match("users/u1/overview.md.bak")
    assert not rx.match("x/users/u1/overview.md")
    assert not rx.match("users/u1/overview.md\n")


# -- Scope -----------------------------------------------------------------------------------


def test_default_scope_is_the_owner_directory() -> None:
    assert DEFAULT_SCOPE == ("users/{owner}/**",)
    scope = Scope.for_owner("u1")
    assert scope.owner == "u1"
    assert scope.read == ("users/u1/**",)
    assert scope.write == ("users/u1/**",)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("users/u1", True),
        ("users/u1/overview.md", True),
        ("users/u1/notes/a.md", True),
        ("users/u10/overview.md", False),
        ("users/u1x/overview.md", False),
        ("users/u", False),
        ("users/U1/overview.md", False),
        ("Users/u1/overview.md", False),
        ("users/u2/overview.md", False),
        ("users", False),
        ("shared/a.md", False),
        (".toolbelt/ledger.sqlite3", False),
        ("u1/overview.md", False),
    ],
)
def test_default_scope_reads_and_writes_only_the_owner(path: str, allowed: bool) -> None:
    scope = Scope.for_owner("u1")
    assert scope.can_read(path) is allowed
    assert scope.can_write(path) is allowed


def test_custom_scope_expands_owner_and_separates_read_from_write() -> None:
    scope = Scope.for_owner("u1", ["users/{owner}/**", "shared/**"], ["users/{owner}/notes/**"])
    assert scope.read == ("users/u1/**", "shared/**")
    assert scope.write == ("users/u1/notes/**",)
    assert scope.can_read("shared/faq.md")
    assert not scope.can_write("shared/faq.md")
    assert scope.can_read("users/u1/overview.md")
    assert not scope.can_write("users/u1/overview.md")
    assert scope.can_write("users/u1/notes/a.md")
    assert not scope.can_read("users/u2/notes/a.md")
    assert not scope.can_write("users/u2/notes/a.md")


def test_write_scope_defaults_to_read_scope() -> None:
    scope = Scope.for_owner("u7", ["shared/{owner}/**"])
    assert scope.write == scope.read == ("shared/u7/**",)


@pytest.mark.parametrize("owner", ["", "..", "u/1", "*", "{owner}", "u1/**"])
def test_scope_refuses_owner_ids_that_could_widen_a_glob(owner: str) -> None:
    with pytest.raises(InvalidArgument):
        Scope.for_owner(owner)


def test_unrestricted_scope() -> None:
    scope = Scope.unrestricted()
    assert scope.owner is None
    for path in ("users/u1/overview.md", "users/u2/x/y.md", "shared/a.md"):
        assert scope.can_read(path)
        assert scope.can_write(path)


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        (".", True),
        ("users", True),
        ("users/u1", True),
        ("users/u1/notes", True),
        ("users/u2", False),
        ("users/u", False),
        ("users/u10", False),
        ("use", False),
        ("shared", False),
        (".toolbelt", False),
    ],
)
def test_may_contain_prunes_only_what_cannot_hold_readable_paths(
    directory: str, expected: bool
) -> None:
    assert Scope.for_owner("u1").may_contain(directory) is expected


def test_may_contain_with_a_leading_wildcard_glob() -> None:
    scope = Scope.for_owner("u1", ["*/u1/**"])
    assert scope.may_contain("users")
    assert scope.can_read("users/u1/a.md")
    assert not scope.can_read("users/u2/a.md")


def test_require_read_and_write_raise_out_of_scope_with_hint_and_details() -> None:
    scope = Scope.for_owner("u1", ["users/{owner}/**", "shared/**"], ["users/{owner}/notes/**"])
    scope.require_read("shared/a.md")
    scope.require_write("users/u1/notes/a.md")
    with pytest.raises(OutOfScope) as info:
        scope.require_read("users/u2/overview.md")
    err = info.value
    assert err.code == "out_of_scope"
    assert "users/u2/overview.md" in err.message
    assert "users/u1/" in err.hint
    assert err.details == {"path": "users/u2/overview.md", "scope": ["users/u1/**", "shared/**"]}
    with pytest.raises(OutOfScope) as info:
        scope.require_write("users/u1/overview.md")
    assert info.value.hint and "users/u1/notes/" in info.value.hint
    assert info.value.details["scope"] == ["users/u1/notes/**"]


def test_scope_is_immutable() -> None:
    scope = Scope.for_owner("u1")
    with pytest.raises(AttributeError):
        scope.read = ("**",)  # type: ignore[misc]
