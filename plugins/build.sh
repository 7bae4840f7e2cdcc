#!/usr/bin/env bash
# Builds the bundled plugins (and any other workspace plugin crates named as arguments) as
# WebAssembly components for wasm32-wasip2 with the `plugin` profile, reproducibly, and copies
# them to plugins/dist/<name>.wasm — the files the engine embeds (engine/src/plugin/bundled.rs).
#
#   plugins/build.sh                  # secret-guard, budget-guard, notifier, metrics-exporter → plugins/dist/
#   plugins/build.sh --update         # the same, said explicitly
#   plugins/build.sh my-plugin        # those four and my-plugin
#   plugins/build.sh --check          # rebuilds into a temporary directory and compares each
#                                     # component with the committed plugins/dist/<name>.wasm
#
# The bytes depend only on the sources, Cargo.lock and the toolchain: paths of the workspace,
# $CARGO_HOME, the toolchain and the target dir are remapped, RUSTFLAGS from the environment are
# ignored, and the toolchain is pinned (TOOLCHAIN below; rustup installs it when missing, the
# machine's default is used when it is that version). Respects CARGO_TARGET_DIR (default:
# <workspace>/target/plugins) and CARGO (default: cargo).
set -euo pipefail

# The toolchain the committed components are built with. Changing it changes their bytes:
# run `plugins/build.sh --update` with the new one and commit plugins/dist/ with it.
TOOLCHAIN=1.95.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cargo="${CARGO:-cargo}"
target=wasm32-wasip2
profile=plugin

mode=update
plugins=(secret-guard budget-guard notifier metrics-exporter)
for arg in "$@"; do
    case "$arg" in
        --check) mode=check ;;
        --update) mode=update ;;
        -h | --help)
            sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "error: unknown option \`$arg\`: use --check or --update" >&2
            exit 2
            ;;
        *)
            case " ${plugins[*]} " in
                *" $arg "*) ;;
                *) plugins+=("$arg") ;;
            esac
            ;;
    esac
done

# The pinned toolchain: the default one when it is that version, else rustup's `$TOOLCHAIN`
# (installed with the target when missing).
version_of() { "$@" -V 2>/dev/null | awk '{print $2}'; }
if [[ "$(version_of rustc)" != "$TOOLCHAIN" ]]; then
    if ! command -v rustup >/dev/null 2>&1; then
        echo "error: the plugins are built with rustc $TOOLCHAIN, this is rustc $(version_of rustc) and rustup is not there to install $TOOLCHAIN" >&2
        exit 1
    fi
    if ! rustup toolchain list | grep -q "^$TOOLCHAIN-"; then
        echo "installing the pinned toolchain $TOOLCHAIN (rustc $(version_of rustc) is the default)" >&2
        rustup toolchain install "$TOOLCHAIN" --profile minimal --target "$target"
    fi
    export RUSTUP_TOOLCHAIN="$TOOLCHAIN"
fi
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$target"; then
        echo "installing the $target target" >&2
        rustup target add "$target"
    fi
else
    echo "warning: rustup not found; assuming the $target target is installed" >&2
fi

target_dir="${CARGO_TARGET_DIR:-$root/target/plugins}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
sysroot="$(rustc --print sysroot)"

# Every path that could reach the component, remapped to a fixed name. rustc lets the last
# matching prefix win, so the more specific ones (the target dir inside the workspace) come last.
# Separated by 0x1f (CARGO_ENCODED_RUSTFLAGS), so paths with spaces stay whole.
sep=$'\x1f'
flags="--remap-path-prefix=$root=/ralph-loop"
flags+="$sep--remap-path-prefix=$cargo_home=/cargo"
flags+="$sep--remap-path-prefix=$sysroot=/rustc-toolchain"
flags+="$sep--remap-path-prefix=$target_dir=/target"
unset RUSTFLAGS
export CARGO_ENCODED_RUSTFLAGS="$flags"
export CARGO_TARGET_DIR="$target_dir"
# Nothing of the build's time may reach the bytes.
export SOURCE_DATE_EPOCH=0

args=()
for name in "${plugins[@]}"; do
    args+=(-p "$name")
done

cd "$root"
"$cargo" build --locked --quiet --profile "$profile" --target "$target" "${args[@]}"

out="$target_dir/$target/$profile"
dist="$here/dist"
if [[ "$mode" == check ]]; then
    built="$(mktemp -d)"
    trap 'rm -rf "$built"' EXIT
else
    built="$dist"
    mkdir -p "$dist"
fi

status=0
for name in "${plugins[@]}"; do
    wasm="$out/${name//-/_}.wasm"
    if [[ ! -f "$wasm" ]]; then
        echo "error: \`$name\` built no component at \`$wasm\`: is its crate-type cdylib?" >&2
        status=1
        continue
    fi
    cp "$wasm" "$built/$name.wasm"
    size=$(wc -c <"$built/$name.wasm")
    if [[ "$mode" == check ]]; then
        if [[ ! -f "$dist/$name.wasm" ]]; then
            echo "error: \`plugins/dist/$name.wasm\` is not there: run \`plugins/build.sh --update\` and commit plugins/dist/" >&2
            status=1
        elif ! cmp -s "$built/$name.wasm" "$dist/$name.wasm"; then
            echo "error: \`plugins/dist/$name.wasm\` does not match its sources (built $size bytes, committed $(wc -c <"$dist/$name.wasm")): run \`plugins/build.sh --update\` and commit plugins/dist/" >&2
            status=1
        else
            printf '%-20s %8d bytes  plugins/dist/%s.wasm matches its sources\n' "$name" "$size" "$name"
        fi
    else
        printf '%-20s %8d bytes (%d KiB)  plugins/dist/%s.wasm\n' "$name" "$size" $(((size + 1023) / 1024)) "$name"
    fi
done
exit "$status"
