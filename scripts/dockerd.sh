#!/usr/bin/env bash
# Makes sure a Docker daemon answers on /var/run/docker.sock, starting one in the background
# when none does. The relayer and `make agents` need dockerd, and these machines have no
# systemd to start it, so the project starts its own. Idempotent: when `docker info` already
# answers this does nothing; otherwise it starts dockerd (log: target/dockerd.log) and waits
# until the daemon answers or fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERD_WAIT_SECS=${DOCKERD_WAIT_SECS:-60}
log=target/dockerd.log

if docker info >/dev/null 2>&1; then
  exit 0
fi

command -v dockerd >/dev/null 2>&1 || { echo "dockerd.sh: dockerd is not installed (make setup installs docker.io)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "dockerd.sh: starting dockerd needs root" >&2; exit 1; }

# A daemon that died uncleanly leaves its pid file behind, and a new dockerd refuses to start
# while the pid in it is alive. Remove it only when that process is gone.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ]; then
  old=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    echo "dockerd.sh: dockerd (pid $old) is running but not answering yet; waiting for it" >&2
  else
    rm -f "$pidfile"
    old=
  fi
fi

if [ -z "${old:-}" ]; then
  mkdir -p target
  echo "dockerd.sh: starting dockerd (log: $log)" >&2
  # setsid + nohup: the daemon outlives this script and the make invocation that ran it.
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
fi

for _ in $(seq 1 $((DOCKERD_WAIT_SECS * 4))); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd.sh: dockerd is up" >&2
    exit 0
  fi
  sleep 0.25
done
echo "dockerd.sh: dockerd did not answer within ${DOCKERD_WAIT_SECS}s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
