#!/usr/bin/env bash
# Lays out a FROM scratch build context for the Mosquitto image from what
# is installed on this machine (no registry needed):
#   the broker binary, every shared library it and the plugin load (ldd,
#   dynamic loader included), the plugin, /etc/passwd and /etc/group with
#   the mosquitto user (the broker drops privileges to it), nsswitch.conf
#   and the default mosquitto.conf.
# Usage: assemble.sh [PLUGIN_SO] [OUT_DIR]
#   defaults: bin/mosquitto_auth_http.so  ci/images/mosquitto/build
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
plugin="${1:-bin/mosquitto_auth_http.so}"
out="${2:-$here/build}"
broker="$(command -v mosquitto || true)"
[ -n "$broker" ] || broker=/usr/sbin/mosquitto
if [ ! -x "$broker" ]; then
  echo "assemble: $broker not found; apt-get install -y mosquitto" >&2; exit 2
fi
if [ ! -f "$plugin" ]; then
  echo "assemble: plugin $plugin not found; run 'make plugin' first" >&2; exit 2
fi
command -v ldd >/dev/null || { echo "assemble: ldd not found (libc-bin)" >&2; exit 2; }

root="$out/rootfs"
rm -rf "$root"
mkdir -p "$root/usr/sbin" "$root/usr/lib/mosquitto" "$root/etc" "$root/mosquitto/config" "$root/tmp"
chmod 1777 "$root/tmp"
cp -L "$broker" "$root/usr/sbin/mosquitto"
cp -L "$plugin" "$root/usr/lib/mosquitto/mosquitto_auth_http.so"

# Shared libraries at the paths the loader looks them up by (the path ldd
# prints, symlinks resolved into regular files of that name).
libs() { ldd "$1" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}'; }
{ libs "$broker"; libs "$plugin"; } | sort -u | while read -r lib; do
  [ -e "$lib" ] || { echo "assemble: ldd names $lib but it does not exist" >&2; exit 2; }
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Debian's loader is /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...;
# ldd names the first, which is what the binaries' PT_INTERP says.

uid="$(getent passwd mosquitto | cut -d: -f3 || true)"; uid="${uid:-1883}"
gid="$(getent group mosquitto | cut -d: -f3 || true)"; gid="${gid:-1883}"
cat > "$root/etc/passwd" <<PW
root:x:0:0:root:/root:/usr/sbin/nologin
mosquitto:x:$uid:$gid:mosquitto:/var/empty:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
cat > "$root/etc/group" <<GR
root:x:0:
mosquitto:x:$gid:
nogroup:x:65534:
GR
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
cp "$here/mosquitto.conf" "$root/mosquitto/config/mosquitto.conf"
cp "$here/Dockerfile" "$out/Dockerfile"
echo "assemble: $(find "$root" -type f | wc -l) files, $(du -sh "$root" | cut -f1) in $out"
