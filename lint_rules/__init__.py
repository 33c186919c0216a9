"""Built-in lint rules, one module per rule, listed in one registry (filled by the lint issue)."""

RULES: tuple[object, ...] = ()
