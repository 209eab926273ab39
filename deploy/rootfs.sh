#!/usr/bin/env bash
# Lay out the nsq-rs image's files from a directory of release binaries.
# deploy/Dockerfile runs it in its build stage and scripts/image.sh runs it
# here, so both images hold exactly the same files. OUT_DIR/rootfs/ is the
# image's root file system (owned by root):
#   /usr/local/bin/<binary>  and a link /<binary> to it (NSQ's image layout:
#                            `/nsqd`, `/nsq_tail`, ... and `nsqd` on PATH)
#   the shared libraries and the dynamic loader the binaries need (from ldd)
#   /etc/passwd, /etc/group  the user nsq (NSQ_UID, 65532), which the image runs as
#   /etc/nsswitch.conf       host names from /etc/hosts, then DNS
#   /etc/ssl/certs/ca-certificates.crt  when the build host has it (TLS to auth servers, nsq_to_http)
#   /tmp                     world-writable, sticky
# and OUT_DIR/data/ is an empty directory, which the Dockerfile copies to
# /data owned by nsq: nsqd's working directory and data volume.
# Usage: deploy/rootfs.sh BIN_DIR OUT_DIR   (OUT_DIR must not exist or be empty)
set -euo pipefail

BINARIES=(nsqd nsqlookupd nsqadmin nsq_tail to_nsq nsq_stat nsq_to_file nsq_to_http nsq_to_nsq nsq_ping nsq_drain)
NSQ_UID=65532

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN_DIR OUT_DIR" >&2
    exit 2
fi
bin_dir=$1
if [ -e "$2" ] && [ -n "$(ls -A "$2")" ]; then
    echo "$0: $2 is not empty" >&2
    exit 1
fi
mkdir -p "$2/data"
chmod 0755 "$2/data"
out=$2/rootfs
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp"

for b in "${BINARIES[@]}"; do
    if [ ! -x "$bin_dir/$b" ]; then
        echo "$0: $bin_dir/$b is missing: build the release binaries first" >&2
        exit 1
    fi
    cp "$bin_dir/$b" "$out/usr/local/bin/$b"
    # Debug info off (symbols stay, for backtraces): the image is ~4x smaller.
    if command -v strip >/dev/null; then
        strip --strip-debug "$out/usr/local/bin/$b"
    fi
    ln -s "usr/local/bin/$b" "$out/$b"
done

# Every absolute path ldd names (libraries and the loader), copied to the
# same path with links resolved. A library ldd cannot find is an error.
libs=$(for b in "${BINARIES[@]}"; do ldd "$bin_dir/$b"; done)
if grep -q 'not found' <<<"$libs"; then
    echo "$0: missing shared libraries:" >&2
    grep 'not found' <<<"$libs" >&2
    exit 1
fi
for lib in $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$libs" | sort -u); do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
done

printf 'root:x:0:0:root:/:/sbin/nologin\nnsq:x:%d:%d:nsq:/data:/sbin/nologin\n' "$NSQ_UID" "$NSQ_UID" >"$out/etc/passwd"
printf 'root:x:0:\nnsq:x:%d:\n' "$NSQ_UID" >"$out/etc/group"
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
else
    echo "$0: no /etc/ssl/certs/ca-certificates.crt here: the image has no CA bundle (mount one to verify TLS peers)" >&2
fi
chmod 1777 "$out/tmp"
