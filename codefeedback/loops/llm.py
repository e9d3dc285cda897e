"""A thin, counted wrapper over any OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama,
OpenAI): one `complete()` call that returns the text and the token usage, and running totals of
calls and tokens for the stats."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import openai

Message = dict[str, str]


@dataclass
class ModelSettings:
    """Where the model lives and how to sample from it."""

    base_url: str = "http://localhost:8001/v1"
    model: str = "default"
    api_key: str | None = None
    temperature: float = 0.2
    max_tokens: int | None = 2048
    top_p: float | None = None
    seed: int | None = None
    timeout_s: float = 600.0
    max_retries: int = 3
    concurrency: int = 8

    def resolved_key(self) -> str:
        # The openai package insists on a key; local servers ignore it.
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "sk-local"


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


@dataclass
class Usage:
    """Calls and tokens, per problem and for the whole run."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0

    def add(self, c: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens

    def merge(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.errors += other.errors

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "errors": self.errors}


class LLMError(RuntimeError):
    """The endpoint failed after the openai client's own retries."""


@dataclass
class LLM:
    """Async chat client with bounded concurrency and usage accounting."""

    settings: ModelSettings
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        s = self.settings
        self._client = openai.AsyncOpenAI(base_url=s.base_url, api_key=s.resolved_key(),
                                          timeout=s.timeout_s, max_retries=s.max_retries)
        self._sem = asyncio.Semaphore(max(1, s.concurrency))

    async def complete(
        self, messages: list[Message], *, temperature: float | None = None, **extra: Any
    ) -> Completion:
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.model, "messages": messages,
            "temperature": s.temperature if temperature is None else temperature,
        }
        if s.max_tokens:
            kwargs["max_tokens"] = s.max_tokens
        if s.top_p is not None:
            kwargs["top_p"] = s.top_p
        if s.seed is not None:
            kwargs["seed"] = s.seed
        kwargs.update(extra)
        async with self._sem:
            try:
                resp = await self._client.chat.completions.create(**kwargs)
            except openai.OpenAIError as exc:
                self.usage.errors += 1
                raise LLMError(f"{type(exc).__name__}: {exc}") from exc
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        usage = resp.usage
        c = Completion(text, getattr(usage, "prompt_tokens", 0) or 0,
                       getattr(usage, "completion_tokens", 0) or 0,
                       choice.finish_reason if choice else None)
        self.usage.add(c)
        return c

    async def aclose(self) -> None:
        await self._client.close()
