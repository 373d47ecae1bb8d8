#!/usr/bin/env bash
# Makes sure what the tests need is on this machine: the etcd server binary
# (the tests start real etcd processes), Debian's nginx (`gputel cluster up`
# runs it as the load balancer, with its own configuration; the package's
# system service is not used) and Debian's chromium (the browser tests drive
# it headless through playwright-core; `playwright install` is never run). Installs the missing Debian packages when running as root with
# apt, running `apt-get update` at most once; otherwise says exactly how to
# install them.
#
# For checking this script without uninstalling anything:
#   GPUTEL_PREREQ_DRY_RUN=1          print the apt-get commands instead of running them
#   GPUTEL_PREREQ_ASSUME_MISSING=... treat these prerequisites as missing (comma-separated: etcd,nginx,chromium)
set -euo pipefail

dry_run="${GPUTEL_PREREQ_DRY_RUN:-}"
assume_missing=",${GPUTEL_PREREQ_ASSUME_MISSING:-},"
apt_updated=""
missing_messages=()

# run_apt ARGS...: apt-get ARGS, or the command printed when dry-running.
run_apt() {
  if [ -n "$dry_run" ]; then
    echo "test prerequisites (dry run): apt-get $*" >&2
  else
    apt-get "$@" >/dev/null
  fi
}

# can_install: root with apt-get, so a missing package can be installed here.
can_install() {
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1
}

# apt_install PACKAGE: apt-get install, after one apt-get update per run.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then
    run_apt update -qq
    apt_updated=1
  fi
  run_apt install -y -qq "$1"
}

# present NAME CHECK: whether CHECK (a function name) finds the prerequisite,
# false when NAME is listed in GPUTEL_PREREQ_ASSUME_MISSING.
present() {
  case "$assume_missing" in *",$1,"*) return 1 ;; esac
  "$2"
}

etcd_found() {
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]
}

# nginx_found: as gputel cluster up looks for it (src/cli/cluster/cluster-binaries.ts): on PATH, else Debian's /usr/sbin/nginx.
nginx_found() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}

# chromium_found: the browser the tests launch (test/support/browser.ts):
# GPUTEL_CHROMIUM when set, else /usr/bin/chromium.
chromium_found() {
  [ -x "${GPUTEL_CHROMIUM:-/usr/bin/chromium}" ]
}

# ensure NAME PACKAGE CHECK MESSAGE: installs PACKAGE when NAME is missing and
# this may install; otherwise keeps MESSAGE for the report at the end.
ensure() {
  local name="$1" package="$2" check="$3" message="$4"
  present "$name" "$check" && return 0
  # GPUTEL_CHROMIUM names a browser of the user's own: installing Debian's would not put it there.
  if can_install && { [ "$name" != chromium ] || [ -z "${GPUTEL_CHROMIUM:-}" ]; }; then
    echo "test prerequisites: $name is missing; installing Debian's $package" >&2
    apt_install "$package"
    if [ -n "$dry_run" ] || "$check"; then return 0; fi
  fi
  missing_messages+=("$message")
}

ensure etcd etcd-server etcd_found "The tests need the etcd server binary, and it is not installed.
Install it with:
    sudo apt-get update && sudo apt-get install -y etcd-server
(or put an etcd 3.4+ binary on PATH), then run the tests again."

ensure nginx nginx nginx_found "The tests need nginx (gputel cluster up's load balancer), and it is not installed.
Install it with:
    sudo apt-get update && sudo apt-get install -y nginx
(or put an nginx binary on PATH), then run the tests again. The package's own
service is not needed: gputel runs nginx with a configuration of its own."

if [ -n "${GPUTEL_CHROMIUM:-}" ]; then
  chromium_message="The browser tests run in Chromium, and GPUTEL_CHROMIUM=${GPUTEL_CHROMIUM} is not an executable file.
Point GPUTEL_CHROMIUM at a Chromium binary, or unset it to use Debian's chromium
(sudo apt-get update && sudo apt-get install -y chromium), then run the tests again."
else
  chromium_message="The browser tests run in Debian's chromium, and /usr/bin/chromium is not installed.
Install it with:
    sudo apt-get update && sudo apt-get install -y chromium
(or set GPUTEL_CHROMIUM to another Chromium binary), then run the tests again.
Never 'playwright install': the tests use playwright-core with this browser."
fi
ensure chromium chromium chromium_found "$chromium_message"

if [ "${#missing_messages[@]}" -gt 0 ]; then
  printf '%s\n\n' "${missing_messages[@]}" >&2
  exit 1
fi
exit 0
