#!/usr/bin/env bash
# Build the nsq-rs OCI image here, offline: this tree's release build on an
# empty base, with no image pulled. The image is deploy/Dockerfile's final
# stage, its root file system laid out by deploy/rootfs.sh from
# target/release instead of the Dockerfile's build stage.
#
#   scripts/image.sh [TAG]        (default TAG: nsq-rs:latest)
#
# Uses podman if it is installed, else docker (its daemon must be running);
# NSQ_IMAGE_ENGINE=docker|podman chooses. Prints the image's size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-nsq-rs:latest}

engine=${NSQ_IMAGE_ENGINE:-}
if [ -z "$engine" ]; then
    if command -v podman >/dev/null; then
        engine=podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    else
        echo "image.sh: neither podman nor a running docker engine found (apt-get install podman)" >&2
        exit 1
    fi
fi

cargo build --release --locked \
    -p nsq-broker -p nsq-lookup -p nsq-admin-ui -p nsq-tools -p nsq-daemon-support --bins

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
bash deploy/rootfs.sh "${CARGO_TARGET_DIR:-target}/release" "$ctx"

# The Dockerfile's final stage, copying from the context (rootfs/, data/)
# instead of the build stage's /image.
awk '/^FROM scratch/ { final = 1 } final' deploy/Dockerfile |
    sed -e 's#^COPY --from=build #COPY #' -e 's#^\(COPY.*\) /image/#\1 #' >"$ctx/Containerfile"
if ! grep -q '^FROM scratch' "$ctx/Containerfile" || grep -q -- '--from=' "$ctx/Containerfile"; then
    echo "image.sh: cannot derive the final stage from deploy/Dockerfile:" >&2
    cat "$ctx/Containerfile" >&2
    exit 1
fi

"$engine" build -t "$tag" -f "$ctx/Containerfile" "$ctx"
echo "image.sh: built $tag with $engine ($("$engine" image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
