"""Run the rules on a text, with the workspace's configuration (pure).

`[lint]` in `toolbelt.toml` turns rules off or re-grades them, by id or alias:

    [lint]
    TB011 = "off"                 # or false
    heading-level-jump = "block"  # block | cap | warn | on

`[caps]` sets limits: top-level keys for every file, `[caps.<kind>]` for a kind, and
`[caps.<kind>.<anchor>]` for one section of a kind (`max_chars`, `max_items`, `max_item_chars`,
`max_file_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from toolbelt.errors import InvalidArgument
from toolbelt.grammar.document import Document, parse
from toolbelt.lint.rule import SEVERITIES, Finding, LintContext, Rule, Severity

CAP_NAMES = ("max_chars", "max_items", "max_item_chars", "max_file_bytes")


@dataclass(frozen=True, slots=True)
class LintSettings:
    severity: Mapping[str, Severity | None]
    """Rule id -> severity in force (None: the rule is off)."""
    caps: Mapping[str, Any]
    """The `[caps]` table as written."""
    _limits: dict[str | None, dict[str, dict[str, int]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """`limits` by kind, once computed (read-only for callers)."""

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], rules: Sequence[Rule]) -> LintSettings:
        by_name = {r.info.id: r for r in rules} | {r.info.alias: r for r in rules}
        severity: dict[str, Severity | None] = {r.info.id: r.info.severity for r in rules}
        for key, value in _table(raw, "lint").items():
            rule = by_name.get(key)
            if rule is None:
                raise InvalidArgument(
                    f"toolbelt.toml [lint] names an unknown rule {key!r}.",
                    hint="Use a rule id or alias from `toolbelt lint --rules` (e.g. TB011).",
                    details={"rule": key, "known": sorted(r.info.id for r in rules)},
                )
            severity[rule.info.id] = _grade(key, value, rule)
        caps = _table(raw, "caps")
        _check_caps(caps)
        return cls(severity, caps)

    def limits(self, kind: str | None) -> dict[str, dict[str, int]]:
        """Cap values by anchor ("" for the file and its defaults) for a file of `kind`
        (the same dict each time: do not change it)."""
        found = self._limits.get(kind)
        if found is None:
            if len(self._limits) > 256:
                self._limits.clear()  # kinds are open-ended; keep the memo bounded
            found = self._limits[kind] = self._compute_limits(kind)
        return found

    def _compute_limits(self, kind: str | None) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"": {}}
        for name in CAP_NAMES:
            if name in self.caps:
                out[""][name] = int(self.caps[name])
        table = self.caps.get(kind) if kind else None
        if isinstance(table, Mapping):
            for key, value in table.items():
                if key in CAP_NAMES:
                    out[""][key] = int(value)
                elif isinstance(value, Mapping):
                    out[key] = {k: int(v) for k, v in value.items()}
        return out


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            f"toolbelt.toml `{name}` must be a table ([{name}]), not {type(value).__name__}.",
            hint=f"Write it as a [{name}] table; see docs/lint.md.",
            details={"table": name},
        )
    return value


def _grade(key: str, value: Any, rule: Rule) -> Severity | None:
    if value is False or value == "off":
        return None
    if value is True or value == "on":
        return rule.info.severity
    if value == "cap" and not rule.info.parameters:
        raise InvalidArgument(
            f'toolbelt.toml [lint] {key} = "cap", but {rule.info.id} has no cap to exceed.',
            hint=f'Grade {key} "block" or "warn" (or "off").',
            details={"rule": key, "value": value},
        )
    if value in SEVERITIES:
        return value  # type: ignore[no-any-return]
    raise InvalidArgument(
        f"toolbelt.toml [lint] {key} = {value!r} is not off, on, block, cap or warn.",
        hint=f'Write {key} = "off", "on", "block", "cap" or "warn".',
        details={"rule": key, "value": value},
    )


def _check_caps(caps: Mapping[str, Any], where: str = "caps", depth: int = 0) -> None:
    """`[caps]` holds caps and kind tables; a kind table holds caps and anchor tables; an
    anchor table holds caps only."""
    for key, value in caps.items():
        if isinstance(value, Mapping) and depth < 2:
            _check_caps(value, f"{where}.{key}", depth + 1)
            continue
        is_count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if key not in CAP_NAMES or not is_count:
            raise InvalidArgument(
                f"toolbelt.toml [{where}] {key} = {value!r} is not a known cap.",
                hint=f"Caps are non-negative integers named {', '.join(CAP_NAMES)}, set in "
                "[caps], [caps.<kind>] or [caps.<kind>.<anchor>].",
                details={"table": where, "key": key},
            )


def lint_text(
    path: str,
    text: str,
    rules: Sequence[Rule],
    settings: LintSettings,
    templates: Mapping[str, str],
    *,
    changed: frozenset[str] | None = None,
    proposed: bool = False,
) -> list[Finding]:
    """Every finding of every rule in force on `text`, graded as configured.

    `changed` limits section-level rules to those anchors (a write lints what it changes);
    `proposed` marks a write's canonical result, which rules about on-disk forms skip.
    """

    def template_of(kind: str) -> Document | None:
        return parse(templates[kind]) if kind in templates else None

    return lint_document(
        path, text, parse(text), rules, settings, template_of, changed=changed, proposed=proposed
    )


def lint_document(
    path: str,
    text: str,
    doc: Document,
    rules: Sequence[Rule],
    settings: LintSettings,
    template_of: Callable[[str], Document | None],
    *,
    changed: frozenset[str] | None = None,
    proposed: bool = False,
) -> list[Finding]:
    """`lint_text` on an already parsed document, with templates looked up by kind."""
    return list(
        iter_findings(
            path, text, doc, rules, settings, template_of, changed=changed, proposed=proposed
        )
    )


def iter_findings(
    path: str,
    text: str,
    doc: Document,
    rules: Sequence[Rule],
    settings: LintSettings,
    template_of: Callable[[str], Document | None],
    *,
    changed: frozenset[str] | None = None,
    proposed: bool = False,
) -> Iterator[Finding]:
    """`lint_document` one finding at a time, rule by rule (for `toolbelt.lint.bounds.bound`,
    which keeps only what it lists)."""
    kind = kind_of(doc)
    template = template_of(kind) if kind is not None else None
    ctx = LintContext(
        path, text, doc, kind, template, settings.limits(kind), changed=changed, proposed=proposed
    )
    for rule in rules:
        grade = settings.severity.get(rule.info.id, rule.info.severity)
        if grade is None:
            continue
        for f in rule.check(ctx):
            yield f if f.severity == grade else replace(f, severity=grade)


def kind_of(doc: Document) -> str | None:
    """The front matter's `kind`, when it is a string."""
    kind = (doc.meta or {}).get("kind")
    return kind if isinstance(kind, str) else None
