"""Softmax backward task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 8, 1000), ("float16", 4, 4097), ("bfloat16", 3, 333), ("float32", 0, 64),
             ("float32", 5, 0), ("float32", 1, 1), ("float16", 33, 128), ("float32", 2, 5000)]
    if not interpreted:
        cases += [("float32", 1024, 32769), ("bfloat16", 4096, 4096), ("float16", 100000, 10)]
    return [{"dtype": d, "m": m, "n": n, "label": "%s %dx%d" % (d, m, n)} for d, m, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 16384, "n": 4096, "label": "float16 16384x4096"},
            {"dtype": "float32", "m": 4096, "n": 16384, "label": "float32 4096x16384"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    m, n = case["m"], case["n"]
    logits = torch.randn(m, n, generator=g, device=device) * 4.0
    y = torch.softmax(logits, dim=-1).to(dt)  # a real (peaked) softmax output
    dy = torch.randn(m, n, generator=g, device=device).to(dt)
    return (y, dy)


def oracle(y, dy):
    yf, dyf = y.float(), dy.float()
    return (yf * (dyf - (dyf * yf).sum(dim=-1, keepdim=True))).to(y.dtype)


def bytes_moved(case):
    return 3 * case["m"] * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    return 4 * case["m"] * case["n"]
