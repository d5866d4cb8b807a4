#!/usr/bin/env bash
# fetch_debs.sh — on THIS (Debian 12) machine, download the Debian packages
# the workbench's build needs and the GPU machine may lack, and unpack each
# group into its own prefix under scripts/device/debs/ (git-ignored), trimmed
# to what CMake, pkg-config, the compiler and the linker read. The `run` tool
# carries its archive to the GPU machine (carry: ["scripts/device/debs.tar.xz"]),
# where run_gpu_checks.sh uses only the groups the machine does not already
# provide.
#
# Not: an installer (nothing is installed here or there), nor a way to get
# LibTorch or CUDA (the GPU machine has them) or the GUI's Qt modules (only
# Qt Core and Test, for the test suites that need no GUI). libgloo-dev is left out on purpose: Debian's Gloo headers
# belong to its LibTorch 1.13, and core/runtime/distributed.cpp compiles
# without them (no c10d process group; single-process runs are unaffected).
#
#   scripts/device/fetch_debs.sh [OUTDIR]      # default: scripts/device/debs
#
# Groups (one prefix each, OUTDIR/<group>/usr/...):
#   nlohmann_json  nlohmann-json3-dev                  header-only, CMake config
#   cli11          libcli11-dev                        header-only, CMake config
#   sentencepiece  libsentencepiece-dev libsentencepiece0
#   pcre2          libpcre2-dev libpcre2-8-0           (only the 8-bit library kept)
#   icu            libicu-dev libicu72                 (icu-uc, plus libicui18n that Qt Core links)
#   zlib           zlib1g-dev zlib1g
#   zstd           libzstd-dev libzstd1
#   pkgconf        pkgconf-bin libpkgconf3             used only if the GPU machine has no pkg-config
#   qt             qt6-base-dev qt6-base-dev-tools qmake6 libqt6core6 libqt6test6 and Qt Core's
#                  libdouble-conversion3 libb2-1 libpcre2-16-0 libglib2.0-0
#                  (only QtCore and QtTest headers, libraries and CMake packages, moc and
#                  the other tools Qt6CoreTools names, which CMake checks exist, qmake's
#                  wrapper among them): the Qt Test suites without the GUI
#
# Size (Debian 12 bookworm, measured 2026-12-02): 68 MiB unpacked and trimmed
# (libicudata.so.72 alone is 30 MiB, Qt 20 MiB), over the 64 MiB the `run`
# tool carries: the folder's contents also go into OUTDIR.tar.xz (15 MB),
# the file to carry (carry: ["scripts/device/debs.tar.xz"]). The libraries need glibc >= 2.34 and
# libstdc++ with GLIBCXX_3.4.30 (GCC 12): Debian 12, Ubuntu 22.04 or newer.
# OUTDIR/MANIFEST.txt lists the exact package versions and the size.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/debs}
arch=x86_64-linux-gnu

declare -A groups=(
  [nlohmann_json]="nlohmann-json3-dev"
  [cli11]="libcli11-dev"
  [sentencepiece]="libsentencepiece-dev libsentencepiece0"
  [pcre2]="libpcre2-dev libpcre2-8-0"
  [icu]="libicu-dev libicu72"
  [zlib]="zlib1g-dev zlib1g"
  [zstd]="libzstd-dev libzstd1"
  [pkgconf]="pkgconf-bin libpkgconf3"
  [qt]="qt6-base-dev qt6-base-dev-tools qmake6 libqt6core6 libqt6test6 libdouble-conversion3 libb2-1 libpcre2-16-0 libglib2.0-0"
)

command -v apt-get >/dev/null || { echo "fetch_debs.sh: needs apt-get (a Debian machine)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "fetch_debs.sh: needs dpkg-deb" >&2; exit 1; }

# Downloaded into a scratch folder (apt's sandbox user may not write there:
# the warning about running unsandboxed is harmless), unpacked into a fresh
# OUTDIR.tmp and moved into place last, so an interrupted run never leaves a
# folder that looks complete.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$out.tmp" "$(dirname "$out")/$(basename "$out").tar.xz.tmp"' EXIT
rm -rf "$out.tmp"
mkdir -p "$out.tmp"

order=(nlohmann_json cli11 sentencepiece pcre2 icu zlib zstd pkgconf qt)
for group in "${order[@]}"; do
  for pkg in ${groups[$group]}; do
    (cd "$scratch" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
      { echo "fetch_debs.sh: apt-get download $pkg failed (run apt-get update?)" >&2; exit 1; }
    deb=$(find "$scratch" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
    mkdir -p "$out.tmp/$group"
    dpkg-deb -x "$deb" "$out.tmp/$group"
    printf '%-14s %-24s %s\n' "$group" "$pkg" "$(dpkg-deb -f "$deb" Version)" >>"$out.tmp/MANIFEST.txt"
  done
done

# Trim: documentation, manuals, static libraries, and the libraries the
# build does not link (ICU beyond icu-uc, PCRE2 beyond the 8-bit library).
for group in "${!groups[@]}"; do
  root=$out.tmp/$group
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian" "$root/usr/share/info"
  find "$root" -name '*.a' -delete
done
icu=$out.tmp/icu/usr
rm -rf "${icu:?}/bin" "$icu/sbin" "$icu/share/icu" "$icu/lib/$arch/icu"
for lib in icuio icutest icutu; do rm -f "$icu/lib/$arch/lib$lib".so*; done
rm -f "$icu/lib/$arch/pkgconfig/icu-io.pc"
pcre=$out.tmp/pcre2/usr
rm -rf "${pcre:?}/bin"
for lib in pcre2-16 pcre2-32 pcre2-posix; do rm -f "$pcre/lib/$arch/lib$lib".so*; done
rm -f "$pcre/lib/$arch/pkgconfig/libpcre2-16.pc" "$pcre/lib/$arch/pkgconfig/libpcre2-32.pc" \
      "$pcre/lib/$arch/pkgconfig/libpcre2-posix.pc" "$pcre/include/pcre2posix.h"

# Qt: only what Qt Core and Qt Test need to configure, compile (moc), link
# and run; every other module's headers, libraries and CMake packages go.
qt=$out.tmp/qt/usr
for dir in "$qt/include/$arch/qt6"/*/; do
  case $(basename "$dir") in QtCore | QtTest) ;; *) rm -rf "$dir" ;; esac
done
for dir in "$qt/lib/$arch/cmake"/*/; do
  case $(basename "$dir") in Qt6 | Qt6Core | Qt6CoreTools | Qt6Test | Qt6HostInfo | Qt6BuildInternals) ;; *) rm -rf "$dir" ;; esac
done
find "$qt/lib/$arch" -maxdepth 1 -name 'lib*.so*' \
  ! -name 'libQt6Core.so*' ! -name 'libQt6Test.so*' ! -name 'libdouble-conversion.so*' ! -name 'libb2.so*' \
  ! -name 'libpcre2-16.so*' ! -name 'libglib-2.0.so*' -delete
rm -rf "${qt:?}/lib/$arch/qt6/plugins" "$qt/lib/$arch/pkgconfig" "$qt/lib/$arch/gio" "$qt/lib/$arch/glib-2.0" \
       "$qt/share/glib-2.0" "$qt/share/qt6/doc"
# qmake6's links to the qmake binary (qmake6-bin, not carried): CMake checks only
# that its x86_64-linux-gnu-qmake6 wrapper exists, never runs it.
find "$qt" -xtype l -delete

# zlib1g puts the runtime library in /lib and zlib1g-dev links to it by an
# absolute path: move it beside the link and make the link relative.
z=$out.tmp/zlib
if [ -d "$z/lib/$arch" ]; then
  mv "$z/lib/$arch"/libz.so* "$z/usr/lib/$arch/"
  rm -rf "${z:?}/lib"
fi
target=$(readlink "$z/usr/lib/$arch/libz.so")
ln -sfn "$(basename "$target")" "$z/usr/lib/$arch/libz.so"

# Debian's libzstd.pc says libdir=${exec_prefix}/lib although the library is
# in lib/<arch> (harmless under /usr, wrong anywhere else): point such .pc
# files at the folder that holds the libraries.
find "$out.tmp" -name '*.pc' -print0 | while IFS= read -r -d '' pcfile; do
  groupdir=${pcfile%%/usr/*}
  if grep -qE '^libdir=\$\{exec_prefix\}/lib$' "$pcfile" && [ -d "$groupdir/usr/lib/$arch" ]; then
    sed -i -E "s#^libdir=\\\$\{exec_prefix\}/lib\$#libdir=\\\${exec_prefix}/lib/$arch#" "$pcfile"
  fi
done

# Every remaining symbolic link must resolve inside its prefix.
broken=$(find "$out.tmp" -xtype l)
if [ -n "$broken" ]; then
  echo "fetch_debs.sh: broken links after trimming:" >&2
  echo "$broken" >&2
  exit 1
fi

# The .pc files still say prefix=/usr: run_gpu_checks.sh rewrites them on the
# GPU machine, where the folder's absolute path is known.
{
  echo
  echo "Unpacked from Debian $(cat /etc/debian_version 2>/dev/null || echo '?') by scripts/device/fetch_debs.sh on $(date -u +%F)."
  echo "Size per group:"
  (cd "$out.tmp" && du -sh -- */)
  echo "Total: $(du -sh "$out.tmp" | cut -f1)"
} >>"$out.tmp/MANIFEST.txt"
touch "$out.tmp/.complete"

rm -rf "$out"
mv "$out.tmp" "$out"
# What the run tool carries (at most 64 MiB, and the folder is more): the
# folder's contents as one xz archive beside it, which run_gpu_checks.sh
# unpacks on the GPU machine.
archive=$(dirname "$out")/$(basename "$out").tar.xz
tar -C "$out" -cf - . | xz -T0 -6 >"$archive.tmp"
mv "$archive.tmp" "$archive"
echo "Archive: $archive ($(du -h "$archive" | cut -f1))" >>"$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"
