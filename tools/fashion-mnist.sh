#!/usr/bin/env bash
# `make setup`: Debian's Fashion-MNIST (package dataset-fashion-mnist, files read in place under
# /usr/share/datasets/fashion-mnist/). Full MNIST needs a network; offline, the paper suite runs
# classification on Fashion-MNIST (same format and size) and only without it on mnist-5k (4,000
# digits). tests/unit/test_datasets.py reads it too.
#
# Present: says nothing. Missing and apt usable (root, or passwordless sudo): installs it. Otherwise
# it says what to run and exits 0: a dataset apt cannot fetch here must not stop the venvs' setup.
set -uo pipefail

PACKAGE=dataset-fashion-mnist
DIR=/usr/share/datasets/fashion-mnist
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

installed() {
  local f
  for f in "${FILES[@]}"; do [ -f "$DIR/$f" ] || return 1; done
}
say() { echo "setup: $*"; }
give_up() {  # give_up WHY: what to do instead, then carry on with the rest of setup
  say "Fashion-MNIST is not installed ($DIR/ is missing): $1."
  say "  Install it with: sudo apt-get install $PACKAGE"
  say "  Until then \`make bench\` runs classification on MNIST or Fashion-MNIST if it can download"
  say "  them, else on mnist-5k (4,000 digits); the Fashion-MNIST test skips (in CI it fails)."
  exit 0
}

installed && exit 0

command -v apt-get >/dev/null || give_up "apt-get is not available on this system"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  give_up "installing it needs root or passwordless sudo"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_get() {  # quiet unless it fails; waits for another apt to finish rather than failing on its lock
  ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get -q -y -o DPkg::Lock::Timeout=300 "$@" >>"$log" 2>&1
}
install() {
  # --reinstall: a package dpkg counts as installed whose files were deleted puts them back.
  local again=()
  dpkg -s "$PACKAGE" >/dev/null 2>&1 && again=(--reinstall)
  apt_get install --no-install-recommends ${again[@]+"${again[@]}"} "$PACKAGE"
}

start=$SECONDS
say "installing Debian's $PACKAGE (Fashion-MNIST, ~30 MB) with apt-get ..."
# The package lists are refreshed only when they do not know the package, or when the download
# fails (lists older than the mirror's files); an up-to-date machine never waits for an update.
apt-cache show "$PACKAGE" >/dev/null 2>&1 || apt_get update
install || { apt_get update && install; }
if ! installed; then
  sed 's/^/  apt: /' "$log" | tail -n 15
  give_up "apt-get could not install it (its last lines are above)"
fi
size=$(du -sh "$DIR" | cut -f1)
say "installed $PACKAGE under $DIR/ ($size) in $((SECONDS - start)) s"
