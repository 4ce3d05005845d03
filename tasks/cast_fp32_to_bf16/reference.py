import torch
import triton
import triton.language as tl

_DT = {"bfloat16": torch.bfloat16, "float16": torch.float16}


@triton.jit
def _cast_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr, TO_BF16: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    if TO_BF16:
        # round to nearest even on the bits: add 0x7FFF plus the lowest kept bit, keep the high half.
        # Overflow carries into the exponent and lands on inf; NaN becomes the quiet NaN 0x7FC0.
        bits = x.to(tl.uint32, bitcast=True)
        lsb = (bits >> 16) & 1
        rounded = (bits + 0x7FFF + lsb) >> 16
        is_nan = (bits & 0x7FFFFFFF) > 0x7F800000
        h = tl.where(is_nan, 0x7FC0, rounded).to(tl.uint16)
        tl.store(out_ptr + offs, h.to(tl.bfloat16, bitcast=True), mask=mask)
    else:
        # float32 -> float16 conversion is round-to-nearest-even (cvt.rn.f16.f32)
        tl.store(out_ptr + offs, x.to(tl.float16), mask=mask)


def cast(x: torch.Tensor, dtype_name: str) -> torch.Tensor:
    assert x.dtype == torch.float32
    x = x.contiguous()
    out = torch.empty(x.shape, dtype=_DT[dtype_name], device=x.device)
    n = x.numel()
    if n == 0:
        return out
    BLOCK = 4096
    _cast_kernel[(triton.cdiv(n, BLOCK),)](x, out, n, BLOCK=BLOCK, TO_BF16=dtype_name == "bfloat16", num_warps=8)
    return out
