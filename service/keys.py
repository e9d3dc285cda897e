"""Issue, rotate, revoke and list API keys: `python -m service.keys <command>`.

    python -m service.keys issue --name alice     # prints the new key once
    python -m service.keys rotate k_0123456789abcdef   # new key, same id; the old key stops working
    python -m service.keys revoke k_0123456789abcdef
    python -m service.keys list
    python -m service.keys reset                  # after revoking every key: back to no auth

Keys are kept in the Redis of `CFS_REDIS_URL` (or `--redis-url`) as SHA-256 hashes; the clear key
is printed once and never stored. In the compose stack: `docker compose exec api python -m
service.keys issue --name alice`. With `CFS_AUTH=auto` (the default) the first issued key turns
authentication on for every `/v1/*` call.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from service.apikeys import KeyError_, KeyInfo, KeyStore


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


def _env_keys(settings) -> list[KeyInfo]:  # noqa: ANN001
    return [KeyInfo(key_id, "(CFS_API_KEYS)", 0.0, None, source="env")
            for key_id in sorted(settings.key_hashes().values())]


def main(argv: list[str] | None = None) -> int:
    from service.config import ApiSettings

    settings = ApiSettings()
    parser = argparse.ArgumentParser(prog="python -m service.keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=settings.redis_url,
                        help="Redis holding the keys (default: CFS_REDIS_URL)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue", help="issue a new key (printed once)")
    issue.add_argument("--name", required=True, help="who the key is for ([A-Za-z0-9._@-], 1-64)")
    rotate = sub.add_parser("rotate", help="replace a key's secret; the id and its data stay")
    rotate.add_argument("key_id")
    revoke = sub.add_parser("revoke", help="delete a key; it stops working at once")
    revoke.add_argument("key_id")
    sub.add_parser("list", help="list key ids and names (never the keys)")
    sub.add_parser("reset", help="with no key left, let CFS_AUTH=auto serve without keys again")
    args = parser.parse_args(argv)

    store = KeyStore.from_url(args.redis_url)
    try:
        if args.command == "issue":
            info, clear = store.issue(args.name)
            return _print_secret(args, "issued", info, clear)
        if args.command == "rotate":
            info, clear = store.rotate(args.key_id)
            return _print_secret(args, "rotated", info, clear)
        if args.command == "revoke":
            info = store.revoke(args.key_id)
            if args.json:
                print(json.dumps({"revoked": info.public()}))
            else:
                print(f"revoked {info.id} ({info.name}); it stops working at once")
            return 0
        if args.command == "reset":
            store.reset()
            print("no key is issued: with CFS_AUTH=auto and no CFS_API_KEYS the API needs no key")
            return 0
        keys = _env_keys(settings) + store.list()
        on = {"on": True, "off": False}.get(settings.auth, bool(keys) or store.auth_sticky())
        if args.json:
            print(json.dumps({"auth": settings.auth, "auth_required": on,
                              "keys": [k.public() for k in keys]}))
        else:
            print(f"CFS_AUTH={settings.auth}; keys {'required' if on else 'not required'}; "
                  f"{len(keys)} key(s)")
            for k in keys:
                print(f"{k.id}  {k.source:5}  {k.name:24}  created {_when(k.created_at)}  "
                      f"rotated {_when(k.rotated_at)}")
        return 0
    except KeyError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _print_secret(args: argparse.Namespace, what: str, info: KeyInfo, clear: str) -> int:
    if args.json:
        print(json.dumps({what: info.public(), "key": clear}))
    else:
        print(f"{what} key {info.id} for {info.name!r}. The key is shown only now; store it:")
        print(clear)
        print(f"use it as: Authorization: Bearer {clear[:8]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
