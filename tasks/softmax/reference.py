import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, n_cols, stride_row, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    xrow = x_ptr + row * stride_row
    orow = out_ptr + row * stride_row
    # pass 1: running maximum and rescaled running sum (online softmax)
    m = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
    s = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(xrow + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, x)
        alpha = tl.where(m_new == float("-inf"), 0.0, tl.exp(m - m_new))
        s = s * alpha + tl.where(x == float("-inf"), 0.0, tl.exp(x - m_new))
        m = m_new
    row_max = tl.max(m, axis=0)
    scale = tl.where(m == float("-inf"), 0.0, tl.exp(m - row_max))
    total = tl.sum(s * scale, axis=0)
    # pass 2: normalise
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(xrow + cols, mask=mask, other=float("-inf")).to(tl.float32)
        y = tl.exp(x - row_max) / total
        tl.store(orow + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    m, n = x.shape
    out = torch.empty_like(x)
    if m == 0 or n == 0:
        return out
    BLOCK = min(4096, max(16, triton.next_power_of_2(n)))
    _softmax_kernel[(m,)](x, out, n, x.stride(0), BLOCK=BLOCK)
    return out
