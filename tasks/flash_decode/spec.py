"""Flash-decoding task (single-query attention over a KV cache, split over the sequence):
oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    # (dtype, B, H, S, D, lengths): a list of lengths, or an int: lengths drawn uniformly from [that, S]
    cases = [("float32", 2, 2, 64, 32, [64, 17]), ("float16", 3, 1, 100, 16, [0, 1, 99]),
             ("bfloat16", 1, 3, 333, 64, 1), ("float32", 1, 1, 1, 16, [1]), ("float16", 2, 2, 0, 32, [0, 0]),
             ("float32", 0, 4, 16, 16, [])]
    if not interpreted:
        cases += [("float16", 4, 8, 4096, 128, 1), ("bfloat16", 16, 4, 1000, 64, [0] + [1000] * 14 + [513]),
                  ("float32", 2, 16, 2049, 128, 2000), ("float16", 64, 8, 512, 32, 0),
                  ("bfloat16", 1, 2, 65536, 128, [65536])]
    return [{"dtype": d, "b": b, "h": h, "s": s, "d": dd, "lens": lens,
             "label": "%s B%d H%d S%d D%d lens=%s" % (d, b, h, s, dd, ("U[%d,S]" % lens) if isinstance(lens, int)
                                                     else ",".join(map(str, lens[:4])))}
            for d, b, h, s, dd, lens in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "b": 16, "h": 32, "s": 8192, "d": 128, "lens": 4096,
             "label": "float16 B16 H32 S8192 D128 lens~U[4096,8192]"},
            {"dtype": "bfloat16", "b": 64, "h": 8, "s": 4096, "d": 64, "lens": 1,
             "label": "bfloat16 B64 H8 S4096 D64 lens~U[1,4096]"},
            {"dtype": "float16", "b": 2, "h": 8, "s": 131072, "d": 128, "lens": 131072,
             "label": "float16 B2 H8 S131072 D128 (long context, few heads)"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    b, h, s, d = case["b"], case["h"], case["s"], case["d"]
    q = torch.randn(b, h, d, generator=g, device=device).to(dt)
    k = torch.randn(b, h, s, d, generator=g, device=device).to(dt)
    v = torch.randn(b, h, s, d, generator=g, device=device).to(dt)
    lens = case["lens"]
    if isinstance(lens, int):
        lengths = torch.randint(lens, s + 1, (b,), generator=g, device=device, dtype=torch.int32)
    else:
        lengths = torch.tensor(lens, dtype=torch.int32, device=device)
    # stale cache rows past each length: NaN in K, Inf in V
    stale = torch.arange(s, device=device)[None, None, :] >= lengths.long()[:, None, None]
    k.masked_fill_(stale[..., None], float("nan"))
    v.masked_fill_(stale[..., None], float("inf"))
    return (q, k, v, lengths, 1.0 / math.sqrt(d))


def oracle(q, k, v, lengths, sm_scale):
    s = k.shape[2]
    valid = torch.arange(s, device=q.device)[None, None, :] < lengths.long()[:, None, None]  # (B, 1, S)
    kf = torch.where(valid[..., None], k.float(), 0.0)
    vf = torch.where(valid[..., None], v.float(), 0.0)
    scores = torch.einsum("bhd,bhsd->bhs", q.float(), kf) * sm_scale
    scores = scores.masked_fill(~valid, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    p = torch.where(valid, p, 0.0)  # rows of length 0: softmax of all -inf is NaN -> zero output
    return torch.einsum("bhs,bhsd->bhd", p, vf).to(q.dtype)


def _mean_len(case):
    lens = case["lens"]
    if isinstance(lens, int):
        return (lens + case["s"]) / 2.0
    return sum(lens) / max(1, len(lens))


def bytes_moved(case):
    b, h, d = case["b"], case["h"], case["d"]
    isz = DT[case["dtype"]].itemsize
    return (2 * b * h * d + 2 * b * h * _mean_len(case) * d) * isz + 4 * b


def flops(case):
    return 4 * case["b"] * case["h"] * _mean_len(case) * case["d"]
