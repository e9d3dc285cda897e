"""API keys: off without keys, on once any exists, hashed in Redis, per-key ownership."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import redis

from service.apikeys import KEY_HASH, KEY_ID, KeyError_
from tests.api.conftest import PY, bearer
from tests.conftest import ROOT

pytestmark = [pytest.mark.redis, pytest.mark.api]


def _is_401(r) -> None:  # noqa: ANN001
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized" and r.json()["error"]["message"]
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["x-request-id"]


def test_no_keys_means_no_auth(make_client) -> None:
    c = make_client()
    assert c.get("/v1/languages").status_code == 200
    r = c.post("/v1/submissions", json=PY)
    assert r.status_code == 202, r.text
    # an Authorization header is ignored while auth is off
    assert c.get(r.headers["location"], headers=bearer("whatever")).status_code == 200


def test_issued_key_turns_auth_on_and_is_stored_hashed(make_client, keystore,
                                                       api_redis_url) -> None:
    c = make_client()
    info, key = keystore.issue("alice")
    assert key.startswith("cfs_") and len(key) >= 40
    for path in ("/v1/languages", "/v1/limits", "/v1/submissions/sub_x", "/v1/batches/bat_x"):
        _is_401(c.get(path))
        _is_401(c.get(path, headers=bearer("cfs_wrong")))
        _is_401(c.get(path, headers={"Authorization": f"Basic {key}"}))
    _is_401(c.post("/v1/submissions", json=PY))
    _is_401(c.post("/v1/batches", json={"submissions": [PY]}))
    assert c.get("/v1/languages", headers=bearer(key)).status_code == 200
    # health and metrics stay keyless
    assert c.get("/healthz").status_code == 200
    assert c.get("/metrics").status_code == 200
    assert c.get("/readyz").status_code in (200, 503)
    # Redis holds the hash, never the key
    r = redis.Redis.from_url(api_redis_url, decode_responses=True)
    dump = json.dumps({k: r.dump(k).hex() if r.type(k) != "none" else None for k in r.keys()})
    assert key not in dump and key.encode().hex() not in dump
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert r.get(KEY_HASH + digest) == info.id
    assert r.hget(KEY_ID + info.id, "hash") == digest


def test_a_key_sees_only_its_own(make_client, keystore) -> None:
    c = make_client()
    _, alice = keystore.issue("alice")
    _, bob = keystore.issue("bob")
    sub = c.post("/v1/submissions", json=PY, headers=bearer(alice)).json()["id"]
    bat = c.post("/v1/batches", json={"submissions": [PY, PY]}, headers=bearer(alice)).json()
    assert c.get(f"/v1/submissions/{sub}", headers=bearer(alice)).status_code == 200
    assert c.get(f"/v1/batches/{bat['id']}", headers=bearer(alice)).status_code == 200
    for path in (f"/v1/submissions/{sub}", f"/v1/batches/{bat['id']}",
                 f"/v1/submissions/{bat['submission_ids'][0]}"):
        r = c.get(path, headers=bearer(bob))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # the same Idempotency-Key from two keys makes two submissions
    a = c.post("/v1/submissions", json=PY, headers={**bearer(alice), "Idempotency-Key": "k1"})
    b = c.post("/v1/submissions", json=PY, headers={**bearer(bob), "Idempotency-Key": "k1"})
    assert a.status_code == b.status_code == 202 and a.json()["id"] != b.json()["id"]


def test_rotate_keeps_the_id_and_data_revoke_stops_the_key(make_client, keystore) -> None:
    c = make_client()
    info, old = keystore.issue("carol")
    sub = c.post("/v1/submissions", json=PY, headers=bearer(old)).json()["id"]
    rotated, new = keystore.rotate(info.id)
    assert rotated.id == info.id and new != old and rotated.rotated_at
    _is_401(c.get("/v1/languages", headers=bearer(old)))
    assert c.get(f"/v1/submissions/{sub}", headers=bearer(new)).status_code == 200
    keystore.revoke(info.id)
    _is_401(c.get("/v1/languages", headers=bearer(new)))
    # with no key left, CFS_AUTH=auto stays on (fail closed) until `reset`
    assert keystore.list() == []
    _is_401(c.get("/v1/languages"))
    keystore.reset()
    assert c.get("/v1/languages").status_code == 200
    with pytest.raises(KeyError_):
        keystore.rotate(info.id)
    with pytest.raises(KeyError_):
        keystore.revoke("k_nonexistent")
    with pytest.raises(KeyError_):
        keystore.issue("bad name\n")


def test_env_keys_keep_working_next_to_issued_ones(make_client, keystore) -> None:
    env_key = "env-key-0123456789abcdef"
    c = make_client(api_keys=env_key)
    _is_401(c.get("/v1/languages"))
    r = c.post("/v1/submissions", json=PY, headers=bearer(env_key))
    assert r.status_code == 202
    _, issued = keystore.issue("dave")
    assert c.get("/v1/languages", headers=bearer(issued)).status_code == 200
    assert c.get(r.headers["location"], headers=bearer(issued)).status_code == 404
    assert c.get(r.headers["location"], headers=bearer(env_key)).status_code == 200


def test_auth_modes(make_client, keystore) -> None:
    on = make_client(auth="on")
    _is_401(on.get("/v1/languages"))  # on with no key at all: nobody gets in
    _, key = keystore.issue("erin")
    off = make_client(auth="off")
    assert off.get("/v1/languages").status_code == 200
    assert on.get("/v1/languages", headers=bearer(key)).status_code == 200


def test_redis_down_fails_closed(make_client) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = make_client(redis_url=f"redis://127.0.0.1:{port}/0")
    r = down.get("/v1/languages")
    assert r.status_code == 503 and r.json()["error"]["code"] == "auth_unavailable"
    assert r.headers["retry-after"]
    assert down.get("/healthz").status_code == 200
    off = make_client(redis_url=f"redis://127.0.0.1:{port}/0", auth="off")
    for r in (off.post("/v1/submissions", json=PY), off.get("/v1/submissions/sub_x"),
              off.post("/v1/batches", json={"submissions": [PY]})):
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert r.headers["retry-after"]
    env = make_client(redis_url=f"redis://127.0.0.1:{port}/0", api_keys="env-key-0123456789abcdef")
    _is_401(env.get("/v1/languages"))  # no header: refused without asking Redis
    # a valid env key needs no Redis for auth; the limiter fails open
    assert env.get("/v1/languages", headers=bearer("env-key-0123456789abcdef")).status_code == 200


def test_long_or_odd_authorization_headers_are_401(make_client, keystore) -> None:
    c = make_client()
    keystore.issue("frank")
    for value in ("Bearer " + "x" * 5000, "Bearer", "Bearer    ", "bearer\tx", "x" * 100):
        _is_401(c.get("/v1/languages", headers={"Authorization": value}))


def _keys_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CFS_REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("CFS_API_KEYS", None)
    return subprocess.run([sys.executable, "-m", "service.keys", "--json", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_keys_command(make_client, api_redis_url) -> None:
    c = make_client()
    out = _keys_cli(api_redis_url, "issue", "--name", "grace")
    assert out.returncode == 0, out.stderr
    issued = json.loads(out.stdout)
    key, key_id = issued["key"], issued["issued"]["id"]
    assert c.get("/v1/languages", headers=bearer(key)).status_code == 200
    listed = _keys_cli(api_redis_url, "list")
    assert key not in listed.stdout
    assert [k["id"] for k in json.loads(listed.stdout)["keys"]] == [key_id]
    assert json.loads(listed.stdout)["auth_required"] is True
    rotated = json.loads(_keys_cli(api_redis_url, "rotate", key_id).stdout)
    assert rotated["rotated"]["id"] == key_id
    _is_401(c.get("/v1/languages", headers=bearer(key)))
    assert c.get("/v1/languages", headers=bearer(rotated["key"])).status_code == 200
    assert _keys_cli(api_redis_url, "revoke", key_id).returncode == 0
    bad = _keys_cli(api_redis_url, "revoke", key_id)
    assert bad.returncode == 2 and "no issued key" in bad.stderr
    assert _keys_cli(api_redis_url, "reset").returncode == 0
    assert c.get("/v1/languages").status_code == 200
    human = subprocess.run([sys.executable, "-m", "service.keys", "--redis-url", api_redis_url,
                            "issue", "--name", "heidi"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert human.returncode == 0 and "shown only now" in human.stdout
