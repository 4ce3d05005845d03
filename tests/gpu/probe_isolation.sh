#!/usr/bin/env bash
# On the GPU host: which sandbox layers the harness gets there, and one real evaluation through
# them (gelu reference and a wrong answer).  Usage: tests/gpu/probe_isolation.sh (after bench/gpucarry.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.gpucarry/bin:$PATH" LD_LIBRARY_PATH="$PWD/.gpucarry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
uname -a; id; python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name(0))"
bwrap --version
echo "--- bwrap smoke"
bwrap --unshare-pid --unshare-net --unshare-ipc --unshare-uts --die-with-parent --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp \
    sh -c 'echo inside: pid $$; ls /proc | head -3' 2>&1
echo "--- harness"
geak sandbox-bpf /tmp/geak.bpf
python3 tests/gpu/isolation_eval.py /tmp/geak.bpf
