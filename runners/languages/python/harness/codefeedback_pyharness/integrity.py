"""Static reward-hack scanner for a Python solution (parses with `ast`, never runs the code).

Usage inside the sandbox: ``python -m codefeedback_pyharness.integrity solution.py``. Prints exactly
one JSON object, ``{"findings": [{"rule": ..., "message": ..., "line": ...}]}``, and exits 0 —
also when the file is unreadable or does not parse (then the list is empty).

Stdlib only, and nothing from the rest of the repository: this file runs in the runner image.
Findings never change a verdict; they let a data pipeline drop suspicious samples, so every rule
aims at patterns honest solutions do not contain (see SECURITY.md, "Reward hacks").
"""

from __future__ import annotations

import ast
import json
import re
import sys
import warnings

MAX_FINDINGS = 50

BUILTIN_TYPES = frozenset({"int", "float", "str", "bytes", "list", "tuple", "dict", "set",
                           "frozenset", "bool", "complex"})
COMPARE_DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__",
                   "__hash__", "__repr__", "__str__")
EQ_DUNDERS = ("__eq__", "__ne__")
FRAMEWORK_ROOTS = frozenset({"pytest", "_pytest", "unittest", "doctest", "codefeedback_pyharness"})
# Running your own doctests/unittests under `if __name__ == "__main__":` is ordinary.
GUARD_OK_FRAMEWORKS = frozenset({"unittest", "doctest"})
STD_STREAMS = ("sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__")
EXCEPT_HOOKS = ("sys.excepthook", "sys.unraisablehook", "threading.excepthook")
SWAP_ATTRS = ("__class__", "__code__", "__bases__")
FRAME_ATTRS = frozenset({"f_back", "f_locals", "f_globals", "f_builtins", "tb_frame"})
IMPORT_FUNCS = ("__import__", "importlib.import_module", "importlib.__import__")

# Qualified names whose mere reference is a finding: rule, what it does, where it counts.
#   "any": everywhere; "func": inside a function or class body; "nonguard": everywhere except
#   a top-level `if __name__ == "__main__":` block.
_REF = {}
for _q in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
    _REF[_q] = ("introspection", "walks live objects with {q}()", "any")
for _q in ("sys._getframe", "sys._current_frames", "inspect.stack", "inspect.currentframe",
           "inspect.getouterframes", "inspect.getinnerframes", "inspect.trace"):
    _REF[_q] = ("introspection", "reaches into interpreter frames with {q}()", "any")
for _q in ("sys.settrace", "sys.setprofile", "sys.addaudithook", "threading.settrace",
           "threading.setprofile"):
    _REF[_q] = ("test-framework-patch", "installs a tracing/audit hook with {q}()", "any")
for _q in ("pytest.skip", "pytest.xfail", "pytest.importorskip", "pytest.exit"):
    _REF[_q] = ("test-framework-patch", "calls {q}() from the solution", "any")
_REF["atexit.register"] = ("atexit-hook", "registers an exit hook with atexit.register", "any")
for _q in ("os.dup2", "os.closerange"):
    _REF[_q] = ("output-tampering", "rewires file descriptors with {q}()", "any")
for _q in ("sys.exit", "exit", "quit"):
    _REF[_q] = ("exit-call", "calls {q}(), ending the process from inside the code", "func")
for _q in ("os._exit", "os.abort", "os.kill", "os.killpg"):
    _REF[_q] = ("exit-call", "calls {q}(), ending or signalling processes", "nonguard")
for _q in ("signal.signal", "signal.alarm", "signal.setitimer", "signal.raise_signal",
           "signal.pthread_kill", "signal.pthread_sigmask", "signal.siginterrupt",
           "signal.set_wakeup_fd"):
    _REF[_q] = ("exit-call", "changes signal handling with {q}()", "func")
REF_TABLE = _REF

_WORK_RE = re.compile(r"(?<![\w.])/work(?![\w.-])")
_READS_TESTS_WORDS = ("test_solution", "test_script", "conftest", "cf_calls.json")
_FRAMEWORK_STR_RE = re.compile(r"^(_?pytest|unittest|doctest|codefeedback_pyharness)(\.[\w.]*)?$")
_HARNESS_ENV_RE = re.compile(r"\bCF_[A-Z][A-Z_]*")
_FD_PATH_RE = re.compile(r"/proc/self/fd|/dev/fd")


def _short(text: object, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_main_guard(test: ast.AST) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if _const_str(s) == "__main__"]
    return len(names) == 1 and len(consts) == 1


def _returns(fn: ast.AST) -> list[ast.AST | None]:
    """Return values of a def (nested defs/lambdas/classes excluded), or a lambda's body."""
    if isinstance(fn, ast.Lambda):
        return [fn.body]
    out: list[ast.AST | None] = []
    stack = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return):
            out.append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _const_value(node: ast.AST | None) -> tuple[bool, object]:
    if node is None:
        return True, None
    if isinstance(node, ast.Constant):
        return True, node.value
    return False, None


def _constant_string_return(fn: ast.AST) -> str | None:
    rets = _returns(fn)
    if not rets:
        return None
    texts = []
    for value in rets:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            texts.append(value.value)
        elif isinstance(value, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in value.values):
            texts.append("".join(str(v.value) for v in value.values))
        else:
            return None
    return texts[0]


def _all_constant_returns(fn: ast.AST) -> bool:
    rets = _returns(fn)
    return bool(rets) and all(_const_value(v)[0] for v in rets)


def _eq_lie(fn: ast.AST, dunder: str) -> str | None:
    """Why `fn` (a def or lambda used as __eq__/__ne__) lies, or None if it looks honest."""
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return None
    args = fn.args
    positional = list(args.posonlyargs) + list(args.args)
    others = [a.arg for a in positional[1:]] + [a.arg for a in args.kwonlyargs]
    if args.vararg is not None:
        others.append(args.vararg.arg)
    if args.kwarg is not None:
        others.append(args.kwarg.arg)
    if isinstance(fn, ast.Lambda):
        body_nodes = [fn.body]
    else:
        body_nodes = list(fn.body)
    looked = False
    for top in body_nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Name) and node.id in others:
                looked = True
                break
        if looked:
            break
    rets = _returns(fn)
    # `return NotImplemented` / raising / no return at all: the default behaviour, not a lie.
    if not rets or all(isinstance(v, ast.Name) and v.id == "NotImplemented" for v in rets):
        return None
    want = dunder == "__eq__"
    constant = all(_const_value(v)[0] and bool(_const_value(v)[1]) is want for v in rets)
    word = "True" if want else "False"
    if constant and not looked:
        return f"{dunder} returns {word} without looking at its argument"
    if constant:
        return f"{dunder} always returns {word}"
    if not looked:
        return f"{dunder} never looks at the object it is compared with"
    return None


class _Ctx:
    __slots__ = ("func", "cls", "guard", "fd_vars")

    def __init__(self, func: str | None = None, cls: str | None = None, guard: bool = False,
                 fd_vars: frozenset = frozenset()) -> None:
        self.func = func
        self.cls = cls
        self.guard = guard
        self.fd_vars = fd_vars

    def but(self, **changes: object) -> "_Ctx":
        new = _Ctx(self.func, self.cls, self.guard, self.fd_vars)
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    @property
    def module_level(self) -> bool:
        return self.func is None and self.cls is None

    def where(self) -> str:
        if self.func is not None:
            return f"function {_short(self.func, 40)}"
        if self.cls is not None:
            return f"class {_short(self.cls, 40)}"
        return "module level"


class _Scanner:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.aliases: dict[str, str] = {}
        self.star: list[str] = []
        self.bound: set[str] = set()
        self.module_defs: dict[str, ast.AST] = {}
        self.skip_strings: set[int] = set()
        self.findings: list[dict] = []
        self.seen: set[tuple[str, int]] = set()
        self.listings: list[tuple[int, str]] = []
        self.reads_files = False

    # ----------------------------------------------------------------- names
    def prepare(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        self.aliases[root] = root
            elif isinstance(node, ast.ImportFrom):
                if node.level or not node.module:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        self.star.append(node.module)
                    else:
                        self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound.add(node.name)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.bound.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bound.add(node.name)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                self.bound.add(node.name)
            elif isinstance(node, ast.Expr) and _const_str(node.value) is not None:
                self.skip_strings.add(id(node.value))  # docstrings and bare string statements
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.module_defs[stmt.name] = stmt
        # `e = sys.exit` then `e(0)`: follow simple aliases of names we care about.
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                target = node.targets[0].id
                if target in self.aliases:
                    continue
                q = self.qual(node.value)
                if q is not None and self._interesting(q):
                    self.aliases[target] = q

    @staticmethod
    def _interesting(q: str) -> bool:
        q = _norm(q)
        root = q.split(".")[0]
        return (q in REF_TABLE or root in FRAMEWORK_ROOTS or q in ("builtins", "operator", "sys.modules")
                or q.startswith("ctypes"))

    def qual(self, node: ast.AST | None) -> str | None:
        """Dotted name an expression refers to (`os._exit`, `builtins`, ...), or None."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        base: str | None = None
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.aliases:
                base = self.aliases[name]
            elif name == "__builtins__":
                base = "builtins"
            elif name in self.bound:
                base = None
            else:
                base = name
                for mod in self.star:
                    if f"{mod}.{name}" in REF_TABLE:
                        base = f"{mod}.{name}"
                        break
        elif isinstance(node, ast.Call):
            func = self._plain_qual(node.func)
            if func in IMPORT_FUNCS and node.args:
                base = _const_str(node.args[0])
            elif func == "getattr" and len(node.args) >= 2:
                obj = self._plain_qual(node.args[0])
                name = _const_str(node.args[1])
                if obj is not None and name is not None:
                    base = f"{obj}.{name}"
        elif isinstance(node, ast.Subscript):
            container = self._plain_qual(node.value)
            key = _const_str(node.slice)
            if key is not None and container == "sys.modules":
                base = key
            elif key is not None and container in ("builtins", "builtins.__dict__"):
                base = f"builtins.{key}"
        if base is None:
            return None
        return ".".join([base] + attrs[::-1])

    def _plain_qual(self, node: ast.AST | None) -> str | None:
        q = self.qual(node)
        return _norm(q) if q is not None else None

    # -------------------------------------------------------------- findings
    def add(self, rule: str, line: int, message: str) -> None:
        key = (rule, line)
        if key in self.seen:
            return
        self.seen.add(key)
        self.findings.append({"rule": rule, "message": message, "line": int(line or 0)})

    # ------------------------------------------------------------- traversal
    def run(self) -> list[dict]:
        self.prepare()
        stack: list[tuple[ast.AST, _Ctx]] = [(self.tree, _Ctx())]
        while stack:
            node, ctx = stack.pop()
            self.check(node, ctx)
            children = self.children(node, ctx)
            stack.extend(reversed(children))
        if self.reads_files:
            for line, what in self.listings:
                self.add("reads-tests", line,
                         f"{what} and opens files, which looks like reading the tests")
        self.findings.sort(key=lambda f: f["line"])
        return self.findings[:MAX_FINDINGS]

    def children(self, node: ast.AST, ctx: _Ctx) -> list[tuple[ast.AST, _Ctx]]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = ctx.but(func=node.name)
            out = [(d, ctx) for d in node.decorator_list] + [(node.args, ctx)]
            if node.returns is not None:
                out.append((node.returns, ctx))
            return out + [(s, inner) for s in node.body]
        if isinstance(node, ast.Lambda):
            return [(node.args, ctx), (node.body, ctx.but(func=ctx.func or "<lambda>"))]
        if isinstance(node, ast.ClassDef):
            inner = ctx.but(cls=node.name)
            out = [(d, ctx) for d in node.decorator_list]
            out += [(b, ctx) for b in node.bases] + [(k, ctx) for k in node.keywords]
            return out + [(s, inner) for s in node.body]
        if isinstance(node, ast.If) and ctx.module_level and not ctx.guard and _is_main_guard(node.test):
            inner = ctx.but(guard=True)
            return [(node.test, ctx)] + [(s, inner) for s in node.body] + [(s, ctx) for s in node.orelse]
        if isinstance(node, (ast.For, ast.AsyncFor)):
            fd_names = self._fd_loop_names(node.target, node.iter)
            if fd_names:
                inner = ctx.but(fd_vars=ctx.fd_vars | fd_names)
                return [(node.target, ctx), (node.iter, ctx)] + [(s, inner) for s in node.body] \
                    + [(s, ctx) for s in node.orelse]
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            fd_names: frozenset = frozenset()
            for gen in node.generators:
                fd_names |= self._fd_loop_names(gen.target, gen.iter)
            if fd_names:
                inner = ctx.but(fd_vars=ctx.fd_vars | fd_names)
                return [(c, inner) for c in ast.iter_child_nodes(node)]
        return [(c, ctx) for c in ast.iter_child_nodes(node)]

    def _fd_loop_names(self, target: ast.AST, iterable: ast.AST) -> frozenset:
        """Loop variables that walk over file descriptors (range(...) or /proc/self/fd)."""
        if not isinstance(target, ast.Name):
            return frozenset()
        if isinstance(iterable, ast.Call) and self._plain_qual(iterable.func) == "range":
            return frozenset({target.id})
        for sub in ast.walk(iterable):
            text = _const_str(sub)
            if text is not None and _FD_PATH_RE.search(text):
                return frozenset({target.id})
        return frozenset()

    # ----------------------------------------------------------------- rules
    def check(self, node: ast.AST, ctx: _Ctx) -> None:
        if isinstance(node, ast.ClassDef):
            self.check_class(node)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in _flatten(target):
                    self.check_target(t, node, deleting=False)
                    if isinstance(t, ast.Attribute) and t.attr in EQ_DUNDERS and node.value is not None:
                        value = node.value
                        if isinstance(value, ast.Name) and value.id in self.module_defs:
                            value = self.module_defs[value.id]
                        why = _eq_lie(value, t.attr)
                        if why:
                            self.add("eq-override", node.lineno, f"assigns an {why}")
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                for t in _flatten(target):
                    self.check_target(t, node, deleting=True)
        elif isinstance(node, ast.Call):
            self.check_call(node, ctx)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.check_import(node, ctx)
        elif isinstance(node, ast.Raise):
            self.check_raise(node, ctx)
        elif isinstance(node, ast.Constant):
            self.check_constant(node)
        elif isinstance(node, (ast.Name, ast.Attribute)):
            self.check_reference(node, ctx)

    def check_class(self, node: ast.ClassDef) -> None:
        name = _short(node.name, 40)
        members: dict[str, tuple[int, ast.AST | None]] = {}
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                members[stmt.name] = (stmt.lineno, stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = stmt.value
                if isinstance(value, ast.Name) and value.id in self.module_defs:
                    value = self.module_defs[value.id]
                for target in targets:
                    for t in _flatten(target):
                        if isinstance(t, ast.Name):
                            members[t.id] = (stmt.lineno, value)
        lies = False
        for dunder in EQ_DUNDERS:
            if dunder in members:
                line, fn = members[dunder]
                why = _eq_lie(fn, dunder) if fn is not None else None
                if why:
                    lies = True
                    self.add("eq-override", line, f"class {name}: {why}")
        if lies:
            constant = [d for d in ("__hash__", "__bool__", "__len__")
                        if d in members and members[d][1] is not None
                        and isinstance(members[d][1], (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                        and _all_constant_returns(members[d][1])]
            if constant:
                line = min(members[d][0] for d in constant)
                verb = "returns a constant" if len(constant) == 1 else "return constants"
                self.add("eq-override", line,
                         f"class {name}: {' and '.join(constant)} {verb} next to the lying equality")
        bases = [self._plain_qual(b) for b in node.bases]
        builtin_bases = [b for b in bases if b in BUILTIN_TYPES]
        if builtin_bases:
            for dunder in COMPARE_DUNDERS:
                if dunder in members:
                    self.add("builtin-subclass-compare", members[dunder][0],
                             f"class {name} subclasses {builtin_bases[0]} and overrides {dunder}")
        if any(d in members for d in EQ_DUNDERS):
            for dunder in ("__repr__", "__str__"):
                if dunder in members and members[dunder][1] is not None:
                    fn = members[dunder][1]
                    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                        text = _constant_string_return(fn)
                        if text is not None:
                            self.add("repr-lie", members[dunder][0],
                                     f"class {name}: {dunder} always returns the fixed text "
                                     f"{_short(text, 40)!r} while the class overrides equality")

    def check_target(self, t: ast.AST, stmt: ast.AST, deleting: bool) -> None:
        line = stmt.lineno
        verb = "deletes" if deleting else "replaces"
        if isinstance(t, ast.Name):
            if t.id in ("__builtins__", "__import__"):
                self.add("builtins-patch", line, f"{verb} {t.id}")
            return
        if isinstance(t, ast.Attribute):
            base = self._plain_qual(t.value)
            full = f"{base}.{t.attr}" if base is not None else None
            if t.attr in SWAP_ATTRS:
                self.add("class-swap", line, f"{verb} an object's {t.attr}")
            if base is None:
                return
            root = base.split(".")[0]
            if base == "builtins":
                self.add("builtins-patch", line, f"{verb} the builtin {_short(t.attr, 40)}")
            elif root == "operator":
                self.add("builtins-patch", line, f"{verb} {_short(full)}")
            elif root in FRAMEWORK_ROOTS:
                self.add("test-framework-patch", line, f"{verb} {_short(full)} of the test framework")
            elif full == "sys.modules":
                self.add("builtins-patch", line, f"{verb} sys.modules")
            elif full in STD_STREAMS:
                # Wrapping the stream (fast-I/O templates) or restoring it is ordinary.
                if deleting or not self._mentions_stream(getattr(stmt, "value", None)):
                    self.add("output-tampering", line, f"{verb} {full}")
            elif full in EXCEPT_HOOKS:
                self.add("atexit-hook", line, f"{verb} {full}")
            return
        if isinstance(t, ast.Subscript):
            container = t.value
            if isinstance(container, ast.Call) and self._plain_qual(container.func) in ("vars", "globals"):
                args = container.args
                what = self._plain_qual(args[0]) if args else None
                key = _const_str(t.slice)
                if what == "builtins" or (what is None and key == "__builtins__"):
                    self.add("builtins-patch", line, f"{verb} an entry of the builtins namespace")
                elif what is not None and what.split(".")[0] in FRAMEWORK_ROOTS:
                    self.add("test-framework-patch", line, f"{verb} an entry of {_short(what)}")
                return
            q = self._plain_qual(container)
            if q is None:
                return
            if q == "sys.modules":
                key = _const_str(t.slice)
                what = f"sys.modules[{key!r}]" if key is not None else "an entry of sys.modules"
                self.add("builtins-patch", line, f"{verb} {_short(what)}")
            elif q in ("builtins", "builtins.__dict__"):
                self.add("builtins-patch", line, f"{verb} an entry of the builtins namespace")
            elif q.endswith(".__dict__"):
                root = q.split(".")[0]
                if root == "operator":
                    self.add("builtins-patch", line, f"{verb} an entry of {_short(q)}")
                elif root in FRAMEWORK_ROOTS:
                    self.add("test-framework-patch", line, f"{verb} an entry of {_short(q)}")

    def check_call(self, node: ast.Call, ctx: _Ctx) -> None:
        if isinstance(node.func, (ast.Call, ast.Subscript)):  # getattr(os, "_exit")(0)
            self.check_reference(node.func, ctx)
        func = self._plain_qual(node.func)
        line = node.lineno
        args = node.args
        if func in ("setattr", "delattr") and len(args) >= 2:
            obj = self._plain_qual(args[0])
            attr = _const_str(args[1])
            verb = "sets" if func == "setattr" else "deletes"
            full = f"{obj}.{attr}" if obj is not None and attr is not None else None
            if attr in SWAP_ATTRS:
                self.add("class-swap", line, f"{func}() {verb} an object's {attr}")
            if obj == "builtins":
                self.add("builtins-patch", line, f"{func}() {verb} a builtin")
            elif obj is not None and obj.split(".")[0] == "operator":
                self.add("builtins-patch", line, f"{func}() {verb} an attribute of {_short(obj)}")
            elif obj == "sys.modules":
                self.add("builtins-patch", line, f"{func}() {verb} an attribute of sys.modules")
            elif obj is not None and obj.split(".")[0] in FRAMEWORK_ROOTS:
                self.add("test-framework-patch", line,
                         f"{func}() {verb} an attribute of {_short(obj)} of the test framework")
            elif full in STD_STREAMS:
                self.add("output-tampering", line, f"{func}() {verb} {full}")
            elif full in EXCEPT_HOOKS:
                self.add("atexit-hook", line, f"{func}() {verb} {full}")
            if func == "setattr" and attr in EQ_DUNDERS and len(args) >= 3:
                why = _eq_lie(args[2], attr)
                if why:
                    self.add("eq-override", line, f"setattr() installs an {why}")
            return
        if func == "type" and len(args) == 3 and isinstance(args[2], ast.Dict):
            self.check_type_call(node)
        if func in IMPORT_FUNCS and args:
            mod = _const_str(args[0])
            if mod is not None:
                root = mod.split(".")[0]
                if root in FRAMEWORK_ROOTS:
                    self.add("test-framework-patch", line, f"imports {_short(mod)} dynamically")
                elif root in ("ctypes", "_ctypes"):
                    self.add("introspection", line, "imports ctypes dynamically")
        if func is not None and func.startswith("sys.modules.") and \
                func.rsplit(".", 1)[1] in ("update", "pop", "setdefault", "__setitem__", "__delitem__",
                                           "clear"):
            self.add("builtins-patch", line, f"changes sys.modules with {func.rsplit('.', 1)[1]}()")
        if func in ("types.FunctionType", "types.CodeType", "types.LambdaType"):
            self.add("class-swap", line, f"builds a new function or code object with {func}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "replace" \
                and any(k.arg and k.arg.startswith("co_") for k in node.keywords):
            self.add("class-swap", line, "rewrites a code object with .replace(co_...)")
        if func == "signal.signal" and ctx.module_level and not ctx.guard and len(args) >= 2:
            handler = self._plain_qual(args[1])
            if handler not in ("signal.SIG_DFL",):
                self.add("exit-call", line, "installs a signal handler at module level")
        # File descriptors.
        fd = args[0] if args else None
        fd_text = self._fd_description(fd, ctx)
        if func == "os.close" and fd is not None and (
                fd_text is not None or (isinstance(fd, ast.Constant) and isinstance(fd.value, int))):
            self.add("output-tampering", line,
                     f"closes file descriptor {fd_text or fd.value} with os.close()")
        elif func == "os.write" and fd_text is not None:
            self.add("output-tampering", line, f"writes to file descriptor {fd_text} with os.write()")
        elif func in ("os.fdopen", "open", "io.open") and fd_text is not None:
            self.add("output-tampering", line, f"opens file descriptor {fd_text} with {func}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("close", "detach"):
            stream = self._plain_qual(node.func.value)
            if stream is not None and any(stream == s or stream.startswith(s + ".") for s in STD_STREAMS):
                self.add("output-tampering", line, f"calls {_short(stream)}.{node.func.attr}()")
        # Reading the tests: listing directories together with opening files.
        if func in ("open", "io.open", "codecs.open", "os.open", "fileinput.input") or (
                isinstance(node.func, ast.Attribute) and node.func.attr in ("read_text", "read_bytes")):
            self.reads_files = True
        # Only listings of the working directory (or the solution's own folder) count: a function
        # that walks a directory it was given is ordinary file handling.
        listing = None
        here = False
        if func in ("os.listdir", "os.scandir", "os.walk"):
            listing, here = func, not args or self._names_here(args[0], glob_pattern=False)
        elif func in ("glob.glob", "glob.iglob"):
            listing, here = func, bool(args) and self._names_here(args[0], glob_pattern=True)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in ("iterdir", "rglob", "glob"):
            listing = f".{node.func.attr}"
            here = self._names_here(node.func.value, glob_pattern=False)
        if listing is not None:
            patterns = [s for s in (_const_str(a) for a in args) if s is not None]
            if any("test" in p.lower() or "conftest" in p.lower() for p in patterns):
                self.add("reads-tests", line,
                         f"looks for test files with {listing}({_short(patterns[0], 40)!r})")
            elif here:
                self.listings.append((line, f"lists the working directory with {listing}()"))

    def _mentions_stream(self, node: ast.AST | None) -> bool:
        if node is None:
            return False
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Attribute, ast.Name)):
                q = self._plain_qual(sub)
                if q is not None and any(q == s or q.startswith(s + ".") for s in STD_STREAMS):
                    return True
        return False

    def _names_here(self, node: ast.AST, glob_pattern: bool) -> bool:
        """Does this path expression point at the working directory or the solution's folder?"""
        text = _const_str(node)
        if text is not None:
            if text in ("", ".", "./") or _WORK_RE.match(text):
                return True
            return glob_pattern and "/" not in text
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id == "__file__":
                return True
            if isinstance(sub, ast.Call):
                called = self._plain_qual(sub.func)
                if called in ("os.getcwd", "os.getcwdb") or (
                        isinstance(sub.func, ast.Attribute) and sub.func.attr == "cwd"):
                    return True
                if called in ("pathlib.Path", "Path", "pathlib.PurePath") and (
                        not sub.args or _const_str(sub.args[0]) in ("", ".", "./")):
                    return True
            if self._plain_qual(sub) == "os.curdir":
                return True
        return False

    def _fd_description(self, node: ast.AST | None, ctx: _Ctx) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int) \
                and not isinstance(node.value, bool) and node.value >= 3:
            return str(node.value)
        if isinstance(node, ast.Name) and node.id in ctx.fd_vars:
            return f"{node.id} (a loop over descriptors)"
        return None

    def check_type_call(self, node: ast.Call) -> None:
        bases_node, body = node.args[1], node.args[2]
        name = _const_str(node.args[0]) or "?"
        members = {}
        for key, value in zip(body.keys, body.values, strict=False):
            text = _const_str(key)
            if text is not None:
                members[text] = value
        for dunder in EQ_DUNDERS:
            if dunder in members:
                why = _eq_lie(members[dunder], dunder)
                if why:
                    self.add("eq-override", node.lineno, f"type({_short(name, 40)!r}, ...): {why}")
        bases = []
        if isinstance(bases_node, (ast.Tuple, ast.List)):
            bases = [self._plain_qual(b) for b in bases_node.elts]
        builtin = [b for b in bases if b in BUILTIN_TYPES]
        overridden = [d for d in COMPARE_DUNDERS if d in members]
        if builtin and overridden:
            self.add("builtin-subclass-compare", node.lineno,
                     f"type({_short(name, 40)!r}, ...) subclasses {builtin[0]} and overrides {overridden[0]}")

    def check_import(self, node: ast.AST, ctx: _Ctx) -> None:
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            if node.level:
                return
            modules = [node.module or ""]
        for mod in modules:
            root = mod.split(".")[0]
            if root in FRAMEWORK_ROOTS and not (ctx.guard and root in GUARD_OK_FRAMEWORKS):
                self.add("test-framework-patch", node.lineno,
                         f"imports the test framework module {_short(mod)}")
            elif root in ("ctypes", "_ctypes"):
                self.add("introspection", node.lineno, f"imports {mod}, which can read and write raw memory")

    def check_raise(self, node: ast.Raise, ctx: _Ctx) -> None:
        if ctx.module_level:
            return
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        q = self._plain_qual(exc)
        if q in ("SystemExit", "KeyboardInterrupt"):
            self.add("exit-call", node.lineno,
                     f"{ctx.where()} raises {q}, ending the process from inside the code")

    def check_constant(self, node: ast.Constant) -> None:
        if id(node) in self.skip_strings:
            return
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str) or not value:
            return
        line = node.lineno
        text = value[:10000]
        if "/proc/" in text or text.startswith("/proc") or "/dev/mem" in text:
            self.add("introspection", line, f"names the path {_short(text, 50)!r}")
        low = text.lower()
        for word in _READS_TESTS_WORDS:
            if word in low:
                self.add("reads-tests", line, f"names {word!r}, a file of the grader")
                break
        else:
            if _WORK_RE.search(text):
                self.add("reads-tests", line, f"names the sandbox directory /work in {_short(text, 50)!r}")
        if _FRAMEWORK_STR_RE.match(text):
            self.add("test-framework-patch", line, f"refers to the module {_short(text, 50)!r} by name")
        elif "codefeedback" in low or _HARNESS_ENV_RE.search(text):
            self.add("test-framework-patch", line, f"refers to the grading harness in {_short(text, 50)!r}")

    def check_reference(self, node: ast.AST, ctx: _Ctx) -> None:
        if isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRS:
            self.add("introspection", node.lineno, f"reads the frame attribute {node.attr}")
        if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return
        if isinstance(node, ast.Name) and node.id == "__file__" and node.id not in self.bound:
            self.listings.append((node.lineno, "locates its own directory through __file__"))
            return
        q = self._plain_qual(node)
        if q is None:
            return
        if q.startswith("ctypes.") or q == "ctypes":
            if isinstance(node, ast.Attribute):
                self.add("introspection", node.lineno, f"uses {_short(q)}")
            return
        entry = REF_TABLE.get(q)
        if entry is None:
            return
        rule, template, where = entry
        if where == "func" and ctx.module_level:
            return
        if where == "nonguard" and ctx.module_level and ctx.guard:
            return
        message = template.format(q=q)
        if rule == "exit-call":
            message = f"{ctx.where()} {message}"
        self.add(rule, node.lineno, message)


def _norm(q: str) -> str:
    return q[len("builtins."):] if q.startswith("builtins.") else q


def _flatten(target: ast.AST) -> list[ast.AST]:
    out = []
    stack = [target]
    while stack:
        t = stack.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            stack.extend(t.elts)
        elif isinstance(t, ast.Starred):
            stack.append(t.value)
        else:
            out.append(t)
    return out


def scan(source: str | bytes) -> list[dict]:
    """Findings for one solution's source, sorted by line, at most MAX_FINDINGS; [] if it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError (NUL), RecursionError, MemoryError...
        return []
    try:
        return _Scanner(tree).run()
    except Exception:  # noqa: BLE001 - never a traceback in the sandbox
        return []


def main() -> int:
    findings: list[dict] = []
    try:
        if len(sys.argv) > 1:
            with open(sys.argv[1], "rb") as fh:
                findings = scan(fh.read())
    except Exception:  # noqa: BLE001
        findings = []
    sys.stdout.write(json.dumps({"findings": findings}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
