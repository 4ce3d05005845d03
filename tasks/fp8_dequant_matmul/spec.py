"""FP8 (e4m3fn) weight-only dequantizing matmul task: oracle, inputs and cases.

Triton's CPU interpreter loads float8_e4m3fn tensors and converts them correctly, but its
bfloat16 tl.dot is wrong: the interpreted cases use float16 activations only; the bf16
ones run on GPUs.
"""
import torch

DT = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float16", 64, 48, 32), ("float16", 37, 70, 45), ("float16", 1, 100, 64), ("float16", 0, 16, 8),
             ("float16", 5, 7, 0), ("float16", 1, 1, 1), ("float16", 16, 33, 129)]
    if not interpreted:
        cases += [("bfloat16", 16, 16, 16), ("bfloat16", 1, 4096, 4096), ("float16", 16, 11008, 4096),
                  ("bfloat16", 1000, 1000, 1000), ("float16", 4096, 513, 1025), ("bfloat16", 33, 8192, 2048)]
    return [{"dtype": d, "m": m, "n": n, "k": k, "label": "%s x fp8e4m3 %dx%dx%d" % (d, m, n, k)}
            for d, m, n, k in cases]


def perf_cases(interpreted):
    return [{"dtype": "bfloat16", "m": 8192, "n": 8192, "k": 8192, "label": "bfloat16 M=N=K=8192"},
            {"dtype": "float16", "m": 16, "n": 28672, "k": 8192, "label": "float16 M=16 (decode) N=28672 K=8192"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    m, n, k = case["m"], case["n"], case["k"]
    a = torch.randn(m, k, generator=g, device=device).to(dt)
    # weight quantized to e4m3 with values spread over its range (clamped to its finite maximum, 448)
    b = (torch.randn(k, n, generator=g, device=device) * 64.0).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    scales = (0.5 + torch.rand(n, generator=g, device=device)) / (64.0 * max(1.0, k ** 0.5))
    return (a, b, scales)


def oracle(a, b, scales):
    w = b.float() * scales[None, :]
    return (a.float() @ w).to(a.dtype)


def bytes_moved(case):
    m, n, k = case["m"], case["n"], case["k"]
    isz = DT[case["dtype"]].itemsize
    return m * k * isz + k * n + 4 * n + m * n * isz


def flops(case):
    return 2 * case["m"] * case["n"] * case["k"]
