"""Reads, one group: md_read_section and md_list_sections on the 10 KB profile and on the
200 KB anchored CommonMark spec, fs_search over SEARCH_FILES files of about 10 KB, and the
block scanner finding the spec's top-level headings beside a full markdown-it-py parse.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from bench.common import SPEC, Case, GroupOut, profile, rounds, run_rounds, size

SEARCH_FILES = size("SEARCH_FILES", 1000, 20)
SEARCH_FILE_BYTES = 10_000
NEEDLE = "lighthouse keeper"
"""Planted in one file in a hundred: every file is read, the few that match are parsed."""

WORDS = [
    "calendar",
    "morning",
    "route",
    "trip",
    "plan",
    "walk",
    "coffee",
    "sister",
    "brother",
    "meeting",
    "doctor",
    "garden",
    "weekend",
    "train",
    "bike",
    "budget",
    "school",
    "project",
    "deadline",
    "friend",
    "dinner",
    "music",
    "guitar",
    "lesson",
    "running",
    "knee",
    "stretch",
    "sleep",
    "dream",
    "worry",
    "habit",
    "reading",
    "novel",
    "podcast",
    "email",
    "phone",
    "call",
    "kitchen",
    "recipe",
    "market",
    "bread",
    "tea",
    "birthday",
    "gift",
    "holiday",
    "beach",
    "mountain",
    "rain",
    "umbrella",
    "office",
    "manager",
    "review",
    "salary",
    "team",
    "lunch",
    "break",
    "focus",
    "notes",
    "list",
    "goal",
    "progress",
    "week",
    "month",
    "year",
    "memory",
    "letter",
    "photo",
    "album",
    "history",
    "family",
    "cousin",
    "uncle",
    "aunt",
    "neighbour",
    "dog",
    "cat",
    "vet",
    "walk",
    "park",
    "bench",
    "river",
    "bridge",
    "city",
    "bus",
    "ticket",
    "map",
    "station",
    "platform",
    "delay",
]


def search_file(rng: random.Random, n: int, owner: str = "u1") -> str:
    """A note of about SEARCH_FILE_BYTES: front matter, anchored sections of random words."""
    lines = ["---", "kind: note", f"id: n{n:04d}", f"owner: {owner}", "schema: 1", "---"]
    total, k = 0, 0
    while total < SEARCH_FILE_BYTES:
        words = rng.choices(WORDS, k=120)
        if n % 100 == 7 and k == 3:
            words[60:62] = NEEDLE.split()
        para = " ".join(words).capitalize() + "."
        block = [f"<!-- anchor: s{k} v1 -->", f"## Topic {k}", "", para, ""]
        lines += block
        total += sum(len(x) + 1 for x in block)
        k += 1
    return "\n".join(lines).rstrip() + "\n"


def group() -> GroupOut:
    from markdown_it import MarkdownIt

    import toolbelt
    from bench.write import SECTION_PATH, SPEC_PATH, SPEC_RATIONALE, anchored_spec
    from toolbelt.grammar.blocks import scan

    out = GroupOut()
    with tempfile.TemporaryDirectory(prefix="toolbelt-bench-read-") as tmp:
        root = Path(tmp) / "ws"
        rng = random.Random(7)
        search_dir = root / "users" / "u1" / "search"
        search_dir.mkdir(parents=True)
        total = 0
        for n in range(SEARCH_FILES):
            data = search_file(rng, n).encode()
            (search_dir / f"n{n:04d}.md").write_bytes(data)
            total += len(data)
        out.info["search_files"] = SEARCH_FILES
        out.info["search_bytes"] = total
        (root / SECTION_PATH).parent.mkdir(parents=True)
        (root / SECTION_PATH).write_text(profile(), encoding="utf-8")
        toolbelt.init_workspace(root)  # adopts every file: one import event each
        ws = toolbelt.open_workspace(root, owner="u1", actor="bench")
        spec_text, anchors = anchored_spec()
        env = ws.call(
            "fs_write", {"path": SPEC_PATH, "content": spec_text, "rationale": SPEC_RATIONALE}
        )
        assert env["ok"], env
        probe = ws.call("fs_search", {"query": NEEDLE, "path": "users/u1/search"})
        out.info["search_matches"] = len(probe["result"]["matches"])

        def call(name: str, args: dict[str, object]) -> None:
            env = ws.call(name, args)
            assert env["ok"], env

        def md_read_section(i: int) -> None:
            call("md_read_section", {"path": SECTION_PATH, "anchor": f"s{i % 10}"})

        def md_list_sections(_: int) -> None:
            call("md_list_sections", {"path": SECTION_PATH})

        def md_read_section_spec(i: int) -> None:
            call("md_read_section", {"path": SPEC_PATH, "anchor": anchors[i % len(anchors)]})

        def md_list_sections_spec(_: int) -> None:
            call("md_list_sections", {"path": SPEC_PATH})

        def fs_search(_: int) -> None:
            call("fs_search", {"query": NEEDLE, "path": "users/u1/search"})

        lines = SPEC.read_text(encoding="utf-8").split("\n")
        text = "\n".join(lines)
        md = MarkdownIt("commonmark")

        def scan_spec(_: int) -> None:
            scan(lines)

        def markdown_it_spec(_: int) -> None:
            md.parse(text)

        cases = [
            Case("md_read_section", md_read_section),
            Case("md_list_sections", md_list_sections),
            Case("md_read_section_spec", md_read_section_spec),
            Case("md_list_sections_spec", md_list_sections_spec),
            Case("fs_search", fs_search, every=5),
            Case("scan_spec_200kb", scan_spec, every=10),
            Case("markdown_it_spec", markdown_it_spec, every=10),
        ]
        run_rounds(cases, rounds(), out)
        ws.close()
    return out
