"""Pull the code (and model-written tests) out of a free-form model answer.

Models wrap code in Markdown fences, tag them with aliases (`py`, `python3`, `c++`), add usage
examples and prose, forget to close the last fence when they run out of tokens, or answer with
bare code. The loops need one decision they can count: which block is the solution, which block
(if any) holds the tests, and a clear `no_code` outcome when there is nothing usable — so that a
bad answer is charged to the model, not sent to the service as prose.

Conventions the prompts ask for (see `codefeedback.loops.prompts`): the solution in a block
tagged with the language, tests in a block whose info string contains the word `tests`
(e.g. ```` ```python tests ````).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["fenced", "fenced_untagged", "unfenced", "no_code"]

# Tags a model may put on a fence for each service language id.
LANG_TAGS: dict[str, set[str]] = {
    "python": {"python", "py", "python3", "py3", "pycon"},
    "c": {"c", "h"},
    "cpp": {"cpp", "c++", "cc", "cxx", "hpp"},
    "java": {"java"},
    "javascript": {"javascript", "js", "node", "nodejs", "mjs"},
    "typescript": {"typescript", "ts"},
    "go": {"go", "golang"},
    "rust": {"rust", "rs"},
    "ruby": {"ruby", "rb"},
    "php": {"php"},
    "csharp": {"csharp", "cs", "c#"},
    "kotlin": {"kotlin", "kt"},
    "lua": {"lua"},
    "bash": {"bash", "sh", "shell"},
}
# Tags that are never a solution (console output, data, prose).
NON_CODE_TAGS = {"text", "txt", "output", "console", "plaintext", "json", "yaml", "markdown",
                 "md", "diff", "log", "none"}

_FENCE = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_TEST_WORD = re.compile(r"\btests?\b", re.IGNORECASE)


@dataclass
class CodeBlock:
    """One fenced block: its tag (first word of the info string), full info string, body."""

    tag: str | None
    info: str
    code: str
    closed: bool = True

    @property
    def is_tests(self) -> bool:
        return bool(_TEST_WORD.search(self.info))


@dataclass
class Extraction:
    """The chosen code and how it was found; `code` is None exactly when outcome is no_code."""

    code: str | None
    outcome: Outcome
    reason: str = ""
    blocks: list[CodeBlock] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code is not None


def language_tags(language: str) -> set[str]:
    lang = language.lower()
    return LANG_TAGS.get(lang, set()) | {lang}


def strip_reasoning(text: str) -> str:
    """Drop `<think>` sections; an unclosed one (a truncated answer) drops the rest."""
    text = _THINK.sub("", text)
    idx = text.lower().find("<think>")
    return text[:idx] if idx >= 0 else text


def find_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block in order; an unclosed last fence runs to the end (truncated answers)."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        body: list[str] = []
        j = i + 1
        closed = False
        while j < len(lines):
            close = re.match(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*$", lines[j])
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                closed = True
                break
            body.append(lines[j])
            j += 1
        tag = info.split()[0].lower() if info else None
        if tag:
            tag = tag.strip("{}.").split(",")[0] or None
        blocks.append(CodeBlock(tag, info, "\n".join(body).strip("\n") + "\n", closed))
        i = j + 1
    return blocks


def _defines(code: str, entry_point: str | None) -> bool:
    return bool(entry_point) and re.search(rf"\b{re.escape(entry_point)}\s*\(", code) is not None


def _pick(blocks: list[CodeBlock], entry_point: str | None) -> CodeBlock:
    """Prefer a block that defines the entry point, then the longest (usage snippets are short)."""
    return max(blocks, key=lambda b: (_defines(b.code, entry_point), len(b.code.strip())))


def extract_code(text: str | None, language: str, entry_point: str | None = None) -> Extraction:
    """The solution in `language` from a model answer, or a `no_code` outcome saying why."""
    if not text or not text.strip():
        return Extraction(None, "no_code", "empty answer")
    text = strip_reasoning(text)
    blocks = find_blocks(text)
    tags = language_tags(language)
    code_blocks = [b for b in blocks if not b.is_tests and b.code.strip()]
    in_lang = [b for b in code_blocks if b.tag in tags]
    if in_lang:
        return Extraction(_pick(in_lang, entry_point).code, "fenced", blocks=blocks)
    untagged = [b for b in code_blocks if b.tag is None]
    if untagged:
        return Extraction(_pick(untagged, entry_point).code, "fenced_untagged", blocks=blocks)
    if blocks:
        other = sorted({b.tag for b in blocks if b.tag and b.tag not in tags} - {None})
        if [b for b in blocks if not b.is_tests and b.code.strip()]:
            return Extraction(None, "no_code",
                              f"no {language} block (blocks tagged: {', '.join(other)})",
                              blocks=blocks)
        return Extraction(None, "no_code", "only test blocks or empty blocks", blocks=blocks)
    code = unfenced_code(text, language)
    if code is None:
        return Extraction(None, "no_code", "no code block and no recognisable code")
    return Extraction(code, "unfenced")


def extract_tests(text: str | None, language: str) -> str | None:
    """The block the model marked as tests (info string contains `tests`), if any."""
    if not text:
        return None
    tags = language_tags(language)
    blocks = [b for b in find_blocks(strip_reasoning(text)) if b.is_tests and b.code.strip()]
    if not blocks:
        return None
    tagged = [b for b in blocks if b.tag in tags or b.tag in ("tests", "test")]
    return max(tagged or blocks, key=lambda b: len(b.code)).code


# --------------------------------------------------------------------------- unfenced code
_PY_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)")
_C_LIKE_START = re.compile(
    r"^(#include|#define|(static |inline |const |unsigned |signed |struct )*"
    r"[A-Za-z_][\w\s\*]*\b[A-Za-z_]\w*\s*\([^;]*\)\s*\{?\s*$)")


def unfenced_code(text: str, language: str) -> str | None:
    """Bare code: the whole answer when it is code, else the longest code-looking run."""
    lines = text.strip("\n").splitlines()
    if not lines:
        return None
    if language.lower() in ("python", "py", "python3"):
        return _unfenced_python(lines)
    return _unfenced_c_like(lines)


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except (SyntaxError, ValueError):
        return False
    return True


def _has_def(src: str) -> bool:
    return re.search(r"^\s*(async\s+)?(def|class)\s", src, re.MULTILINE) is not None


def _unfenced_python(lines: list[str]) -> str | None:
    whole = "\n".join(lines) + "\n"
    if _has_def(whole) and _parses(whole):
        return whole
    best: str | None = None
    starts = [i for i, line in enumerate(lines) if _PY_START.match(line)][:20]
    for s in starts:
        for e in range(len(lines), s, -1):
            chunk = "\n".join(lines[s:e]) + "\n"
            if _has_def(chunk) and _parses(chunk):
                if best is None or len(chunk) > len(best):
                    best = chunk
                break
    return best


def _unfenced_c_like(lines: list[str]) -> str | None:
    start = next((i for i, line in enumerate(lines) if _C_LIKE_START.match(line.strip())), None)
    if start is None:
        return None
    end = max((i for i, line in enumerate(lines) if line.strip().startswith("}")), default=-1)
    if end < start:
        return None
    chunk = "\n".join(lines[start:end + 1]) + "\n"
    return chunk if chunk.count("{") == chunk.count("}") and "{" in chunk else None
