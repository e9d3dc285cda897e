"""The `calls` test kind, shared by every language (CONTRACT.md `calls`, DESIGN.md "Trusted
comparison").

A case's arguments are rendered into the sandbox; the call's return value comes back as plain
JSON on the private report channel; the worker compares it with the expected value here, so the
expected values never enter the sandbox and a value cannot lie about its own type or equality.

* `signature` - the signature: Python annotation syntax parsed into a small type tree;
* `values`    - the one type and comparison rule (`compare`);
* `literals`  - a base for rendering JSON values as literals of a language (args in, feedback out);
* `judge`     - reading a calls step's events into one TESTCASE per case, failing closed.
"""
