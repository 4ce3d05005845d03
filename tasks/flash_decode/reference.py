import torch
import triton
import triton.language as tl


@triton.jit
def _decode_split_kernel(q_ptr, k_ptr, v_ptr, len_ptr, mid_o_ptr, mid_ml_ptr, H, S, NUM_SPLITS, SPLIT_LEN,
                         sm_scale, D: tl.constexpr, BLOCK_N: tl.constexpr):
    # one program: one (batch, head) and one chunk of SPLIT_LEN cache positions
    split = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    length = tl.load(len_ptr + b)
    rd = tl.arange(0, D)
    q = tl.load(q_ptr + bh * D + rd).to(tl.float32) * (sm_scale * 1.4426950408889634)  # exp2 domain
    base = bh * S * D
    start = split * SPLIT_LEN
    end = tl.minimum(start + SPLIT_LEN, length)
    m_i = tl.full([], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([], dtype=tl.float32)
    acc = tl.zeros([D], dtype=tl.float32)
    for n0 in range(start, end, BLOCK_N):
        rn = n0 + tl.arange(0, BLOCK_N)
        valid = rn < end
        offs = base + rn[:, None].to(tl.int64) * D + rd[None, :]
        k = tl.load(k_ptr + offs, mask=valid[:, None], other=0.0).to(tl.float32)
        v = tl.load(v_ptr + offs, mask=valid[:, None], other=0.0).to(tl.float32)
        s = tl.sum(k * q[None, :], axis=1)
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=0))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=0)
        acc = acc * alpha + tl.sum(p[:, None] * v, axis=0)
        m_i = m_new
    # an empty chunk leaves m = -inf, l = 0, acc = 0: the combine step gives it weight 0
    row = bh * NUM_SPLITS + split
    tl.store(mid_o_ptr + row * D + rd, acc)
    tl.store(mid_ml_ptr + row * 2, m_i)
    tl.store(mid_ml_ptr + row * 2 + 1, l_i)


@triton.jit
def _decode_combine_kernel(mid_o_ptr, mid_ml_ptr, o_ptr, NUM_SPLITS, D: tl.constexpr, BLOCK_S: tl.constexpr):
    bh = tl.program_id(0).to(tl.int64)
    rs = tl.arange(0, BLOCK_S)
    rd = tl.arange(0, D)
    smask = rs < NUM_SPLITS
    rows = bh * NUM_SPLITS + rs
    m = tl.load(mid_ml_ptr + rows * 2, mask=smask, other=float("-inf"))
    l = tl.load(mid_ml_ptr + rows * 2 + 1, mask=smask, other=0.0)
    acc = tl.load(mid_o_ptr + rows[:, None] * D + rd[None, :], mask=smask[:, None], other=0.0)
    m_max = tl.max(m, axis=0)
    w = tl.where(m == float("-inf"), 0.0, tl.exp2(m - m_max))
    l_tot = tl.sum(w * l, axis=0)
    o = tl.sum(w[:, None] * acc, axis=0)
    o = tl.where(l_tot > 0.0, o / l_tot, 0.0)  # length 0: zeros
    tl.store(o_ptr + bh * D + rd, o.to(o_ptr.dtype.element_ty))


def flash_decode(q, k_cache, v_cache, lengths, sm_scale: float):
    q, k_cache, v_cache, lengths = q.contiguous(), k_cache.contiguous(), v_cache.contiguous(), lengths.contiguous()
    B, H, S, D = k_cache.shape
    out = torch.empty((B, H, D), dtype=q.dtype, device=q.device)
    if B * H == 0:
        return out
    BLOCK_N = 64 if D <= 64 else 32
    # enough programs to fill the GPU (about 4 waves over 132 SMs), chunks of at least 256 positions
    want = max(1, triton.cdiv(528, B * H))
    split_len = max(256, triton.cdiv(max(S, 1), want))
    split_len = triton.cdiv(split_len, BLOCK_N) * BLOCK_N
    num_splits = max(1, triton.cdiv(S, split_len))
    mid_o = torch.empty((B * H, num_splits, D), dtype=torch.float32, device=q.device)
    mid_ml = torch.empty((B * H, num_splits, 2), dtype=torch.float32, device=q.device)
    _decode_split_kernel[(num_splits, B * H)](q, k_cache, v_cache, lengths, mid_o, mid_ml, H, S, num_splits,
                                              split_len, sm_scale, D=D, BLOCK_N=BLOCK_N, num_warps=4)
    _decode_combine_kernel[(B * H,)](mid_o, mid_ml, out, num_splits, D=D,
                                     BLOCK_S=max(2, triton.next_power_of_2(num_splits)), num_warps=4)
    return out
