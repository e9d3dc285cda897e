"""The hostile catalogue of SECURITY.md, for every language in cases/, through the real API.

Every case runs once, in one batch with its benign twin (so attacks and honest jobs share the
stack two at a time); `campaign` (conftest.py) records what happened. Per case:

1. verdict: the stated one, never `accepted` for a hostile case (escape probes are the
   exception: their program exits 0 only when every attack failed, and the proof lines it
   prints are checked too); the benign twin is `accepted`;
2. liveness: (module tests) /healthz answered all along, benign jobs sent meanwhile passed;
3. no leak: no canary (worker env var, host file, Redis key) in any result or log; no
   connection at the suite's listeners (loopback, bridge gateway) from a sandbox;
4. cleanup, per job and per cell (cells.py): within 5 s of the verdict the job's `sweep`
   record says clean or retired; a retired cell is gone within 5 s, a clean one holds only
   cf-agent/cf-template (or already serves another job); no process of a removed container is
   left on the host; cells still there at the end hold only their own processes;
5. worker health: delivered once; the worker and its pool processes never restarted;
6. host health: memory and disk back near where they were.
"""

from __future__ import annotations

import pytest

from tests.security.cases import all_cases, render
from tests.security.conftest import Campaign, Tracked, result_text

pytestmark = [pytest.mark.docker, pytest.mark.redis, pytest.mark.security,
              pytest.mark.timeout(900)]

CASES = all_cases()
IDS = [f"{lang}-{case.name}" for lang, case in CASES]


def params():
    out = []
    for (lang, case), case_id in zip(CASES, IDS, strict=True):
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        out.append(pytest.param(lang, case, id=case_id, marks=marks))
    return out


def describe(t: Tracked) -> str:
    r = t.result or {}
    run = r.get("run") or {}
    return (f"{t.key}: verdict={r.get('verdict')} http={t.http_status}\n"
            f"feedback: {str(r.get('feedback'))[:1500]}\n"
            f"stdout: {str(run.get('stdout'))[:1500]}\nstderr: {str(run.get('stderr'))[:800]}")


def check_verdict(c: Campaign, t: Tracked, expected: str) -> None:
    if expected.startswith("http_"):
        assert t.http_status == int(expected[5:]), (t.http_status, t.http_body)
        return
    assert t.http_status == 202, (t.http_status, t.http_body)
    assert t.result is not None and t.result.get("status") == "completed", describe(t)
    assert t.result["verdict"] == expected, describe(t)


def check_no_leak(c: Campaign, t: Tracked) -> None:
    text = result_text(t)
    for name, value in c.canaries.items():
        assert value not in text, f"{t.key}: the {name} canary leaked into the result"
    for s in t.case.absent:
        assert render(s, c.ctx) not in text, f"{t.key}: {s!r} appears in the result"


def check_cleanup(c: Campaign, t: Tracked) -> None:
    """Per job and per cell (cells.py): within 5 s of the verdict the job's sweep record says
    clean or retired; a retired cell's container is gone within 5 s; a clean cell holds only
    cf-agent/cf-template (or already serves another job). Single-use: retired / single-use."""
    if not t.sub_id:
        return
    assert c.deliveries.get(t.sub_id) == "1", f"{t.key}: delivered {c.deliveries.get(t.sub_id)} times"
    if t.result_cached:
        return  # answered from the result cache: no job ran, no cell was touched
    assert t.cleanup_done and t.cleanup is not None, f"{t.key}: cleanup was not observed"
    assert not t.cleanup.problems, f"{t.key}: {t.cleanup.problems} ({t.cleanup.summary()})"
    assert t.cleanup.outcome in ("clean", "retired"), t.cleanup.summary()
    if t.cleanup.outcome == "retired":
        assert t.cleanup.gone_after_s is not None, f"{t.key}: {t.cleanup.summary()}"
    if c.single_use:
        assert (t.cleanup.sweep or {}).get("reason") == "single-use", t.cleanup.summary()


@pytest.mark.parametrize(("language", "case"), params())
def test_hostile_case(campaign: Campaign, language: str, case) -> None:  # noqa: ANN001
    """The hostile submission gets its stated verdict (never a false pass), leaks nothing and
    leaves nothing behind; its benign twin (and follow-up, if any) is accepted."""
    c = campaign
    t = c.jobs[f"{language}/{case.name}"]
    check_verdict(c, t, case.expected)
    if case.expected != "accepted":  # probes expected to be accepted carry proof/absent
        assert (t.result or {}).get("verdict") != "accepted", describe(t)
    stdout = ((t.result or {}).get("run") or {}).get("stdout") or ""
    for proof in case.proof:
        assert render(proof, c.ctx) in stdout, f"missing proof {proof!r}\n" + describe(t)
    assert "ESCAPED" not in stdout, describe(t)
    check_no_leak(c, t)
    check_cleanup(c, t)

    tw = c.jobs[f"{language}/{case.name}/twin"]
    check_verdict(c, tw, "accepted")
    check_no_leak(c, tw)
    check_cleanup(c, tw)

    if case.followup is not None:
        f = c.jobs[f"{language}/{case.name}/followup"]
        check_verdict(c, f, "accepted")
        fout = ((f.result or {}).get("run") or {}).get("stdout") or ""
        assert "clean slate" in fout and "ESCAPED" not in fout, describe(f)
        check_cleanup(c, f)


def test_liveness(campaign: Campaign) -> None:
    """/healthz answered 200 throughout; benign jobs sent during the attacks were accepted."""
    c = campaign
    assert not c.health_failures, c.health_failures[:10]
    live = [t for t in c.jobs.values() if t.role == "liveness"]
    assert len(live) >= 2
    for t in live:
        check_verdict(c, t, "accepted")
        check_cleanup(c, t)


def test_no_canary_in_any_result_or_log(campaign: Campaign) -> None:
    c = campaign
    for t in c.jobs.values():
        check_no_leak(c, t)
    for name, value in c.canaries.items():
        assert value not in c.worker_log, f"the {name} canary is in the worker log"
        assert value not in c.api_log, f"the {name} canary is in the API log"


def test_listeners_saw_no_sandbox(campaign: Campaign) -> None:
    """Our listeners on loopback and on the bridge gateway (at their own ports and at the
    Redis and API port numbers) were never connected to; Redis had loopback clients only."""
    c = campaign
    for lst in c.listeners:
        assert lst.peers == [], f"{lst.host}:{lst.port} got connections from {lst.peers}"
    assert c.redis_clients == [], c.redis_clients


def test_no_leftover_containers_or_processes(campaign: Campaign) -> None:
    c = campaign
    assert c.leftover_containers == [], c.leftover_containers
    assert c.stray_processes == {}, c.stray_processes


def test_worker_never_restarted(campaign: Campaign) -> None:
    c = campaign
    before, after = c.worker_before, c.worker_after
    assert after["alive"] and after["pid"] == before["pid"]
    assert after["create_time"] == before["create_time"]
    assert after["children"] == before["children"], "a pool process was replaced"


def test_host_back_near_baseline(campaign: Campaign) -> None:
    """Memory and disk return near the baseline (tolerances: this machine is shared)."""
    c = campaign
    mem_drop = c.host_before["mem_available"] - c.host_after["mem_available"]
    disk_growth = c.host_after["disk_used"] - c.host_before["disk_used"]
    assert mem_drop < 768 * 2**20, f"available memory dropped by {mem_drop >> 20} MiB"
    assert disk_growth < 1024 * 2**20, f"disk use grew by {disk_growth >> 20} MiB"


def test_report(campaign: Campaign) -> None:
    """Not a check: prints the table of cases for the run's log (pytest -s / -rA)."""
    c = campaign
    rows = []
    for lang, case in CASES:
        t = c.jobs[f"{lang}/{case.name}"]
        got = (t.result or {}).get("verdict") or f"http_{t.http_status}"
        tw = (c.jobs[f"{lang}/{case.name}/twin"].result or {}).get("verdict")
        rows.append(f"{lang:7} {case.group:9} {case.name:36} {case.expected:14} {got:14} twin={tw}")
    print("\n" + "\n".join(rows))
    print(f"campaign runtime {c.runtime_s:.0f}s, /healthz max {c.health_max_ms:.0f} ms")
