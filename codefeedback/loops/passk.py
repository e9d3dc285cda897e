"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating LLMs trained on code")."""

from __future__ import annotations

from collections.abc import Iterable


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes.

    `1 - C(n-c, k) / C(n, k)`, computed as a product so large n does not overflow.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n} c={c}")
    if k < 1 or k > n:
        raise ValueError(f"need 1 <= k <= n, got n={n} k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def ks_for(n: int, ks: Iterable[int] = (1, 5, 10)) -> list[int]:
    """The k values that n samples allow."""
    return [k for k in ks if k <= n]
