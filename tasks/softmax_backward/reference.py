import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_bwd_kernel(y_ptr, dy_ptr, dx_ptr, n_cols, stride_row, BLOCK: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    yrow = y_ptr + row * stride_row
    dyrow = dy_ptr + row * stride_row
    dxrow = dx_ptr + row * stride_row
    if ONE_PASS:  # the whole row fits in one block: keep it in registers
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        y = tl.load(yrow + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dyrow + cols, mask=mask, other=0.0).to(tl.float32)
        dot = tl.sum(y * dy, axis=0)
        tl.store(dxrow + cols, (y * (dy - dot)).to(dx_ptr.dtype.element_ty), mask=mask)
    else:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            y = tl.load(yrow + cols, mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dyrow + cols, mask=mask, other=0.0).to(tl.float32)
            acc += y * dy
        dot = tl.sum(acc, axis=0)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            y = tl.load(yrow + cols, mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dyrow + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(dxrow + cols, (y * (dy - dot)).to(dx_ptr.dtype.element_ty), mask=mask)


def softmax_backward(y: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    y, dy = y.contiguous(), dy.contiguous()
    m, n = y.shape
    dx = torch.empty_like(y)
    if m == 0 or n == 0:
        return dx
    BLOCK = min(8192, max(16, triton.next_power_of_2(n)))
    one_pass = n <= BLOCK
    warps = 4 if BLOCK <= 1024 else (8 if BLOCK <= 4096 else 16)
    _softmax_bwd_kernel[(m,)](y, dy, dx, n, y.stride(0), BLOCK=BLOCK, ONE_PASS=one_pass, num_warps=warps)
    return dx
