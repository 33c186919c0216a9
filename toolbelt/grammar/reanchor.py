"""Re-anchoring (pure): restore anchor lines removed by hand, from a template's headings.

When a template section's anchor is missing from a document but the template's heading (same
level, same text) stands exactly once, unanchored, at the top level, its anchor line is put back
directly above it. Anything else is reported, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolbelt.grammar.document import parse


@dataclass(slots=True)
class Reanchoring:
    text: str
    """The document with every restorable anchor put back (unchanged when none were)."""
    restored: list[str] = field(default_factory=list)
    """Anchor ids put back."""
    unresolved: dict[str, str] = field(default_factory=dict)
    """Anchor id -> why it could not be put back."""

    @property
    def changed(self) -> bool:
        return bool(self.restored)


def reanchor(text: str, template: str) -> Reanchoring:
    doc = parse(text)
    present = set(doc.anchors())
    lines = list(doc.lines)
    inserts: dict[int, str] = {}
    result = Reanchoring(text)
    for want in parse(template).sections:
        if want.anchor in present:
            continue
        matches = [
            h for h in doc.unanchored if h.level == want.level and h.text.strip() == want.heading
        ]
        if len(matches) != 1:
            why = "the heading is missing" if not matches else "the heading appears more than once"
            result.unresolved[want.anchor] = f"{why} ({'#' * want.level} {want.heading})"
            continue
        inserts[matches[0].start] = f"<!-- anchor: {want.anchor} v{want.version} -->"
        result.restored.append(want.anchor)
    if not inserts:
        return result
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in inserts:
            out.append(inserts[i])
        out.append(line)
    fixed = "\n".join(out)
    after = parse(fixed)
    if not set(result.restored) <= set(after.anchors()):
        why = "the restored anchor does not parse"
        result.unresolved.update(dict.fromkeys(result.restored, why))
        result.restored = []
        return result
    result.text = fixed
    return result
