#!/usr/bin/env bash
# Installs the build tree into a staging directory (cmake --install --prefix), then builds the
# embedding example against the installed copy twice — with find_package(kad) and with
# pkg-config (kad-runtime) — and runs both. Also checks what was installed.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
src="$(cd "$2" && pwd)"
stage="$(mktemp -d /tmp/kad-install-XXXXXX)"
trap 'rm -rf "$stage"' EXIT

cmake --install "$build" --prefix "$stage/usr" >/dev/null
for f in bin/kadnode bin/kadnode-cli include/kad/node.hpp include/kad/runtime.hpp lib/libkad.a \
         lib/libkad_runtime.a lib/cmake/kad/kadConfig.cmake lib/cmake/kad/kadConfigVersion.cmake \
         lib/pkgconfig/kad.pc lib/pkgconfig/kad-runtime.pc share/man/man1/kadnode.1.gz \
         share/man/man1/kadnode-cli.1.gz \
         share/bash-completion/completions/kadnode; do
    [ -e "$stage/usr/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
# Nothing of the build tree leaks into the installed package files.
if grep -rl "$build\|$src" "$stage/usr/lib/cmake" "$stage/usr/lib/pkgconfig"; then
    echo "the installed package files name the build or source tree" >&2
    exit 1
fi
# The staged copy moved elsewhere still works: both kinds of package file are relocatable.
moved="$stage/moved"
mv "$stage/usr" "$moved"

echo "== find_package(kad)"
cmake -S "$src/tests/install" -B "$stage/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$moved" \
      -DEXAMPLE="$src/tools/examples/embed.cpp" >/dev/null
cmake --build "$stage/consumer" >/dev/null
"$stage/consumer/core"
timeout 30 "$stage/consumer/embed"

echo "== pkg-config kad-runtime"
export PKG_CONFIG_PATH="$moved/lib/pkgconfig"
pkg-config --modversion kad-runtime
# shellcheck disable=SC2046  # the flags are words
g++ -o "$stage/embed-pc" "$src/tools/examples/embed.cpp" $(pkg-config --cflags --libs kad-runtime)
timeout 30 "$stage/embed-pc"
echo "installed copy: find_package and pkg-config both build and run the example"
