#!/usr/bin/env bash
# Makes sure what the tests need is on this machine: the etcd server binary
# (the tests start real etcd processes). Installs Debian's etcd-server when
# running as root with apt; otherwise says exactly how to install it.
set -euo pipefail

if command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test prerequisites: installing etcd-server (Debian) for the etcd tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq etcd-server >/dev/null
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] && exit 0
fi
cat >&2 <<'MSG'
The tests need the etcd server binary, and it is not installed.
Install it with:
    sudo apt-get update && sudo apt-get install -y etcd-server
(or put an etcd 3.4+ binary on PATH), then run the tests again.
MSG
exit 1
