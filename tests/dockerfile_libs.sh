#!/usr/bin/env bash
# dockerfile_libs.sh - every shared library the built binary needs (NEEDED
# entries of `readelf -d $CJ_BIN`) must come from a package that the
# Dockerfile's runtime stage installs, or from the C library that
# debian:12-slim already has. Maps each library to its Debian package with
# `dpkg -S`. Prints one PASS/FAIL line per library.
set -euo pipefail

root="${CJ_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="${CJ_BIN:-$root/build/catchup-jobs}"
dockerfile="$root/Dockerfile"
# In every debian:12-slim image (essential packages).
base_pkgs=" libc6 libgcc-s1 zlib1g "
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

[ -x "$bin" ] || { echo "FAIL: no binary at $bin"; exit 1; }
[ -f "$dockerfile" ] || { echo "FAIL: no Dockerfile at $dockerfile"; exit 1; }

# The runtime stage is everything after the last FROM; its apt-get install
# line(s), with continuations joined, list the packages.
runtime_pkgs=" $(awk '/^FROM /{stage = ""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$dockerfile" |
	sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
	grep -E 'apt-get( -[^ ]+)* install' |
	sed -E 's/.*apt-get( -[^ ]+)* install//; s/&&.*//' |
	tr ' ' '\n' | grep -vE '^(-.*)?$' | tr '\n' ' ') "
if [ "$runtime_pkgs" = "  " ]; then
	echo "FAIL: no apt-get install line in the Dockerfile's runtime stage"
	exit 1
fi
echo "runtime stage installs:$runtime_pkgs"

# Library name -> path, as the dynamic linker resolves it here.
resolve() {
	ldd "$bin" | awk -v lib="$1" '
		$1 == lib && $3 ~ /^\// { print $3; exit }
		# the dynamic loader is listed by its path: "/lib64/ld-linux-x86-64.so.2 (0x…)"
		$1 ~ /^\// && (n = split($1, part, "/")) && part[n] == lib { print $1; exit }'
}

# Path -> package; dpkg knows /lib and /usr/lib paths apart (merged /usr).
package_of() {
	local path="$1" alt pkg
	case "$path" in
	/usr/lib/*) alt="${path#/usr}" ;;
	/lib/*) alt="/usr$path" ;;
	*) alt="$path" ;;
	esac
	pkg="$(dpkg -S "$path" 2>/dev/null || dpkg -S "$alt" 2>/dev/null || true)"
	pkg="${pkg%%:*}"
	printf '%s\n' "${pkg%%,*}"
}

needed="$(readelf -d "$bin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p')"
[ -n "$needed" ] || fail "readelf found no NEEDED entries in $bin"
for lib in $needed; do
	case "$lib" in
	libasan.so.* | libubsan.so.* | liblsan.so.* | libtsan.so.*)
		# -Dsanitizers=true builds only; the image is a release build.
		echo "SKIP: $lib (sanitizer runtime, not in release builds)"
		continue
		;;
	esac
	path="$(resolve "$lib")"
	if [ -z "$path" ]; then
		fail "$lib: not resolved by ldd"
		continue
	fi
	pkg="$(package_of "$path")"
	if [ -z "$pkg" ]; then
		fail "$lib ($path): no Debian package owns it"
	elif [[ "$runtime_pkgs" == *" $pkg "* ]]; then
		echo "PASS: $lib from $pkg (installed by the runtime stage)"
	elif [[ "$base_pkgs" == *" $pkg "* ]]; then
		echo "PASS: $lib from $pkg (in debian:12-slim)"
	else
		fail "$lib ($path) comes from $pkg, which the runtime stage does not install"
	fi
done

# The image must carry what the service needs besides libraries.
for pkg in ca-certificates tzdata; do
	if [[ "$runtime_pkgs" == *" $pkg "* ]]; then
		echo "PASS: runtime stage installs $pkg"
	else
		fail "runtime stage does not install $pkg"
	fi
done

if [ "$fails" -gt 0 ]; then
	echo "dockerfile_libs: $fails failure(s)"
	exit 1
fi
echo "dockerfile_libs: all libraries covered"
