import torch
import triton
import triton.language as tl


@triton.jit
def _dropout_kernel(x_ptr, out_ptr, n, p, scale, seed, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # int32: the offset layout of the contract
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    r = tl.rand(seed, offs)
    y = tl.where(r >= p, x * scale, 0.0)
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    if n == 0:
        return out
    scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    BLOCK = 2048
    _dropout_kernel[(triton.cdiv(n, BLOCK),)](x, out, n, p, scale, seed, BLOCK=BLOCK, num_warps=8)
    return out
