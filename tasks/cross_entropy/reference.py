import torch
import triton
import triton.language as tl


@triton.jit
def _ce_rows(x_ptr, t_ptr, loss_ptr, V, ignore_index, BLOCK: tl.constexpr):
    # one program per row: streaming logsumexp over V in BLOCK-wide chunks (a scalar running
    # max, rescaled once per chunk: one exp per element), minus the target logit
    row = tl.program_id(0).to(tl.int64)
    xrow = x_ptr + row * V
    t = tl.load(t_ptr + row)
    m = float("-inf")
    s = 0.0
    loss = 0.0
    if t != ignore_index:
        for start in range(0, V, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(xrow + cols, mask=cols < V, other=float("-inf")).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, axis=0))  # finite: every chunk holds a real logit
            s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
            m = m_new
        loss = m + tl.log(s) - tl.load(xrow + t).to(tl.float32)
    tl.store(loss_ptr + row, loss)


@triton.jit
def _ce_mean(loss_ptr, t_ptr, out_ptr, M, ignore_index, BLOCK: tl.constexpr):
    # a single program: sum of the row losses and count of counted rows in a fixed order
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    cnt = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, M, BLOCK):
        rows = start + tl.arange(0, BLOCK)
        mask = rows < M
        acc += tl.load(loss_ptr + rows, mask=mask, other=0.0)
        t = tl.load(t_ptr + rows, mask=mask, other=ignore_index)
        cnt += tl.where(mask & (t != ignore_index), 1.0, 0.0)
    tl.store(out_ptr, tl.sum(acc, axis=0) / tl.sum(cnt, axis=0))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    logits = logits.contiguous()
    targets = targets.contiguous()
    M, V = logits.shape
    out = torch.empty((), dtype=torch.float32, device=logits.device)
    losses = torch.empty((M,), dtype=torch.float32, device=logits.device)
    if M > 0:
        BLOCK = min(4096, max(16, triton.next_power_of_2(V)))
        _ce_rows[(M,)](logits, targets, losses, V, int(ignore_index), BLOCK=BLOCK,
                       num_warps=8 if BLOCK >= 2048 else 4)
    _ce_mean[(1,)](losses, targets, out, M, int(ignore_index), BLOCK=1024, num_warps=4)
    return out
