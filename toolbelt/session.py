"""What a tool handler sees: the workspace's parts and the call's context and scope."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolbelt.config import Config
from toolbelt.context import CallContext
from toolbelt.fsio import SafeRoot
from toolbelt.ledger import Ledger
from toolbelt.lint.linter import Linter
from toolbelt.paths import Scope
from toolbelt.pipeline import WritePipeline


@dataclass(frozen=True, slots=True)
class Session:
    root: Path
    config: Config
    files: SafeRoot
    ledger: Ledger
    pipeline: WritePipeline
    ctx: CallContext
    scope: Scope
    linter: Linter
