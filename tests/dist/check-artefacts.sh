#!/usr/bin/env bash
# Checks what scripts/dist.sh wrote (default dist/, or the directory given): what an operator
# installs.
#   - every packaged binary (`tcvip-docs list`) in the tarball, the .deb and the .rpm needs
#     GLIBC_2.17 at most and prints "<name> <version>" for --version once extracted;
#   - the .deb (dpkg-deb -c/-I) and the .rpm (rpm -qp --dump/--configfiles/...) hold the
#     binaries in /usr/bin root:root 0755, man pages, completions, licence, examples naming
#     /usr/bin, /etc/keepalived/tcvip.toml as conffile / %config(noreplace) root:root 0600, the
#     dependencies, and no maintainer script;
#   - lintian and rpmlint report nothing beyond the commented overrides in packaging/;
#   - SHA256SUMS matches.
# Needs lintian, rpm and rpmlint (installed with apt-get when root and missing).
#
# Usage: tests/dist/check-artefacts.sh [DIST-DIR]
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dist=${1:-$repo/dist}
GLIBC_FLOOR=2.17
failures=0
checks=0

ok() {
    checks=$((checks + 1))
    echo "ok   $*"
}
bad() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAIL $*" >&2
}
# check DESCRIPTION COMMAND... : ok when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

missing=()
for tool in lintian:lintian rpm:rpm rpmlint:rpmlint rpm2archive:rpm objdump:binutils; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "check-artefacts: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "check-artefacts: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { timeout 600 apt-get update -qq && timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 ||
        { echo "check-artefacts: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi

cd "$repo" || exit 1
mapfile -t binaries < <(cargo run --quiet --locked -p tcvip-docs -- list)
[ ${#binaries[@]} -gt 0 ] || { echo "check-artefacts: tcvip-docs list printed nothing" >&2; exit 1; }
pkgid=$(cargo pkgid --locked -p tcvip)
version=${pkgid##*[#@]}

tarball="$dist/tcvip-$version-x86_64-linux-gnu.tar.gz"
deb="$dist/tcvip_${version}-1_amd64.deb"
rpmfile="$dist/tcvip-${version}-1.x86_64.rpm"
for f in "$tarball" "$deb" "$rpmfile" "$dist/SHA256SUMS"; do
    [ -f "$f" ] || { echo "check-artefacts: no $f (run scripts/dist.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# glibc_ok FILE : FILE needs GLIBC_2.17 at most (and needs some GLIBC at all: a file objdump
# cannot read is not a pass).
glibc_ok() {
    local need
    need=$(objdump -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    [ -n "$need" ] || { echo "  $1: no GLIBC symbol versions found" >&2; return 1; }
    [ "$(printf '%s\n%s\n' "$need" "$GLIBC_FLOOR" | sort -V | tail -n 1)" = "$GLIBC_FLOOR" ] ||
        { echo "  $1 needs GLIBC_$need" >&2; return 1; }
}
# The negative control: a binary built here natively (glibc 2.36) must fail the check.
native="${CARGO_TARGET_DIR:-$repo/target}/debug/tcvip-docs"
if glibc_ok "$native" 2>/dev/null; then
    bad "the GLIBC check passed a native build ($native): it proves nothing"
else
    ok "the GLIBC check rejects a native build"
fi

# binaries_run DIR WHERE : every packaged binary in DIR needs GLIBC_2.17 at most and prints its
# name and version for --version.
binaries_run() {
    local dir=$1 where=$2 b out
    for b in "${binaries[@]}"; do
        check "$where: $b needs GLIBC_$GLIBC_FLOOR at most" glibc_ok "$dir/$b"
        out=$("$dir/$b" --version 2>&1)
        if [ "$out" = "$b $version" ]; then
            ok "$where: $b --version prints '$out'"
        else
            bad "$where: $b --version printed '$out', not '$b $version'"
        fi
    done
}

# examples_name DIR PREFIX : every keepalived example in DIR runs its scripts from PREFIX and
# names no other binary directory.
examples_name() {
    local dir=$1 prefix=$2 f n
    n=$(find "$dir" -name 'keepalived-*.conf' | wc -l)
    [ "$n" -ge 3 ] || { echo "  only $n keepalived examples in $dir" >&2; return 1; }
    for f in "$dir"/keepalived-*.conf; do
        grep -qE "^[[:space:]]*(script|notify[a-z_]*)[[:space:]]+\"$prefix/" "$f" ||
            { echo "  $f runs nothing from $prefix" >&2; return 1; }
        if grep -nE '"/[^"]*(notify-action|check-self|vip-migrate|vip-query)' "$f" | grep -v "\"$prefix/"; then
            echo "  $f names a binary outside $prefix (above)" >&2
            return 1
        fi
    done
}

# ---------------------------------------------------------------------------------------------
echo "== tarball $(basename "$tarball")"
mkdir "$work/tar"
tar -xzf "$tarball" -C "$work/tar"
top="$work/tar/tcvip-$version-x86_64-linux-gnu"
binaries_run "$top/bin" tarball
for f in README.md LICENSE-MIT LICENSE-APACHE scripts/install.sh man/man5/tcvip.toml.5 keepalived-examples/tcvip.toml; do
    check "tarball: $f" test -s "$top/$f"
done
for b in "${binaries[@]}"; do
    check "tarball: man page, bash and zsh completion of $b" test -s "$top/man/man1/$b.1" -a \
        -s "$top/completions/bash/$b" -a -s "$top/completions/zsh/_$b"
done
check "tarball: the examples name /usr/local/bin (scripts/install.sh's default)" \
    examples_name "$top/keepalived-examples" /usr/local/bin
owners=$(tar -tvzf "$tarball" | awk '{ print $2 }' | sort -u)
check "tarball: every entry owned by 0/0 (got: $owners)" test "$owners" = "0/0"

# ---------------------------------------------------------------------------------------------
echo "== deb $(basename "$deb")"
dpkg-deb -c "$deb" >"$work/deb.list"
dpkg-deb -I "$deb" >"$work/deb.info"
# deb_has MODE OWNER PATH : dpkg-deb -c lists PATH with that mode and owner.
deb_has() {
    awk -v m="$1" -v o="$2" -v p="./${3#/}" '$1 == m && $2 == o && $NF == p { f = 1 } END { exit !f }' "$work/deb.list" ||
        { echo "  not in dpkg-deb -c as $1 $2: $3" >&2; return 1; }
}
check "deb: /etc/keepalived/tcvip.toml root:root 0600" deb_has -rw------- root/root /etc/keepalived/tcvip.toml
check "deb: tcvip.toml is a conffile" \
    sh -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/keepalived/tcvip.toml"
check "deb: dpkg-deb -I lists conffiles" grep -q ' conffiles' "$work/deb.info"
for b in "${binaries[@]}"; do
    check "deb: /usr/bin/$b root:root 0755" deb_has -rwxr-xr-x root/root "/usr/bin/$b"
    check "deb: man page of $b" deb_has -rw-r--r-- root/root "/usr/share/man/man1/$b.1.gz"
    check "deb: bash completion of $b" deb_has -rw-r--r-- root/root "/usr/share/bash-completion/completions/$b"
    check "deb: zsh completion of $b" deb_has -rw-r--r-- root/root "/usr/share/zsh/vendor-completions/_$b"
done
for f in /usr/share/man/man5/tcvip.toml.5.gz /usr/share/doc/tcvip/copyright /usr/share/doc/tcvip/README.md \
    /usr/share/doc/tcvip/examples/keepalived-nopreempt.conf /usr/share/doc/tcvip/examples/keepalived-1.3.conf \
    /usr/share/doc/tcvip/examples/tcvip.toml; do
    check "deb: $f root:root 0644" deb_has -rw-r--r-- root/root "$f"
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in 'libc6 (>= 2.17)' iproute2 keepalived; do
    check "deb: Depends on $d ($depends)" grep -qF "$d" <<<"$depends"
done
scripts=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -E 'preinst|postinst|prerm|postrm|config$' || true)
check "deb: no maintainer scripts (nothing restarts keepalived)${scripts:+: $scripts}" test -z "$scripts"
mkdir "$work/deb"
dpkg-deb -x "$deb" "$work/deb"
binaries_run "$work/deb/usr/bin" deb
check "deb: the examples name /usr/bin" examples_name "$work/deb/usr/share/doc/tcvip/examples" /usr/bin
# lintian's spelling check reads every printable run of bytes in a binary, so machine code now
# and then "spells" a word, and which one comes and goes with the code generated. A spelling hit
# in a binary counts only when the word is in the project's own source: a real typo in a message.
lint_hint() {
    local line=$1 word
    case "$line" in
        *" spelling-error-in-binary "*)
            word=$(sed 's/.* spelling-error-in-binary \([^ ]*\) .*/\1/' <<<"$line")
            grep -rqwF --include='*.rs' -- "$word" "$repo/crates"
            ;;
    esac
}
lint=$(lintian --pedantic -I "$deb" 2>&1 | grep -v 'running with root privileges is not recommended' |
    while IFS= read -r line; do
        if lint_hint "$line"; then printf '%s\n' "$line"; fi
    done)
check "deb: lintian --pedantic -I reports nothing beyond packaging/lintian-overrides${lint:+:
$lint}" test -z "$lint"

# ---------------------------------------------------------------------------------------------
echo "== rpm $(basename "$rpmfile")"
rpm -qp --dump "$rpmfile" >"$work/rpm.dump" 2>/dev/null
rpm -qpl "$rpmfile" >"$work/rpm.list" 2>/dev/null
# rpm_has MODE OWNER PATH : rpm --dump lists PATH with that octal mode and owner:group.
rpm_has() {
    awk -v m="$1" -v o="$2" -v p="$3" '$1 == p && $5 == m && ($6 ":" $7) == o { f = 1 } END { exit !f }' "$work/rpm.dump" ||
        { echo "  not in rpm --dump as $1 $2: $3" >&2; return 1; }
}
configs=$(rpm -qp --configfiles "$rpmfile" 2>/dev/null)
check "rpm: --configfiles lists only /etc/keepalived/tcvip.toml ($configs)" test "$configs" = /etc/keepalived/tcvip.toml
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" 2>/dev/null | awk '$1 == "/etc/keepalived/tcvip.toml" { print $2 }')
check "rpm: tcvip.toml is %config(noreplace) (flags '$flags' hold c and n)" \
    sh -c "case '$flags' in *c*n* | *n*c*) exit 0 ;; *) exit 1 ;; esac"
check "rpm: /etc/keepalived/tcvip.toml root:root 0600" rpm_has 0100600 root:root /etc/keepalived/tcvip.toml
for b in "${binaries[@]}"; do
    check "rpm: /usr/bin/$b root:root 0755" rpm_has 0100755 root:root "/usr/bin/$b"
    check "rpm: man page of $b" rpm_has 0100644 root:root "/usr/share/man/man1/$b.1.gz"
    check "rpm: bash and zsh completions of $b" sh -c "grep -qx /usr/share/bash-completion/completions/$b '$work/rpm.list' && grep -qx /usr/share/zsh/site-functions/_$b '$work/rpm.list'"
done
for f in /usr/share/man/man5/tcvip.toml.5.gz /usr/share/doc/tcvip/README.md \
    /usr/share/doc/tcvip/examples/keepalived-nopreempt.conf /usr/share/doc/tcvip/examples/keepalived-1.3.conf \
    /usr/share/doc/tcvip/examples/tcvip.toml; do
    check "rpm: $f root:root 0644" rpm_has 0100644 root:root "$f"
done
licences=$(rpm -qpL "$rpmfile" 2>/dev/null | tr '\n' ' ')
check "rpm: %license LICENSE-MIT and LICENSE-APACHE ($licences)" \
    bash -c "grep -q LICENSE-MIT <<<'$licences' && grep -q LICENSE-APACHE <<<'$licences'"
requires=$(rpm -qpR "$rpmfile" 2>/dev/null | tr '\n' ' ')
for d in iproute keepalived; do
    check "rpm: Requires $d" grep -qw "$d" <<<"$requires"
done
rpm_scripts=$(rpm -qp --scripts "$rpmfile" 2>/dev/null)
check "rpm: no scriptlets (nothing restarts keepalived)${rpm_scripts:+: $rpm_scripts}" test -z "$rpm_scripts"
mkdir "$work/rpm"
(cd "$work/rpm" && rpm2archive - <"$rpmfile" | tar -xz) || bad "rpm: rpm2archive could not extract it"
binaries_run "$work/rpm/usr/bin" rpm
check "rpm: the examples name /usr/bin" examples_name "$work/rpm/usr/share/doc/tcvip/examples" /usr/bin
lint=$(rpmlint -c "$repo/packaging/rpmlintrc.toml" "$rpmfile" 2>&1)
if grep -q ' 0 errors, 0 warnings, 0 badness' <<<"$lint"; then
    ok "rpm: rpmlint reports nothing beyond packaging/rpmlintrc.toml"
else
    bad "rpm: rpmlint:
$(grep -E ': [EW]: |checked' <<<"$lint")"
fi

# ---------------------------------------------------------------------------------------------
check "SHA256SUMS matches the three artefacts" sh -c "cd '$dist' && sha256sum --quiet -c SHA256SUMS && [ \$(wc -l <SHA256SUMS) -eq 3 ]"

echo "dist: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
