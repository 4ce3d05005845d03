import torch
import triton
import triton.language as tl

TILE = 1024  # elements a program loads per step (short rows: several rows per program)


@triton.jit
def _argmax_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rows = (tl.program_id(0) * BM + tl.arange(0, BM)).to(tl.int64)
    rmask = rows < M
    lane = tl.arange(0, BN)
    # per (row, lane) best value and its column; lanes see their columns in increasing
    # order, so a strict '>' keeps the first maximum and the first NaN of the lane
    best = tl.full([BM, BN], float("-inf"), dtype=tl.float32)
    best_i = tl.zeros([BM, BN], dtype=tl.int32) + lane[None, :]
    for start in range(0, N, BN):
        cols = start + lane
        mask = rmask[:, None] & (cols[None, :] < N)
        x = tl.load(x_ptr + rows[:, None] * N + cols[None, :], mask=mask, other=float("-inf")).to(tl.float32)
        take = (x > best) | ((x != x) & (best == best))
        best = tl.where(take, x, best)
        best_i = tl.where(take, cols[None, :], best_i)
    # across lanes: any NaN -> smallest NaN column; else smallest column holding the maximum.
    # A lane never updated keeps column = lane < N (value -inf), so a row of only -inf gives 0.
    big = N + BN
    nan_i = tl.min(tl.where(best != best, best_i, big), axis=1)
    mx = tl.max(tl.where(best != best, float("-inf"), best), axis=1)
    max_i = tl.min(tl.where(best == mx[:, None], best_i, big), axis=1)
    res = tl.where(nan_i < big, nan_i, max_i)
    tl.store(out_ptr + rows, res.to(tl.int64), mask=rmask)


def argmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    assert N >= 1
    out = torch.empty((M,), dtype=torch.int64, device=x.device)
    if M == 0:
        return out
    BN = min(1024, max(16, triton.next_power_of_2(N)))
    BM = max(1, min(64, TILE // BN))
    _argmax_kernel[(triton.cdiv(M, BM),)](x, out, M, N, BM=BM, BN=BN,
                                          num_warps=4)
    return out
