import torch
import triton
import triton.language as tl


@triton.jit
def _swizzle_copy_kernel(x_ptr, out_ptr, M, N, GROUP_M, BM: tl.constexpr, BN: tl.constexpr):
    t = tl.program_id(0)
    num_m = tl.cdiv(M, BM)
    num_n = tl.cdiv(N, BN)
    w = GROUP_M * num_n
    first = (t // w) * GROUP_M
    size = tl.minimum(num_m - first, GROUP_M)
    tm = first + (t % w) % size
    tn = (t % w) // size
    rm = tm * BM + tl.arange(0, BM)
    rn = tn * BN + tl.arange(0, BN)
    tile = tl.load(x_ptr + rm[:, None].to(tl.int64) * N + rn[None, :],
                   mask=(rm[:, None] < M) & (rn[None, :] < N), other=0)
    ro = tl.arange(0, BM)[:, None] * BN + tl.arange(0, BN)[None, :]
    tl.store(out_ptr + t.to(tl.int64) * (BM * BN) + ro, tile)


def swizzle_copy(x: torch.Tensor, block_m: int, block_n: int, group_m: int) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    T = triton.cdiv(M, block_m) * triton.cdiv(N, block_n)
    out = torch.empty((T, block_m, block_n), dtype=x.dtype, device=x.device)
    if T == 0:
        return out
    warps = 8 if block_m * block_n >= 16384 else 4
    _swizzle_copy_kernel[(T,)](x, out, M, N, group_m, BM=block_m, BN=block_n, num_warps=warps)
    return out
