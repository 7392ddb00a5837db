#!/usr/bin/env bash
# Make a Python 3.11 base image with no container registry at all: Debian bookworm from Debian's own
# package mirror (debootstrap), imported into the engine as one layer. Real users with a registry do
# not need this: the runner Dockerfiles default to python:3.11-slim (cpu) or an nvidia/cuda image.
#
#   images/base/build.sh [TAG]          (default bench-base:bookworm; `make base-image` calls this)
#
# Env: DEBIAN_MIRROR (default http://deb.debian.org/debian), FORCE=1 rebuilds an existing TAG.
# Needs root, debootstrap and a running Docker engine.
set -euo pipefail

TAG="${1:-bench-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

command -v debootstrap >/dev/null || { echo "error: debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (start dockerd)" >&2; exit 1; }
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG already exists ($(docker image inspect -f '{{.Id}}' "$TAG")); FORCE=1 rebuilds it"
  exit 0
fi

root="$(mktemp -d /var/tmp/bench-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# python3-venv brings ensurepip, so the Dockerfiles create their venv the same way on this base and
# on python:3.11-slim; ca-certificates lets pip verify PyPI (an extra proxy CA comes at build time).
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR"
# What only the bootstrap needed: package caches, lists, docs and locales (apt still works after
# `apt-get update` inside a derived image).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
python_version="$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')"
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL bench.base=debootstrap-bookworm bench.python=$python_version" \
  - "$TAG" >/dev/null
echo "$TAG: Debian bookworm (minbase), Python $python_version, $(docker image inspect -f '{{.Id}}' "$TAG")"
