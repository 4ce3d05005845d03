#!/usr/bin/env bash
# Build the binaries for a device run and gather what travels with them into .gpucarry/
# (git-ignored): bin/ (geak tools, roles, bubblewrap), lib/ (their shared libraries, except
# glibc's), benchmarks/ (a transport copy of ../shared/benchmarks, which does not travel;
# never committed).  Usage: bash bench/gpucarry.sh   then  device run with carry [".gpucarry"].
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 BUILD=build/gpu LDFLAGS='-Wl,--disable-new-dtags,-rpath,$$ORIGIN/../lib' >/dev/null
rm -rf .gpucarry && mkdir -p .gpucarry/bin .gpucarry/lib
cp build/gpu/bin/* .gpucarry/bin/
cp "$(command -v bwrap)" .gpucarry/bin/
for f in .gpucarry/bin/*; do
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' | while read -r lib; do
    cp -L "$lib" .gpucarry/lib/
done
if [ -d ../shared/benchmarks ]; then
    mkdir -p .gpucarry/benchmarks
    cp -r ../shared/benchmarks/tritonbench-revised ../shared/benchmarks/rocm .gpucarry/benchmarks/
fi
du -sh .gpucarry
