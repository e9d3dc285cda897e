"""Normalise code so that samples differing only in comments, docstrings or layout count as one
(deduplication in rejection sampling)."""

from __future__ import annotations

import ast
import hashlib
import re


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]


_C_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_PUNCT_SPACE = re.compile(r"\s*([{}()\[\];,=<>!&|+*/%:?-])\s*")
_HASH_COMMENTS = re.compile(r"(?m)^\s*#(?!include|define|if|endif|else|pragma|import)[^\n]*")


def normalize_code(code: str, language: str) -> str:
    """A canonical text: Python via the AST (no comments, docstrings or layout); other languages
    by removing comments and collapsing whitespace (string literals may be touched; fine for a
    dedup key)."""
    if language.lower() in ("python", "py", "python3"):
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            pass
        else:
            _strip_docstrings(tree)
            return ast.unparse(tree)
    text = _C_COMMENTS.sub(" ", code)
    if language.lower() in ("python", "py", "python3", "ruby", "bash", "r", "perl"):
        text = _HASH_COMMENTS.sub(" ", text)
    return _PUNCT_SPACE.sub(r"\1", " ".join(text.split()))


def code_key(code: str, language: str) -> str:
    """Short stable hash of the normalised code."""
    return hashlib.sha256(normalize_code(code, language).encode()).hexdigest()[:16]
