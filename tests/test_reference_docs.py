"""The generated references in docs/ must match the registry and the CLI."""

from pathlib import Path

from support import REPO

from toolbelt.cli import build_parser
from toolbelt.dispatch import tools
from toolbelt.reference import render_cli, render_events, render_tools


def test_tools_reference_is_current() -> None:
    current = (REPO / "docs" / "tools.md").read_text(encoding="utf-8")
    assert current == render_tools(), "run: .venv/bin/python -m toolbelt.reference docs"


def test_events_reference_is_current() -> None:
    current = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    assert current == render_events(), "run: .venv/bin/python -m toolbelt.reference docs"


def test_cli_reference_is_current() -> None:
    current = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == render_cli(), "run: .venv/bin/python -m toolbelt.reference docs"


def test_every_tool_and_command_is_documented() -> None:
    tools_md = (REPO / "docs" / "tools.md").read_text(encoding="utf-8")
    for name in tools():
        assert f"## `{name}`" in tools_md
    cli_md = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices
    for name in sub.choices:
        assert f"## `toolbelt {name}`" in cli_md


def test_every_tool_argument_has_a_description() -> None:
    missing = [
        f"{tool.name}.{arg}"
        for tool in tools().values()
        for arg, field in tool.input_model.model_fields.items()
        if not field.description
    ]
    assert not missing, missing


def test_docs_files_exist() -> None:
    names = ("tools.md", "cli.md", "ledger.md", "paths.md", "grammar.md", "benchmarks.md")
    for name in (*names, "lint.md", "agents.md"):
        assert (Path(REPO) / "docs" / name).is_file(), name
