#!/usr/bin/env bash
# gpu_probe.sh - prove the run-time GPU probe on a GPU host (not part of `make test`:
# CI has no GPU). Usage: tests/gpu/gpu_probe.sh [BUILD_DIR]   (default build)
# Checks: `geak gpu --require-gpu` finds a device with a real arch and sizes,
# CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES="" hides them all (cpu entry),
# and the library selftest of geak_gpu passes.
set -euo pipefail
BUILD=${1:-build}
GEAK=$BUILD/bin/geak
fail () { echo "FAIL: $*" >&2; exit 1; }
[ -x "$GEAK" ] || fail "$GEAK not built (make BUILD=$BUILD)"

out=$("$GEAK" gpu --require-gpu) || fail "no GPU found: $out"
echo "$out"
python3 - "$out" <<'PY'
import json, sys
devs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
assert devs, "no device lines"
for d in devs:
    assert d["vendor"] in ("nvidia", "amd"), d
    assert d["arch"].startswith(("sm_", "gfx")) and d["arch"] not in ("sm_00", "gfx"), d
    assert d["compute_units"] > 0 and d["memory_bytes"] > (1 << 30), d
    assert d["warp_size"] in (32, 64) and not d["interpreted"], d
    assert d["runtime"].split()[0] in ("cuda", "hip", "kfd"), d
print("ok: %d device(s), first %s %s" % (len(devs), devs[0]["name"], devs[0]["arch"]))
PY

hidden=$(CUDA_VISIBLE_DEVICES= HIP_VISIBLE_DEVICES= ROCR_VISIBLE_DEVICES= "$GEAK" gpu)
echo "$hidden" | grep -q '"vendor":"cpu"' || fail "hiding every device still reported a GPU: $hidden"
echo "ok: empty *_VISIBLE_DEVICES -> cpu"

first=$(CUDA_VISIBLE_DEVICES=0 HIP_VISIBLE_DEVICES=0 "$GEAK" gpu | wc -l)
[ "$first" -eq 1 ] || fail "*_VISIBLE_DEVICES=0 should leave exactly one device, got $first"
echo "ok: *_VISIBLE_DEVICES=0 -> one device"

if [ -x "$BUILD/tests/selftest" ]; then
    "$BUILD/tests/selftest" -v geak_gpu_test
fi
echo "gpu_probe: all ok"
