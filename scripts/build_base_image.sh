#!/usr/bin/env bash
# Build a python3 base image from Debian packages, for machines that reach no image registry:
# mmdebstrap of Debian bookworm (minbase + python3 3.11, python3-venv, ca-certificates, passwd) piped into
# `docker import`. The .debs already in the host's apt cache (/var/cache/apt/archives) are hard-linked in and
# not downloaded again (apt checks their hashes); the rest come from the mirror.
# Idempotent: does nothing when the tag already exists. Usage: scripts/build_base_image.sh [TAG]
# Then: docker build -f deploy/Dockerfile --build-arg BASE_IMAGE=TAG -t adaptrade:0.1.0 .
set -euo pipefail
TAG="${1:-${ADAPTRADE_BASE_IMAGE_TAG:-adaptrade-base:bookworm}}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG exists; nothing to do"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 2; }

# minbase + python3; docs, man pages, locales and apt lists are left out to keep the image small.
# (No python3-pip: the Dockerfile's venv gets pip from python3-venv's ensurepip.)
HOST_DEBS="${APT_ARCHIVES:-/var/cache/apt/archives}"
mmdebstrap --variant=minbase --mode=auto \
  --include=python3,python3-venv,ca-certificates,passwd \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
  --setup-hook="find '$HOST_DEBS' -maxdepth 1 -name '*.deb' -exec cp -l -t \"\$1\"/var/cache/apt/archives {} + 2>/dev/null || true" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  "$SUITE" - "$MIRROR" \
  | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG"
echo "built base image $TAG"
