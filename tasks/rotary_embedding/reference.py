import torch
import triton
import triton.language as tl


@triton.jit
def _rope_kernel(x_ptr, cos_ptr, sin_ptr, out_ptr, S, H, HALF,
                 BH: tl.constexpr, BHALF: tl.constexpr):
    # one program: one token (b, s) and BH of its heads; both halves of each head vector
    tok = tl.program_id(0).to(tl.int64)
    s = tok % S
    heads = tl.program_id(1) * BH + tl.arange(0, BH)
    j = tl.arange(0, BHALF)
    jmask = j < HALF
    c = tl.load(cos_ptr + s * HALF + j, mask=jmask, other=0.0)[None, :]
    sn = tl.load(sin_ptr + s * HALF + j, mask=jmask, other=0.0)[None, :]
    D = 2 * HALF
    off = tok * H * D + heads[:, None] * D + j[None, :]
    mask = (heads[:, None] < H) & jmask[None, :]
    x1 = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(x_ptr + off + HALF, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + off, (x1 * c - x2 * sn).to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(out_ptr + off + HALF, (x2 * c + x1 * sn).to(out_ptr.dtype.element_ty), mask=mask)


def rotary_embedding(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    B, S, H, D = x.shape
    assert D % 2 == 0
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    half = D // 2
    BHALF = max(2, triton.next_power_of_2(half))
    BH = max(1, min(triton.next_power_of_2(H), 2048 // BHALF))
    grid = (B * S, triton.cdiv(H, BH))
    _rope_kernel[grid](x, cos.contiguous().float(), sin.contiguous().float(), out, S, H, half,
                       BH=BH, BHALF=BHALF, num_warps=4)
    return out
