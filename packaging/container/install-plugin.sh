#!/bin/sh
# Entrypoint of the ecr-login image: copies the binary into the kubelet's credential provider
# directory on the host, as ecr-credential-provider (the name that selects the kubelet protocol).
#
#   install-plugin                 copy, then exit (an init container, or a node image build)
#   install-plugin --keep-running  copy, then wait until stopped (a DaemonSet's main container)
#
# ECR_LOGIN_PLUGIN_DIR is the host directory as mounted in the container. The copy goes to a
# temporary name and is renamed over the old plugin, so a kubelet running the plugin meanwhile
# sees the old file or the new one, never half a file.
set -eu

src=${ECR_LOGIN_PLUGIN_SOURCE:-/usr/local/bin/docker-credential-ecr-login}
dest=${ECR_LOGIN_PLUGIN_DIR:-/host/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec}
name=ecr-credential-provider

keep_running=false
case ${1:-} in
    "") ;;
    --keep-running) keep_running=true ;;
    *)
        echo "usage: install-plugin [--keep-running]" >&2
        exit 2
        ;;
esac

if [ ! -d "$dest" ]; then
    echo "install-plugin: $dest is not a directory: mount the kubelet's --image-credential-provider-bin-dir there" >&2
    exit 1
fi

tmp="$dest/.$name.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$src" "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$dest/$name"
trap - EXIT
# From here on a stop is the normal end (set before the message, which says the copy is done).
sleeper=
if [ "$keep_running" = true ]; then
    trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi; exit 0' TERM INT
fi
echo "install-plugin: installed $dest/$name: $("$src" --version)"

if [ "$keep_running" = true ]; then
    while :; do
        sleep 3600 &
        sleeper=$!
        wait "$sleeper" || true
    done
fi
