"""Code extraction from model answers: fences, language choice, tests blocks, fallbacks."""

from codefeedback.extract import extract_code, extract_tests, find_blocks, strip_reasoning


def test_block_in_requested_language_wins_over_other_languages():
    text = ("Here is C:\n```c\nint add(int a,int b){return a+b;}\n```\n"
            "and Python:\n```py\ndef add(a, b):\n    return a + b\n```\n")
    ex = extract_code(text, "python")
    assert ex.outcome == "fenced" and ex.code == "def add(a, b):\n    return a + b\n"
    assert extract_code(text, "c").code.startswith("int add")


def test_entry_point_block_preferred_over_longer_usage_example():
    text = ("```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\n"
            "x = 1\ny = 2\nprint(x + y)\nprint('a longer usage example than the solution')\n```")
    assert "def add" in extract_code(text, "python", entry_point="add").code
    # without an entry point the longest block is taken
    assert "print" in extract_code(text, "python").code


def test_untagged_fence_and_unclosed_fence():
    assert extract_code("```\ndef f():\n    return 1\n```", "python").outcome == "fenced_untagged"
    ex = extract_code("Sure!\n```python\ndef f():\n    return 1\n", "python")
    assert ex.outcome == "fenced" and ex.code == "def f():\n    return 1\n"
    assert find_blocks("```python\nx\n")[0].closed is False


def test_tilde_fence_and_longer_fence_containing_backticks():
    text = "~~~python\ns = '```'\ndef f():\n    return s\n~~~\n"
    assert "def f" in extract_code(text, "python").code
    text2 = "````python\ndef f():\n    '''```'''\n    return 1\n```\n    pass\n````\n"
    assert extract_code(text2, "python").code.count("def f") == 1
    assert "pass" in extract_code(text2, "python").code


def test_tests_block_is_separated_from_solution():
    text = ("```python\ndef inc(x):\n    return x + 1\n```\n\n```python tests\n"
            "assert inc(1) == 2\nassert inc(-1) == 0\n```\n")
    assert extract_code(text, "python").code == "def inc(x):\n    return x + 1\n"
    assert extract_tests(text, "python") == "assert inc(1) == 2\nassert inc(-1) == 0\n"
    assert extract_tests("```python\nx=1\n```", "python") is None


def test_unfenced_python_whole_answer_and_prose_around():
    assert extract_code("def f(x):\n    return x\n", "python").outcome == "unfenced"
    text = ("Sure, here is the function you asked for.\n\ndef f(x):\n    return x * 2\n\n"
            "It doubles the input. Hope this helps!")
    ex = extract_code(text, "python")
    assert ex.outcome == "unfenced" and ex.code.strip() == "def f(x):\n    return x * 2"


def test_unfenced_c():
    text = ("Here you go:\n#include <stdio.h>\nint add(int a, int b) {\n    return a + b;\n}\n"
            "This adds numbers.")
    ex = extract_code(text, "c")
    assert ex.outcome == "unfenced" and ex.code.startswith("#include") and ex.code.endswith("}\n")


def test_no_code_outcomes_are_explicit():
    assert extract_code("", "python").outcome == "no_code"
    assert extract_code("I cannot help with that.", "python").outcome == "no_code"
    ex = extract_code("```c\nint f(void){return 0;}\n```", "python")
    assert ex.outcome == "no_code" and "no python block" in ex.reason and ex.code is None
    assert extract_code("```text\nhello\n```", "python").outcome == "no_code"


def test_reasoning_sections_are_ignored():
    text = "<think>```python\ndef wrong(): pass\n```</think>```python\ndef right():\n  pass\n```"
    assert "right" in extract_code(text, "python").code
    assert strip_reasoning("ok <think> truncated ...") == "ok "
    assert extract_code("<think>def f():\n    return 1\n", "python").outcome == "no_code"
