"""Flash-attention forward task: oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 1, 2, 64, 32, False), ("float16", 2, 1, 50, 16, True),
             ("float32", 1, 1, 1, 16, True), ("float16", 1, 2, 100, 32, True)]
    if not interpreted:
        # (bfloat16 tl.dot is wrong in Triton's CPU interpreter, so bf16 runs on GPUs only)
        cases += [("bfloat16", 1, 1, 33, 64, False), ("float16", 2, 8, 1000, 64, True), ("bfloat16", 1, 4, 2048, 128, False)]
    return [{"dtype": d, "b": b, "h": h, "s": s, "d": dd, "causal": c,
             "label": "%s B%d H%d S%d D%d%s" % (d, b, h, s, dd, " causal" if c else "")}
            for d, b, h, s, dd, c in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "b": 4, "h": 16, "s": 4096, "d": 128, "causal": True,
             "label": "float16 B4 H16 S4096 D128 causal"},
            {"dtype": "bfloat16", "b": 8, "h": 16, "s": 2048, "d": 64, "causal": False,
             "label": "bfloat16 B8 H16 S2048 D64"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    dt = DT[case["dtype"]]
    shape = (case["b"], case["h"], case["s"], case["d"])
    q, k, v = (torch.randn(shape, generator=g, device=device).to(dt).to(device) for _ in range(3))
    return (q, k, v, 1.0 / math.sqrt(case["d"]), bool(case["causal"]))


def oracle(q, k, v, sm_scale, causal):
    s = (q.float() @ k.float().transpose(-1, -2)) * sm_scale
    if causal:
        n = q.shape[-2]
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~mask, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v.float()).to(q.dtype)


def bytes_moved(case):
    return 4 * case["b"] * case["h"] * case["s"] * case["d"] * DT[case["dtype"]].itemsize


def flops(case):
    f = 4 * case["b"] * case["h"] * case["s"] * case["s"] * case["d"]
    return f // 2 if case["causal"] else f
