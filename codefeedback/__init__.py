"""codefeedback: execution feedback for LLM-generated code.

`pip install codefeedback` gives the shared schema (`codefeedback.models`), the HTTP SDK
(`Client`, `AsyncClient`) and the `codefeedback` command; the server comes with `.[server]`.
"""

from codefeedback.client import AsyncClient, Client
from codefeedback.models import (
    Diagnostic,
    Feedback,
    Limits,
    Submission,
    SubmissionResource,
    TestCase,
    Tests,
    Verdict,
)

__all__ = [
    "AsyncClient",
    "Client",
    "Diagnostic",
    "Feedback",
    "Limits",
    "Submission",
    "SubmissionResource",
    "TestCase",
    "Tests",
    "Verdict",
]
__version__ = "0.1.0"
