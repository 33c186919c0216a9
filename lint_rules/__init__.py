"""Built-in lint rules: one module per rule, listed here once. Ids are never reused."""

from lint_rules import (
    tb001_anchor_syntax,
    tb002_anchor_duplicate,
    tb003_anchor_placement,
    tb004_frontmatter,
    tb005_canonical_sections,
    tb006_section_length,
    tb007_list_item_count,
    tb008_list_item_length,
    tb009_file_size,
    tb010_duplicate_items,
    tb011_empty_section,
    tb012_section_not_in_template,
    tb013_heading_level_jump,
    tb014_non_canonical_text,
)
from toolbelt.lint.rule import Rule

RULES: tuple[Rule, ...] = (
    tb001_anchor_syntax.RULE,
    tb002_anchor_duplicate.RULE,
    tb003_anchor_placement.RULE,
    tb004_frontmatter.RULE,
    tb005_canonical_sections.RULE,
    tb006_section_length.RULE,
    tb007_list_item_count.RULE,
    tb008_list_item_length.RULE,
    tb009_file_size.RULE,
    tb010_duplicate_items.RULE,
    tb011_empty_section.RULE,
    tb012_section_not_in_template.RULE,
    tb013_heading_level_jump.RULE,
    tb014_non_canonical_text.RULE,
)
