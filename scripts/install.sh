#!/usr/bin/env bash
# Installs tcvip for keepalived (run as root):
#   - the four binaries (notify-action, vip-migrate, vip-query, check-self) as root:root 0755
#     into a directory that keepalived's enable_script_security accepts: every component of its
#     path owned by root and writable by nobody else (a sticky world-writable directory such as
#     /tmp passes keepalived's check, but is refused here all the same);
#   - the examples from keepalived-examples/ into the config directory, never overwriting a file
#     that is already there (tcvip.toml as 0600: it may come to hold keys).
#
# Usage: scripts/install.sh [--from DIR] [--bin-dir DIR] [--config-dir DIR] [--no-examples]
#   --from DIR        the built binaries (default: $CARGO_TARGET_DIR/release, else target/release;
#                     build them with: cargo build --release -p tcvip --locked)
#   --bin-dir DIR     where the binaries go (default: /usr/local/bin, as the examples expect)
#   --config-dir DIR  where the examples go (default: /etc/keepalived)
#   --no-examples     binaries only
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
from="${CARGO_TARGET_DIR:-$repo/target}/release"
bin_dir=/usr/local/bin
config_dir=/etc/keepalived
examples=true
binaries=(notify-action vip-migrate vip-query check-self tcvip)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
    echo "install: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
        --config-dir) config_dir=${2:?--config-dir needs a directory}; shift 2 ;;
        --no-examples) examples=false; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root (the binaries are installed root:root for keepalived)"
case "$bin_dir" in /*) ;; *) die "--bin-dir must be an absolute path: $bin_dir" ;; esac
case "$config_dir" in /*) ;; *) die "--config-dir must be an absolute path: $config_dir" ;; esac

for b in "${binaries[@]}"; do
    if [ ! -f "$from/$b" ] || [ ! -x "$from/$b" ]; then
        die "no binary $from/$b; build first: cargo build --release -p tcvip --locked"
    fi
done

# keepalived's script security: each directory on the path root-owned, not writable by a
# non-root group nor by others (sticky directories are exempt in keepalived; not here).
check_secure_path() {
    local path=/ part uid gid mode
    local -a parts
    IFS=/ read -r -a parts <<<"${1#/}"
    for part in "" "${parts[@]}"; do
        [ -n "$part" ] && path="${path%/}/$part"
        read -r uid gid mode < <(stat -L -c '%u %g %a' "$path")
        [ "$uid" -eq 0 ] || die "$path is owned by uid $uid, not root: keepalived would refuse scripts under it"
        if (((8#$mode & 8#020) && gid != 0)); then
            die "$path is group-writable (gid $gid): keepalived would refuse scripts under it"
        fi
        if ((8#$mode & 8#002)); then
            die "$path is world-writable: keepalived would refuse (or, if sticky, should not trust) scripts under it"
        fi
    done
}

install -d -o root -g root -m 0755 "$bin_dir"
check_secure_path "$bin_dir"
for b in "${binaries[@]}"; do
    # Copy under a temporary name, then rename: a running binary is replaced, never rewritten.
    install -o root -g root -m 0755 "$from/$b" "$bin_dir/.$b.new"
    mv -f "$bin_dir/.$b.new" "$bin_dir/$b"
done
echo "install: ${binaries[*]} -> $bin_dir (root:root 0755)" >&2

if $examples; then
    install -d -o root -g root -m 0755 "$config_dir"
    for src in "$repo"/keepalived-examples/keepalived-*.conf "$repo/keepalived-examples/tcvip.toml"; do
        [ -f "$src" ] || continue
        dest="$config_dir/$(basename "$src")"
        mode=0644
        [ "$(basename "$src")" = tcvip.toml ] && mode=0600
        if [ -e "$dest" ]; then
            echo "install: kept existing $dest" >&2
            continue
        fi
        install -o root -g root -m "$mode" "$src" "$dest"
        echo "install: $dest" >&2
    done
fi
