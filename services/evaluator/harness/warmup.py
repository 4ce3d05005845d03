"""A tiny kernel run in every child before privileges are dropped, so that Triton's lazily
imported modules (and, on a GPU, its compiler and driver stubs) are loaded while the
Python installation is still readable."""
import triton
import triton.language as tl


@triton.jit
def _warmup_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.store(x_ptr + offs, x * 2.0 + 1.0, mask=mask)


def run(device):
    import torch
    for dt in (torch.float32, torch.float16):
        x = torch.zeros(16, dtype=dt, device=device)
        _warmup_kernel[(1,)](x, 16, BLOCK=16)
    for mod in ("triton.experimental", "triton.experimental.gluon", "triton.tools", "triton.testing"):
        try:
            __import__(mod)
        except Exception:
            pass
