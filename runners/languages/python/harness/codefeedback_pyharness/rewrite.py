"""Rewrite `assert a == b` / `assert a != b` in test code into calls of the type-strict checks.

The call goes to a *constant* of the compiled code (the function object is put into co_consts
after compiling), so user code cannot reach it by rebinding any name, module or builtin.
"""

from __future__ import annotations

import ast
import secrets
import types
import warnings

from codefeedback_pyharness.strict import check_eq, check_ne

_TOKEN = secrets.token_hex(12)
SENTINELS = {f"__cf_check_eq_{_TOKEN}": check_eq, f"__cf_check_ne_{_TOKEN}": check_ne}
_EQ, _NE = list(SENTINELS)


class StrictAsserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and \
                isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
            sentinel = _EQ if isinstance(test.ops[0], ast.Eq) else _NE
            call = ast.Call(func=ast.Constant(sentinel),
                            args=[test.left, test.comparators[0], node.msg or ast.Constant(None)],
                            keywords=[])
            return ast.copy_location(ast.Assert(test=call, msg=None), node)
        return self.generic_visit(node)


def rewrite(tree: ast.Module) -> ast.Module:
    tree = StrictAsserts().visit(tree)
    ast.fix_missing_locations(tree)
    return tree


def bind(code: types.CodeType) -> types.CodeType:
    """Replace the sentinel constants (in nested code objects too) by the check functions."""
    consts = []
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            c = bind(c)
        elif type(c) is str and c in SENTINELS:
            c = SENTINELS[c]
        consts.append(c)
    return code.replace(co_consts=tuple(consts))


def compile_strict(tree: ast.Module, filename: str) -> types.CodeType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable"
        return bind(compile(rewrite(tree), filename, "exec", dont_inherit=True))
