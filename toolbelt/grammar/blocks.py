"""Top-level headings of a CommonMark document, found by a block-level scan.

`scan` reports the document-level ATX and setext headings, the ones that are not inside a
block quote, a list item, a fenced or indented code block or an HTML block, and which block
is still open after the last line. It agrees with markdown-it-py's
`MarkdownIt("commonmark")` on every input: it runs the same block rules in the same order,
with the same quirks (lazy continuation lines, the 20-level nesting limit, link reference
definitions that cannot become setext headings, ...), over per-line offsets instead of a
token stream, and never looks at inline content.

Cost: one pass over the lines, plus one more pass over the lines of each container
(block quote, list item) per level of nesting; no markdown-it at run time.

Line endings: `lines` is the document split on "\\n". A trailing "\\r" on a line (CRLF
input) is ignored and NUL is read as U+FFFD, as markdown-it does; any other "\\r" must be
normalized by the caller (markdown-it would count it as a line break).
"""

from __future__ import annotations

import html.entities
import re
from array import array
from dataclasses import dataclass
from itertools import repeat
from operator import sub

__all__ = ["Heading", "ScanResult", "scan"]


@dataclass(frozen=True, slots=True)
class Heading:
    """A top-level heading; line numbers are 0-based indexes into the scanned lines."""

    start: int
    """First line (for a setext heading: the first line of its text)."""
    end: int
    """Last line (ATX: == start; setext: the underline)."""
    level: int
    """1..6 (setext: 1 for `=`, 2 for `-`)."""
    text: str
    """The raw inline content, as markdown-it's inline token `.content`: ATX without the
    opening and closing `#` runs; setext: the text lines joined with "\\n"; trimmed."""
    setext: bool


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The top-level headings in document order, and what is open after the last line."""

    headings: tuple[Heading, ...]
    open_block: str | None
    """The top-level block that lines appended after the input could still join:

    - "fence": a fenced code block without its closing fence; it takes every following
      line up to a closing fence.
    - "html": an HTML block that has not met its end condition; kinds 1-5 (`<script`,
      `<pre`, `<style`, `<textarea`, `<!--`, `<?`, `<!X`, `<![CDATA[`) take every following
      line, blank ones included, up to their end marker; kinds 6-7 (block tags, other
      complete tags) take every line up to the next blank line.
    - "paragraph": the last line is a line of a paragraph or of a link reference
      definition: a following non-blank line may continue it (lazily, or as the rest of
      the definition) unless it starts a block that can interrupt a paragraph, and a
      `===`/`---` line may turn the paragraph into a setext heading.
    - "indented_code": the last line is a line of an indented code block; following lines
      indented 4+ columns continue it.
    - "list" / "blockquote": the last line is in a top-level list / block quote: following
      indented (list) or `>` (block quote) lines continue it, and a plain text line may
      continue a paragraph inside it lazily.
    - None: nothing is open. This is the case after a heading, a thematic break, a closed
      fence or HTML block, and whenever the last line is blank (except for an open fence or
      an open HTML block of kind 1-5).
    """


# --- Character classes and patterns (CommonMark / markdown-it) -------------------------

_MAX_NESTING = 20  # markdown-it's commonmark preset: deeper blocks swallow the rest
_TRIM = "".join(
    chr(c)
    for c in sorted(
        {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xA0, 0x1680, 0x202F, 0x205F, 0x3000}
        | set(range(0x2000, 0x200B))
        | {0x2028, 0x2029}
    )
)
_PARA_SPECIAL = "=-`~>*_+#<0123456789"  # first chars of an underline or an interrupter
_LIST_START = "*-+0123456789"
_ATX = re.compile(r"#{1,6}(?![^ \t])")
_UNDERLINE = re.compile(r"(?:=+|-+)[ \t]*\Z")
_HR = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})\Z")
_FENCE = re.compile(r"`{3,}|~{3,}")
_CLOSER = {"`": re.compile(r"(`+)[ \t]*\Z"), "~": re.compile(r"(~+)[ \t]*\Z")}
_BULLET = re.compile(r"[*+-](?![^ \t])")
_ORDERED = re.compile(r"([0-9]{1,9})[.)](?![^ \t])")
_LABEL_STOP = re.compile(r"[\[\]\n\\]")
_SPACES = re.compile(r"[ \t]*")

_BLOCK_NAMES = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|"
    "details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|"
    "h1|h2|h3|h4|h5|h6|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|"
    "noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|"
    "thead|title|tr|track|ul"
)
_ATTR = (
    r"(?:\s+[a-zA-Z_:][a-zA-Z0-9:._-]*" r"""(?:\s*=\s*(?:[^"'=<>`\x00-\x20]+|'[^']*'|"[^"]*"))?)"""
)
_OPEN_CLOSE_TAG = (
    r"^(?:<[A-Za-z][A-Za-z0-9\-]*" + _ATTR + r"*\s*\/?>|<\/[A-Za-z][A-Za-z0-9\-]*\s*>)"
)
# (start, end) of the 7 kinds of HTML block; kinds 6-7 end at a blank line.
_HTML_OPEN = (
    re.compile(r"^<(?a:(script|pre|style|textarea))(?=(\s|>|$))", re.IGNORECASE),
    re.compile(r"^<!--"),
    re.compile(r"^<\?"),
    re.compile(r"^<![A-Za-z]"),
    re.compile(r"^<!\[CDATA\["),
    re.compile(r"^</?(?a:(" + _BLOCK_NAMES + r"))(?=(\s|/?>|$))", re.IGNORECASE),
    re.compile(_OPEN_CLOSE_TAG + r"\s*$"),
)
_HTML_CLOSE = (
    re.compile(r"<\/(?a:(script|pre|style|textarea))>", re.IGNORECASE),
    re.compile(r"-->"),
    re.compile(r"\?>"),
    re.compile(r">"),
    re.compile(r"\]\]>"),
)

_UNESCAPE = re.compile(
    r'\\([!"#$%&\'()*+,\-.\/:;<=>?@[\\\]^_`{|}~])|&([a-z#][a-z0-9]{1,31});', re.IGNORECASE
)
_ENTITY_DEC = re.compile(r"#([0-9]{1,8})")
_ENTITY_HEX = re.compile(r"#x([a-f0-9]{1,8})", re.IGNORECASE)
_ENTITIES = {name.rstrip(";"): chars for name, chars in html.entities.html5.items()}
_BAD_PROTO = re.compile(r"(vbscript|javascript|file|data):")
_GOOD_DATA = re.compile(r"data:image\/(gif|png|jpeg|webp);")


def scan(lines: list[str]) -> ScanResult:
    """Find the top-level headings of `lines` (the document split on "\\n"; a trailing ""
    for a final newline is allowed) and the block still open after the last line."""
    return _Scanner(lines).run()


def _prepare(lines: list[str]) -> tuple[list[str], bool]:
    """The lines as markdown-it sees them (CRLF and NUL normalized), and whether any tab."""
    text = "\n".join(lines)
    if "\r" in text or "\0" in text:
        lines = [
            (line[:-1] if line.endswith("\r") else line).replace("\0", "\ufffd") for line in lines
        ]
    return lines, "\t" in text


def _columns(src: list[str], shift: list[int]) -> list[int]:
    """Indent width of each line in columns, tabs expanded to the next multiple of 4."""
    out = shift.copy()
    for i, line in enumerate(src):
        t = shift[i]
        if t and "\t" in line[:t]:
            col = 0
            for ch in line[:t]:
                col += 4 - col % 4 if ch == "\t" else 1
            out[i] = col
    return out


def _html_kind(text: str) -> int:
    """Which of the 7 HTML block starts `text` (a line from its first `<`) is, or -1."""
    for kind, start in enumerate(_HTML_OPEN):
        if start.search(text):
            return kind
    return -1


def _fence_open(s: str, pos: int) -> re.Match[str] | None:
    """The marker run of a code fence opening at `pos`, or None."""
    m = _FENCE.match(s, pos)
    if m is None or (s[pos] == "`" and "`" in s[m.end() :]):
        return None
    return m


def _unescape(s: str) -> str:
    """markdown-it's unescapeAll: backslash escapes and entity references."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1)
        name = m.group(2)
        if name in _ENTITIES:
            return _ENTITIES[name]
        num = _ENTITY_DEC.fullmatch(name) or _ENTITY_HEX.fullmatch(name)
        if num is not None:
            code = int(num.group(1), 10 if num.re is _ENTITY_DEC else 16)
            if _valid_entity_code(code):
                return chr(code)
        return m.group()

    if "\\" not in s and "&" not in s:
        return s
    return _UNESCAPE.sub(repl, s)


def _valid_entity_code(c: int) -> bool:
    return not (
        0xD800 <= c <= 0xDFFF
        or 0xFDD0 <= c <= 0xFDEF
        or (c & 0xFFFF) in (0xFFFF, 0xFFFE)
        or 0 <= c <= 8
        or c == 0x0B
        or 0x0E <= c <= 0x1F
        or 0x7F <= c <= 0x9F
        or c > 0x10FFFF
    )


def _link_allowed(dest: str) -> bool:
    """markdown-it's validateLink on a reference destination (no javascript: etc.)."""
    url = _unescape(dest).strip().lower()
    return not _BAD_PROTO.match(url) or bool(_GOOD_DATA.match(url))


def _link_destination(s: str, pos: int) -> int:
    """End of the link destination starting at `pos`, or -1 (markdown-it's rules)."""
    end = len(s)
    if pos < end and s[pos] == "<":
        p = pos + 1
        while p < end:
            ch = s[p]
            if ch in "\n<":
                return -1
            if ch == ">":
                return p + 1 if _link_allowed(s[pos + 1 : p]) else -1
            p += 2 if ch == "\\" and p + 1 < end else 1
        return -1
    level = 0
    p = pos
    while p < end:
        ch = s[p]
        if ch == " " or ch < " " or ch == "\x7f":
            break
        if ch == "\\" and p + 1 < end:
            if s[p + 1] == " ":
                break
            p += 2
            continue
        if ch == "(":
            level += 1
            if level > 32:
                return -1
        elif ch == ")":
            if level == 0:
                break
            level -= 1
        p += 1
    if p == pos or level != 0 or not _link_allowed(s[pos:p]):
        return -1
    return p


def _skip_spaces(s: str, pos: int) -> int:
    m = _SPACES.match(s, pos)
    return m.end() if m is not None else pos


def _link_title(s: str, pos: int, marker: str) -> tuple[int, bool, int]:
    """Scan a link title body from `pos` up to `marker`: (position after the closing marker
    or -1, whether the title may continue on the next line, length of text scanned)."""
    end = len(s)
    p = pos
    while p < end:
        ch = s[p]
        if ch == marker:
            return p + 1, False, p - pos
        if ch == "(" and marker == ")":
            return -1, False, 0
        if ch == "\\" and p + 1 < end:
            p += 1
        p += 1
    return -1, True, p - pos


class _Scanner:
    """markdown-it's StateBlock and block rules, with per-line offsets into line strings.

    For line i: `src[i]` is its text, `bm[i]` where the current container's content
    starts, `ts[i]` the offset of its first non-blank character from `bm[i]`, `sc[i]` its
    indent in columns (-1 marks a lazy continuation line inside a block quote) and `bsc[i]`
    the column where `bm[i]` sits (for tab stops). Containers rewrite these for their lines
    and restore them afterwards, as markdown-it does.

    A block quote records a line's old values in `undo` only when it changes them (a line
    already lazy stays lazy in the quotes nested inside), in one log shared by every level:
    the log holds one entry per `>` marker consumed plus one per line made lazy, whatever the
    nesting depth, where markdown-it keeps a copy of every line of the quote per level.
    """

    def __init__(self, lines: list[str]) -> None:
        src, tabs = _prepare(lines)
        n = len(src)
        ts: list[int] = list(map(sub, map(len, src), map(len, map(str.lstrip, src, repeat(" \t")))))
        self.src: list[str] = [*src, ""]  # markdown-it's fake last line
        self.ts: list[int] = [*ts, 0]
        self.sc: list[int] = _columns(self.src, self.ts) if tabs else self.ts.copy()
        self.bm: list[int] = [0] * (n + 1)
        self.bsc: list[int] = [0] * (n + 1)
        self.undo = array("i")  # (line, bm, ts, sc, bsc) per change, innermost quote last
        self.line_max = n
        self.blk = 0  # required content indent (blkIndent)
        self.list_indent = -1
        self.level = 0  # container nesting (token level)
        self.line = 0
        self.closed = False  # did the last fence / HTML block meet its end condition
        self.headings: list[Heading] = []
        self.quotes = 0  # enclosing block quotes
        self.swallowed = False  # a list nested past the limit took every later line
        self.last_kind: str | None = None
        self.last_closed = False
        self.last_swallowed = False

    def run(self) -> ScanResult:
        self.tokenize(0, self.line_max)
        return ScanResult(tuple(self.headings), self.open_block())

    def open_block(self) -> str | None:
        kind = self.last_kind
        if self.last_swallowed:
            return kind
        if kind in ("fence", "html"):
            return None if self.last_closed else kind
        n = self.line_max
        if kind is None or not self.src[n - 1].strip(" \t"):
            return None
        if kind == "reference":
            return "paragraph"
        return kind if kind in ("paragraph", "indented_code", "list", "blockquote") else None

    # --- the block loop -------------------------------------------------------------

    def is_empty(self, i: int) -> bool:
        return self.bm[i] + self.ts[i] >= len(self.src[i])

    def tokenize(self, start: int, end: int) -> None:
        """Parse blocks of lines [start, end) at the current indent (markdown-it's
        ParserBlock.tokenize); leaves `self.line` after the last block."""
        src, bm, ts, sc = self.src, self.bm, self.ts, self.sc
        line = start
        while line < end:
            line_max = self.line_max
            while line < line_max and bm[line] + ts[line] >= len(src[line]):
                line += 1
            self.line = line
            if line >= end or sc[line] < self.blk:
                break
            if self.level >= _MAX_NESTING:
                self.line = end  # markdown-it stops parsing: the rest joins this block
                self.swallowed = self.quotes == 0  # (ends at the end of the document)
                break
            if self.level == 0:
                self.swallowed = False
                kind = self.block(line, end)
                self.last_kind = kind
                self.last_closed = self.closed
                self.last_swallowed = self.swallowed
            else:
                self.block(line, end)
            line = self.line
            if line < end and bm[line] + ts[line] >= len(src[line]):
                line += 1
                self.line = line

    def block(self, line: int, end: int) -> str:
        """Run the first block rule that matches at `line`; returns what it found."""
        s = self.src[line]
        pos = self.bm[line] + self.ts[line]
        if self.sc[line] - self.blk >= 4:
            self.code(line, end)
            return "indented_code"
        ch = s[pos]
        if ch in "`~" and self.fence(line, end):
            return "fence"
        if ch == ">":
            self.blockquote(line, end)
            return "blockquote"
        if ch in "*-_" and _HR.match(s, pos):
            self.line = line + 1
            return "hr"
        if ch in _LIST_START and self.list(line, end):
            return "list"
        if ch == "[" and self.reference(line):
            return "reference"
        if ch == "<" and self.html(line, end):
            return "html"
        if ch == "#" and self.atx(line):
            return "heading"
        return self.paragraph(line, end)

    def interrupts(self, i: int, para: bool) -> bool:
        """Does line `i` start a block that ends a paragraph, a reference or a lazy block
        quote line (the "paragraph"/"reference"/"blockquote" terminator rules)? `para`:
        the interrupted block is a paragraph (only `1.` and non-empty items may start a
        list there)."""
        s = self.src[i]
        pos = self.bm[i] + self.ts[i]
        if pos >= len(s) or self.sc[i] - self.blk >= 4:
            return False
        ch = s[pos]
        if ch == ">":
            return True
        if ch in "`~":
            return _fence_open(s, pos) is not None
        if ch == "#":
            return _ATX.match(s, pos) is not None
        if ch == "<":
            return 0 <= _html_kind(s[pos:]) < 6
        if ch in "*-_" and _HR.match(s, pos):
            return True
        return ch in _LIST_START and self.list_start(i, para)

    def ends_list(self, i: int) -> bool:
        """Does line `i` start a block that ends a list (the "list" terminator rules)?"""
        s = self.src[i]
        pos = self.bm[i] + self.ts[i]
        if pos >= len(s) or self.sc[i] - self.blk >= 4:
            return False
        ch = s[pos]
        if ch in "`~":
            return _fence_open(s, pos) is not None
        return ch == ">" or (ch in "*-_" and _HR.match(s, pos) is not None)

    # --- leaf blocks ----------------------------------------------------------------

    def code(self, line: int, end: int) -> None:
        last = nxt = line + 1
        while nxt < end:
            if self.is_empty(nxt):
                nxt += 1
            elif self.sc[nxt] - self.blk >= 4:
                nxt += 1
                last = nxt
            else:
                break
        self.line = last

    def fence(self, line: int, end: int) -> bool:
        src, bm, ts, sc, blk = self.src, self.bm, self.ts, self.sc, self.blk
        s = src[line]
        pos = bm[line] + ts[line]
        m = _fence_open(s, pos)
        if m is None:
            return False
        marker = s[pos]
        length = m.end() - pos
        closer = _CLOSER[marker]
        nxt = line
        closed = False
        while True:
            nxt += 1
            if nxt >= end:
                break
            t = src[nxt]
            if sc[nxt] < blk and bm[nxt] + ts[nxt] < len(t):
                break  # an outdented line ends the container, and the fence with it
            if marker not in t:
                continue
            p = bm[nxt] + ts[nxt]
            if not t.startswith(marker, p) or sc[nxt] - blk >= 4:
                continue
            cm = closer.match(t, p)
            if cm is not None and len(cm.group(1)) >= length:
                closed = True
                break
        self.line = nxt + 1 if closed else nxt
        self.closed = closed
        return True

    def html(self, line: int, end: int) -> bool:
        src, bm, ts = self.src, self.bm, self.ts
        text = src[line][bm[line] + ts[line] :]
        kind = _html_kind(text)
        if kind < 0:
            return False
        nxt = line + 1
        closed = True
        if kind >= 5:  # ends before a blank line
            closed = False
            while nxt < end:
                if self.sc[nxt] < self.blk:
                    break
                if bm[nxt] + ts[nxt] >= len(src[nxt]):
                    closed = True
                    break
                nxt += 1
        elif not _HTML_CLOSE[kind].search(text):
            closed = False
            close = _HTML_CLOSE[kind]
            while nxt < end:
                empty = self.is_empty(nxt)
                if self.sc[nxt] < self.blk and not empty:
                    break
                nxt += 1
                if not empty and close.search(src[nxt - 1][bm[nxt - 1] + ts[nxt - 1] :]):
                    closed = True
                    break
        self.line = nxt
        self.closed = closed
        return True

    def atx(self, line: int) -> bool:
        s = self.src[line]
        pos = self.bm[line] + self.ts[line]
        m = _ATX.match(s, pos)
        if m is None:
            return False
        self.line = line + 1
        if self.level == 0:
            body = s[m.end() :].rstrip(" \t")
            cut = body.rstrip("#")
            if cut and cut[-1] in " \t":
                body = cut
            text = body.strip(_TRIM)
            self.headings.append(Heading(line, line, m.end() - pos, text, False))
        return True

    def paragraph(self, start: int, end: int) -> str:
        """markdown-it's lheading rule, falling back to its paragraph rule."""
        nxt, level = self.para_scan(start + 1, end, True)
        if level:
            self.line = nxt + 1
            if self.level == 0:
                text = "\n".join(self.src[start:nxt]).strip(_TRIM)
                self.headings.append(Heading(start, nxt, level, text, True))
            return "setext"
        # The paragraph rule scans up to line_max rather than `end`.
        if nxt >= end and end < self.line_max:
            nxt = self.para_scan(nxt, self.line_max, False)[0]
        self.line = min(nxt, self.line_max)
        return "paragraph"

    def para_scan(self, nxt: int, limit: int, underline: bool) -> tuple[int, int]:
        """Follow a paragraph from line `nxt`: (the line that ends it, 0) or, if
        `underline`, (its setext underline, level) when one comes first."""
        src, bm, ts, sc, blk = self.src, self.bm, self.ts, self.sc, self.blk
        while nxt < limit:
            s = src[nxt]
            pos = bm[nxt] + ts[nxt]
            if pos >= len(s):
                break
            if s[pos] in _PARA_SPECIAL:
                c = sc[nxt]
                if c - blk <= 3:
                    if underline and c >= blk and _UNDERLINE.match(s, pos):
                        return nxt, 1 if s[pos] == "=" else 2
                    if c >= 0 and self.interrupts(nxt, True):
                        break
            nxt += 1
        return nxt, 0

    # --- link reference definitions ---------------------------------------------------

    def reference(self, start: int) -> bool:
        """markdown-it's reference rule: a definition takes its lines out of the paragraph
        that would otherwise start here (so `[a]: /u` + `===` is no heading)."""
        s = self.src[start]
        found = self.ref_label(s[self.bm[start] + self.ts[start] :] + "\n", start + 1)
        if found is None:
            return False
        text, nxt, label_end = found
        if text[label_end + 1 : label_end + 2] != ":":
            return False
        text, nxt, pos = self.ref_space(text, nxt, label_end + 2)
        dest_end = _link_destination(text, pos)
        if dest_end < 0:
            return False
        dest_line = nxt
        text, nxt, pos = self.ref_space(text, nxt, dest_end)
        text, nxt, pos, titled = self.ref_title(text, nxt, pos, dest_end)
        if pos < 0:
            pos, nxt = dest_end, dest_line
        pos = _skip_spaces(text, pos)
        if pos < len(text) and text[pos] != "\n" and titled:
            # garbage after the title: the definition may still end at its destination
            pos, nxt = dest_end, dest_line
            pos = _skip_spaces(text, pos)
        if pos < len(text) and text[pos] != "\n":
            return False
        if not text[1:label_end].strip(_TRIM):
            return False
        self.line = nxt
        return True

    def ref_next_line(self, i: int) -> str | None:
        """markdown-it's getNextLine: the next line of a definition, or None."""
        if i >= self.line_max or self.is_empty(i):
            return None
        c = self.sc[i]
        if c - self.blk < 4 and c >= 0 and self.interrupts(i, False):
            return None
        return self.src[i][self.bm[i] + self.ts[i] :] + "\n"

    def ref_label(self, text: str, nxt: int) -> tuple[str, int, int] | None:
        """Scan `[label]`: (text with any lines pulled in, next line, index of `]`)."""
        p = 1
        while True:
            m = _LABEL_STOP.search(text, p)
            if m is None:
                return None
            p = m.start()
            ch = text[p]
            if ch == "[":
                return None
            if ch == "]":
                return text, nxt, p
            if ch == "\\":
                p += 1
            if text[p : p + 1] == "\n":
                more = self.ref_next_line(nxt)
                if more is not None:
                    text += more
                    nxt += 1
            p += 1

    def ref_space(self, text: str, nxt: int, pos: int) -> tuple[str, int, int]:
        """Skip spaces, tabs and line breaks (pulling in the next line at each break)."""
        while pos < len(text):
            ch = text[pos]
            if ch == "\n":
                more = self.ref_next_line(nxt)
                if more is not None:
                    text += more
                    nxt += 1
            elif ch not in " \t":
                break
            pos += 1
        return text, nxt, pos

    def ref_title(self, text: str, nxt: int, pos: int, dest_end: int) -> tuple[str, int, int, bool]:
        """The optional title at `pos`: (text, next line, position after the title or -1
        when there is no acceptable title, whether the title is non-empty)."""
        if pos >= len(text) or text[pos] not in "\"'(":
            return text, nxt, -1, False
        marker = ")" if text[pos] == "(" else text[pos]
        after, more, total = _link_title(text, pos + 1, marker)
        while more:
            line = self.ref_next_line(nxt)
            if line is None:
                break
            pos = len(text)
            text += line
            nxt += 1
            after, more, length = _link_title(text, pos, marker)
            total += length
        # markdown-it wants the title separated from the destination, but compares with
        # the start of the title's last line, so a title spanning lines always passes.
        if after < 0 or pos == dest_end:
            return text, nxt, -1, False
        return text, nxt, after, total > 0

    # --- containers -------------------------------------------------------------------

    def blockquote(self, start: int, end: int) -> None:
        """markdown-it's blockquote rule: find the quote's lines (`>` lines and lazy
        continuations), strip the markers, parse the content, restore the lines."""
        src, bm, ts, sc, undo = self.src, self.bm, self.ts, self.sc, self.undo
        old_max = self.line_max
        mark = len(undo)
        last_empty = self.quote_line(start)
        nxt = start + 1
        while nxt < end:
            outdented = sc[nxt] < self.blk
            pos = bm[nxt] + ts[nxt]
            if pos >= len(src[nxt]):
                break
            if src[nxt][pos] == ">" and not outdented:
                last_empty = self.quote_line(nxt)
                nxt += 1
                continue
            if last_empty:
                break
            if self.interrupts(nxt, False):
                self.line_max = nxt
                if self.blk != 0:
                    self.save(nxt)
                    sc[nxt] -= self.blk
                break
            if sc[nxt] != -1:  # (a line already lazy is left as it is: nothing to save)
                undo.extend((nxt, bm[nxt], ts[nxt], sc[nxt], self.bsc[nxt]))
                sc[nxt] = -1  # lazy continuation
            nxt += 1
        old_indent = self.blk
        self.blk = 0
        self.level += 1
        self.quotes += 1
        self.tokenize(start, nxt)
        self.quotes -= 1
        self.level -= 1
        self.line_max = old_max
        self.restore(mark)
        self.blk = old_indent

    def save(self, i: int) -> None:
        """Record line `i`'s offsets before a block quote changes them."""
        self.undo.extend((i, self.bm[i], self.ts[i], self.sc[i], self.bsc[i]))

    def restore(self, mark: int) -> None:
        """Put back the offsets recorded since `mark` and drop them. The quotes nested inside
        have already put back theirs, so each line appears at most once: order is free."""
        undo, bm, ts, sc, bsc = self.undo, self.bm, self.ts, self.sc, self.bsc
        it = iter(undo[mark:])
        for i, b, t, c, bs in zip(it, it, it, it, it, strict=True):
            bm[i], ts[i], sc[i], bsc[i] = b, t, c, bs
        del undo[mark:]

    def quote_line(self, i: int) -> bool:
        """Move line `i`'s content past its `>` marker and one optional space (tabs
        count to the next stop); returns whether nothing follows the marker."""
        s = self.src[i]
        mx = len(s)
        pos = self.bm[i] + self.ts[i] + 1
        initial = offset = self.sc[i] + 1
        bsc = self.bsc[i]
        nxt_ch = s[pos] if pos < mx else ""
        adjust = space_after = False
        if nxt_ch == " ":
            pos += 1
            initial += 1
            offset += 1
            space_after = True
        elif nxt_ch == "\t":
            space_after = True
            if (bsc + offset) % 4 == 3:
                pos += 1
                initial += 1
                offset += 1
            else:
                adjust = True
        self.undo.extend((i, self.bm[i], self.ts[i], self.sc[i], bsc))
        self.bm[i] = bpos = pos
        while pos < mx:
            ch = s[pos]
            if ch == "\t":
                offset += 4 - (offset + bsc + adjust) % 4
            elif ch == " ":
                offset += 1
            else:
                break
            pos += 1
        self.bsc[i] = self.sc[i] + 1 + space_after
        self.sc[i] = offset - initial
        self.ts[i] = pos - bpos
        return pos >= mx

    def list_marker(self, i: int, ordered: bool | None) -> re.Match[str] | None:
        """The list marker at line `i` (ordered, bullet, or either when None)."""
        s = self.src[i]
        pos = self.bm[i] + self.ts[i]
        if ordered is not False:
            m = _ORDERED.match(s, pos)
            if m is not None or ordered:
                return m
        return _BULLET.match(s, pos)

    def list_start(self, i: int, para: bool) -> bool:
        """The list rule in validation mode: can line `i` start a list here?"""
        c = self.sc[i]
        if self.list_indent >= 0 and c - self.list_indent >= 4 and c < self.blk:
            return False
        m = self.list_marker(i, None)
        if m is None:
            return False
        if para and c >= self.blk:  # interrupting a paragraph
            if m.lastindex and int(m.group(1)) != 1:
                return False
            if not self.src[i][m.end() :].strip(" \t"):
                return False
        return True

    def list(self, start: int, end: int) -> bool:
        """markdown-it's list rule: parse items of one list type and marker."""
        c = self.sc[start]
        if self.list_indent >= 0 and c - self.list_indent >= 4 and c < self.blk:
            return False
        m = self.list_marker(start, None)
        if m is None:
            return False
        ordered = bool(m.lastindex)
        mark = m.group()[-1]
        self.level += 1
        line = start
        while True:
            line = self.list_item(line, m.end(), end)
            if line >= end or self.sc[line] < self.blk or self.sc[line] - self.blk >= 4:
                break
            if self.ends_list(line):
                break
            m = self.list_marker(line, ordered)
            if m is None or m.group()[-1] != mark:
                break
        self.level -= 1
        self.line = line
        return True

    def list_item(self, start: int, after: int, end: int) -> int:
        """Parse one list item whose marker ends at `after`; returns the line after it."""
        src, ts, sc = self.src, self.ts, self.sc
        s = src[start]
        mx = len(s)
        pos = after
        initial = offset = sc[start] + after - (self.bm[start] + ts[start])
        while pos < mx:
            ch = s[pos]
            if ch == "\t":
                offset += 4 - (offset + self.bsc[start]) % 4
            elif ch == " ":
                offset += 1
            else:
                break
            pos += 1
        gap = 1 if pos >= mx else offset - initial
        if gap > 4:
            gap = 1  # the rest is an indented code block
        old_ts, old_sc, old_list = ts[start], sc[start], self.list_indent
        self.list_indent = self.blk
        self.blk = initial + gap
        ts[start] = pos - self.bm[start]
        sc[start] = offset
        self.level += 1
        if pos >= mx and self.is_empty(start + 1):
            self.line = min(self.line + 2, end)  # an empty item ends at a blank line
        else:
            self.tokenize(start, end)
        self.level -= 1
        self.blk = self.list_indent
        self.list_indent = old_list
        ts[start], sc[start] = old_ts, old_sc
        return self.line
