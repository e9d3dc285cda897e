#!/bin/sh
# Shared hardening of every runner image: the unprivileged sandbox user, no setuid/setgid
# binaries, no package manager caches. Runs once at image build time.
set -eu
grep -q '^sandbox:' /etc/passwd || echo 'sandbox:x:10001:10001:sandbox:/work:/usr/sbin/nologin' >> /etc/passwd
grep -q '^sandbox:' /etc/group || echo 'sandbox:x:10001:' >> /etc/group
find / -xdev \( -perm -4000 -o -perm -2000 \) -type f -exec chmod ug-s {} + 2>/dev/null || true
mkdir -p /work /opt/codefeedback
chown 10001:10001 /work
