import torch
import triton
import triton.language as tl

# programs per SM by row tile (measured on an H100: more programs hide latency, fewer keep registers)
PROGS_PER_SM = {16: 16, 32: 16, 64: 16, 128: 16, 256: 16, 512: 16, 1024: 8, 2048: 4, 4096: 2}  # else 1


@triton.jit
def _rms_bwd_rows(x_ptr, w_ptr, dy_ptr, dx_ptr, part_ptr, M, N, P, eps,
                  BLOCK: tl.constexpr, ONE_TILE: tl.constexpr):
    # program pid handles rows pid, pid + P, ...; its dweight contribution goes to part[pid, :]
    pid = tl.program_id(0)
    prow = part_ptr + pid.to(tl.int64) * N
    if ONE_TILE:
        cols = tl.arange(0, BLOCK)
        cmask = cols < N
        w = tl.load(w_ptr + cols, mask=cmask, other=0.0).to(tl.float32)
        dw = tl.zeros([BLOCK], dtype=tl.float32)
        for k in range(0, tl.cdiv(M - pid, P)):
            off = (pid + k * P).to(tl.int64) * N
            x = tl.load(x_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
            g = tl.load(dy_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
            rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / N + eps)
            xhat = x * rstd
            gw = g * w
            c = tl.sum(gw * xhat, axis=0) / N
            tl.store(dx_ptr + off + cols, (rstd * (gw - xhat * c)).to(dx_ptr.dtype.element_ty), mask=cmask)
            dw += g * xhat
        tl.store(prow + cols, dw, mask=cmask)
    else:
        # long rows: two sweeps per row; the partial row is private to this program (zeroed by the host)
        for k in range(0, tl.cdiv(M - pid, P)):
            off = (pid + k * P).to(tl.int64) * N
            ss = tl.zeros([BLOCK], dtype=tl.float32)
            sg = tl.zeros([BLOCK], dtype=tl.float32)
            for start in range(0, N, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                cmask = cols < N
                x = tl.load(x_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
                g = tl.load(dy_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
                w = tl.load(w_ptr + cols, mask=cmask, other=0.0).to(tl.float32)
                ss += x * x
                sg += g * w * x
            rstd = 1.0 / tl.sqrt(tl.sum(ss, axis=0) / N + eps)
            c = tl.sum(sg, axis=0) * rstd / N
            for start in range(0, N, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                cmask = cols < N
                x = tl.load(x_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
                g = tl.load(dy_ptr + off + cols, mask=cmask, other=0.0).to(tl.float32)
                w = tl.load(w_ptr + cols, mask=cmask, other=0.0).to(tl.float32)
                xhat = x * rstd
                tl.store(dx_ptr + off + cols, (rstd * (g * w - xhat * c)).to(dx_ptr.dtype.element_ty), mask=cmask)
                acc = tl.load(prow + cols, mask=cmask, other=0.0)
                tl.store(prow + cols, acc + g * xhat, mask=cmask)


@triton.jit
def _rms_bwd_dw(part_ptr, dw_ptr, N, P, BP: tl.constexpr, BN: tl.constexpr):
    # dweight[cols] = sum over the P partial rows, in a fixed order
    cols = tl.program_id(0) * BN + tl.arange(0, BN)
    cmask = cols < N
    acc = tl.zeros([BP, BN], dtype=tl.float32)
    for p0 in range(0, P, BP):
        ps = (p0 + tl.arange(0, BP)).to(tl.int64)
        acc += tl.load(part_ptr + ps[:, None] * N + cols[None, :], mask=(ps[:, None] < P) & cmask[None, :],
                       other=0.0)
    tl.store(dw_ptr + cols, tl.sum(acc, axis=0).to(dw_ptr.dtype.element_ty), mask=cmask)


def rms_norm_backward(x: torch.Tensor, weight: torch.Tensor, dy: torch.Tensor, eps: float):
    x = x.contiguous()
    dy = dy.contiguous()
    weight = weight.contiguous()
    M, N = x.shape
    dx = torch.empty_like(x)
    dw = torch.empty((N,), dtype=weight.dtype, device=x.device)
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 4
    BLOCK = min(8192, max(16, triton.next_power_of_2(N)))
    P = min(M, sms * PROGS_PER_SM.get(BLOCK, 1))
    one_tile = N <= BLOCK
    part = (torch.empty if one_tile else torch.zeros)((P, N), dtype=torch.float32, device=x.device)
    if M > 0:
        num_warps = 16 if BLOCK >= 8192 else (8 if BLOCK >= 2048 else 4)
        _rms_bwd_rows[(P,)](x, weight, dy, dx, part, M, N, P, float(eps), BLOCK=BLOCK, ONE_TILE=one_tile,
                            num_warps=num_warps)
    BN = min(256, max(16, triton.next_power_of_2(N)))
    _rms_bwd_dw[(triton.cdiv(N, BN),)](part, dw, N, P, BP=32, BN=BN, num_warps=4)
    return dx, dw
