"""Batched matmul task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    # (dtype, batch, m, n, k[, layout]); layout "bt": B is a transposed view, "at": A is one
    cases = [("float32", 3, 32, 48, 16), ("float16", 2, 37, 20, 45), ("float32", 0, 8, 8, 8),
             ("float32", 2, 5, 7, 0), ("float16", 1, 1, 1, 1), ("float32", 5, 1, 33, 65),
             ("float16", 4, 24, 40, 72, "bt"), ("float32", 2, 17, 9, 30, "at")]
    if not interpreted:
        # (bfloat16 tl.dot is wrong in Triton's CPU interpreter, so bf16 runs on GPUs only)
        cases += [("bfloat16", 2, 16, 16, 16), ("float16", 7, 500, 300, 1000), ("float32", 3, 257, 513, 129),
                  ("bfloat16", 16, 1024, 1024, 256, "bt"), ("float16", 40, 1, 4096, 512),
                  ("bfloat16", 5, 300, 200, 100, "at")]
    return [{"dtype": c[0], "batch": c[1], "m": c[2], "n": c[3], "k": c[4], "layout": c[5] if len(c) > 5 else "",
             "label": "%s %dx(%dx%dx%d)%s" % (c[0], c[1], c[2], c[3], c[4], (" " + c[5]) if len(c) > 5 else "")}
            for c in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "batch": 64, "m": 1024, "n": 1024, "k": 1024, "layout": "",
             "label": "float16 64x(1024^3)"},
            {"dtype": "bfloat16", "batch": 16, "m": 2048, "n": 2048, "k": 256, "layout": "",
             "label": "bfloat16 16x(2048x2048x256)"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    bs, m, n, k = case["batch"], case["m"], case["n"], case["k"]
    if case["layout"] == "at":
        a = torch.randn(bs, k, m, generator=g, device=device).to(dt).transpose(1, 2)
    else:
        a = torch.randn(bs, m, k, generator=g, device=device).to(dt)
    if case["layout"] == "bt":
        b = torch.randn(bs, n, k, generator=g, device=device).to(dt).transpose(1, 2)
    else:
        b = torch.randn(bs, k, n, generator=g, device=device).to(dt)
    return (a, b)


def oracle(a, b):
    return torch.bmm(a.float(), b.float()).to(a.dtype)


def bytes_moved(case):
    bs, m, n, k = case["batch"], case["m"], case["n"], case["k"]
    return bs * (m * k + k * n + m * n) * DT[case["dtype"]].itemsize


def flops(case):
    return 2 * case["batch"] * case["m"] * case["n"] * case["k"]
