"""The markdown grammar (pure, no I/O): front matter, anchored sections, list items.

`parse(text)` gives a `Document`; `edit` builds section edits that cannot change anything but
their own section; `blocks.scan` finds top-level headings as a CommonMark parser does.
"""

from toolbelt.grammar.document import ANCHOR_RE, Document, Section, parse

__all__ = ["ANCHOR_RE", "Document", "Section", "parse"]
