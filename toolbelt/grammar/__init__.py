"""The markdown grammar (pure, no I/O): front matter span and protected anchor lines."""

from toolbelt.grammar.protected import (
    ANCHOR_RE,
    AnchorMark,
    anchor_marks,
    frontmatter_text,
)

__all__ = ["ANCHOR_RE", "AnchorMark", "anchor_marks", "frontmatter_text"]
