#!/usr/bin/env bash
# Builds the bundled plugins (and any other workspace plugin crates named as arguments) as
# WebAssembly components for wasm32-wasip2 with the `plugin` profile, and copies them to
# plugins/dist/<name>.wasm.
#
#   plugins/build.sh                  # secret-guard, budget-guard, notifier, metrics-exporter
#   plugins/build.sh my-plugin        # those four and my-plugin
#
# Respects CARGO_TARGET_DIR (default: <workspace>/target) and CARGO (default: cargo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cargo="${CARGO:-cargo}"
target=wasm32-wasip2
profile=plugin

plugins=(secret-guard budget-guard notifier metrics-exporter)
for extra in "$@"; do
    case " ${plugins[*]} " in
        *" $extra "*) ;;
        *) plugins+=("$extra") ;;
    esac
done

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$target"; then
        echo "installing the $target target" >&2
        rustup target add "$target"
    fi
else
    echo "warning: rustup not found; assuming the $target target is installed" >&2
fi

args=()
for name in "${plugins[@]}"; do
    args+=(-p "$name")
done

cd "$root"
"$cargo" build --profile "$profile" --target "$target" "${args[@]}"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
out="$target_dir/$target/$profile"
dist="$here/dist"
mkdir -p "$dist"

status=0
for name in "${plugins[@]}"; do
    wasm="$out/${name//-/_}.wasm"
    if [[ ! -f "$wasm" ]]; then
        echo "error: $name built no component at $wasm (is its crate-type cdylib?)" >&2
        status=1
        continue
    fi
    cp "$wasm" "$dist/$name.wasm"
    size=$(wc -c <"$dist/$name.wasm")
    printf '%-20s %8d bytes (%d KiB)  plugins/dist/%s.wasm\n' "$name" "$size" $(((size + 1023) / 1024)) "$name"
done
exit "$status"
