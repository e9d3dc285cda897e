"""Start-up self-check: refuse to serve unless the sandbox really is the sandbox we promise.

One probe job per runner image reads its own /proc/self/status (CapEff 0, NoNewPrivs 1,
Seccomp 2, non-root), lists its network interfaces (only `lo`) and tries to connect to the
broker (must fail). A failure makes the worker's heartbeat say `sandbox_ok: false` with the
reason, so `/readyz` turns red, and is logged loudly.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

from runners.base import Job, Step
from runners.sandbox.base import Sandbox

PROBE = r"""
import json, os, socket, sys
st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
out = {k: st[k].strip() for k in ('CapEff', 'CapPrm', 'NoNewPrivs', 'Seccomp')}
out['uid'] = os.getuid()
out['net'] = sorted(os.listdir('/sys/class/net'))
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=2)
    s.close()
    out['broker'] = 'reachable'
except OSError as exc:
    out['broker'] = 'unreachable: %s' % exc.__class__.__name__
print(json.dumps(out))
"""


def broker_address(redis_url: str) -> tuple[str, int]:
    """The broker's IP and port as the worker sees them (the probe must not reach them)."""
    url = urlparse(redis_url)
    host = url.hostname or "127.0.0.1"
    try:
        host = socket.gethostbyname(host)
    except OSError:
        pass
    return host, url.port or 6379


def probe(sandbox: Sandbox, image: str, broker: tuple[str, int]) -> list[str]:
    """Problems found in one image's sandbox (empty list = posture as promised)."""
    job = Job(image=image, files={}, memory_mb=64, time_s=10, steps=[
        Step("probe", argv=["python3", "-I", "-c", PROBE, broker[0], str(broker[1])],
             time_s=10, output_kb=16, user=True)])
    result = sandbox.run(job)
    if result.error or result.lost:
        return [f"{image}: probe did not run ({result.error or result.lost})"]
    step = result.step("probe")
    try:
        out = json.loads(step.stdout)
    except ValueError:
        return [f"{image}: probe failed: {step.status} {step.stderr[-300:]}"]
    problems = []
    if out.get("CapEff") != "0000000000000000" or out.get("CapPrm") != "0000000000000000":
        problems.append(f"capabilities not dropped (CapEff {out.get('CapEff')})")
    if out.get("NoNewPrivs") != "1":
        problems.append("no_new_privs is off")
    if out.get("Seccomp") != "2":
        problems.append("seccomp filter is not active")
    if out.get("uid") == 0:
        problems.append("runs as root")
    if out.get("net") != ["lo"]:
        problems.append(f"has network interfaces {out.get('net')}")
    if out.get("broker") == "reachable":
        problems.append("can reach the broker")
    return [f"{image}: {p}" for p in problems]
