#!/bin/sh
# A base image for deploy/Containerfile made from Debian's packages alone (debootstrap from
# deb.debian.org: Debian bookworm, Python 3.11 and its venv module), for a machine that reaches
# no container registry. As root:
#
#   deploy/debian-base.sh [tag]          # default tag: localhost/debian-python:bookworm
#   podman build --pull=never --build-arg BASE=localhost/debian-python:bookworm -f deploy/Containerfile dist
set -eu
tag=${1:-localhost/debian-python:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/root" "$mirror" >"$work/log" \
  || { cat "$work/log" >&2; exit 1; }
rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
tar -C "$work/root" -c . | podman import --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
