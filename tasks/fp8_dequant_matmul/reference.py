import torch
import triton
import triton.language as tl


@triton.jit
def _fp8_dequant_matmul_kernel(a_ptr, b_ptr, s_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn,
                                BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BM)
    num_n = tl.cdiv(N, BN)
    width = GROUP_M * num_n
    first_m = (pid // width) * GROUP_M
    gsize = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % width) % gsize
    pid_n = (pid % width) // gsize
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * sam + rk[None, :] * sak
    b_ptrs = b_ptr + rk[:, None] * sbk + rn[None, :] * sbn
    acc = tl.zeros([BM, BN], dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] < K - k0), other=0.0)
        b = tl.load(b_ptrs, mask=(rk[:, None] < K - k0) & (rn[None, :] < N), other=0.0)
        # e4m3 -> float16/bfloat16 is exact; the column scale is applied once, after the reduction
        acc += tl.dot(a, b.to(a_ptr.dtype.element_ty))
        a_ptrs += BK * sak
        b_ptrs += BK * sbk
    s = tl.load(s_ptr + rn, mask=rn < N, other=0.0).to(tl.float32)
    acc = acc * s[None, :]
    tl.store(c_ptr + rm[:, None] * scm + rn[None, :] * scn, acc.to(c_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


def fp8_dequant_matmul(a: torch.Tensor, b: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    M, K = a.shape
    K2, N = b.shape
    assert K == K2 and scales.shape == (N,) and b.dtype == torch.float8_e4m3fn
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    if M == 0 or N == 0:
        return c
    if M <= 16:  # decoding: memory bound on the weight, many narrow tiles
        BM, BN, BK, warps, stages = 16, 64, 256, 4, 4
    elif M <= 64:
        BM, BN, BK, warps, stages = 64, 64, 128, 4, 4
    elif M * N >= (1 << 22):
        BM, BN, BK, warps, stages = 128, 256, 64, 8, 3
    else:
        BM, BN, BK, warps, stages = 64, 128, 64, 4, 4
    grid = (triton.cdiv(M, BM) * triton.cdiv(N, BN),)
    _fp8_dequant_matmul_kernel[grid](a, b, scales, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                                      c.stride(0), c.stride(1), BM=BM, BN=BN, BK=BK, GROUP_M=8,
                                      num_warps=warps, num_stages=stages)
    return c
