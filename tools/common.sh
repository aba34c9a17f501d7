# Shared by tools/run and tools/test: install what is missing, then configure and build.
# Sourced, not run. Works as root (CI, a fresh machine) or as a user with sudo.

KAD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages the build and the tests need.
KAD_PACKAGES=(
    g++ cmake ninja-build pkg-config
    libboost-dev libboost-program-options-dev libssl-dev libreadline-dev
    catch2 nlohmann-json3-dev libbenchmark-dev python3-opendht
    clang libclang-rt-14-dev clang-format clang-tidy
    python3 tmux iproute2 procps faketime curl
    python3-libtorrent python3-cryptography tshark
    dpkg-dev file lintian systemd man-db groff-base strace
)

# kad_log MESSAGE: a step's heading, with the time since its shell started (where CI spends it;
# in a build tools/test runs in the background, since that build started).
kad_log() { printf '\033[1m==> %s\033[0m  [%d:%02d]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)) >&2; }

kad_missing_packages() {
    local missing=() p
    for p in "${KAD_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    echo "${missing[@]:-}"
}

kad_install_deps() {
    local missing
    missing="$(kad_missing_packages)"
    [ -z "$missing" ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            echo "tools: missing packages: $missing" >&2
            echo "tools: run as root, or install them: apt-get install -y $missing" >&2
            exit 1
        fi
    fi
    kad_log "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    # shellcheck disable=SC2086
    "${sudo[@]}" apt-get install -y -q --no-install-recommends $missing
}

# The npm packages the interoperability tests run beside kadnode (tests/interop: bittorrent-dht),
# as pinned by its package-lock.json. Node.js and npm come from Debian only when there is no node
# at all (a machine with its own Node.js keeps it: Debian's npm would conflict with it).
kad_install_npm() {
    if ! command -v npm >/dev/null; then
        if command -v node >/dev/null; then
            echo "tools: node is installed but npm is not; install npm for it" >&2
            exit 1
        fi
        KAD_PACKAGES=(nodejs npm)
        kad_install_deps
    fi
    local dir="$KAD_ROOT/tests/interop"
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        kad_log "npm ci (tests/interop)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# kad_build DIR [cmake options...] [-- TARGET...]: configure once, then build incrementally
# (everything, or only the targets named after --).
kad_build() {
    local dir="$1"
    shift
    local opts=() targets=()
    while [ $# -gt 0 ]; do
        if [ "$1" = "--" ]; then
            shift
            targets=("$@")
            break
        fi
        opts+=("$1")
        shift
    done
    if [ ! -f "$dir/build.ninja" ]; then
        kad_log "configuring $dir"
        cmake -S "$KAD_ROOT" -B "$dir" -G Ninja "${opts[@]}" >/dev/null
    fi
    kad_log "building $dir"
    if [ "${#targets[@]}" -gt 0 ]; then
        cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
    else
        cmake --build "$dir" -j "$(nproc)"
    fi
}
