"""The diff in every write result is a unified diff that fs_patch applies back exactly."""

from hypothesis import given, settings
from hypothesis import strategies as st

from toolbelt.ops.patch import apply_file_patch, parse_patch
from toolbelt.pipeline import unified_diff

lines = st.lists(st.sampled_from(["a", "b", "c", "- item", "", "## h", "x y"]), max_size=30)


@settings(max_examples=300, deadline=None)
@given(before=lines, after=lines.filter(lambda xs: any(x for x in xs)))
def test_result_diff_applies_back(before: list[str], after: list[str]) -> None:
    old = "".join(x + "\n" for x in before) if before else None
    new = "".join(x + "\n" for x in after)
    diff = unified_diff("users/u1/notes/f.md", old, new)
    if old == new:
        assert diff == ""
        return
    (patch,) = parse_patch(diff)
    assert apply_file_patch(patch, old) == new


def test_large_file_one_line_change_keeps_line_numbers() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 5001))
    new = old.replace("line 4000\n", "line 4000 changed\n")
    diff = unified_diff("f.md", old, new)
    assert "@@ -3999,3 +3999,3 @@" in diff
    assert diff.count("\n") == 7


def test_two_crlf_file_diffs_whose_first_hunk_has_an_empty_context_line() -> None:
    """An empty context line of a CRLF diff is a lone `\\r`: it counts toward its hunk, so the
    second `---`/`+++` pair starts a second file (it was read as more hunks of the first)."""
    one = "--- a/x.md\r\n+++ b/x.md\r\n@@ -9,1 +9,1 @@\r\n\r\n@@ -9,0 +10,1 @@\r\n+\r\n"
    files = parse_patch(one + one.replace("x.md", "y.md"))
    assert [f.path for f in files] == ["x.md", "y.md"]
    assert [len(f.hunks) for f in files] == [2, 2]
