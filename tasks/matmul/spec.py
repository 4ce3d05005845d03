"""Matmul task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 64, 48, 32), ("float16", 37, 70, 45), ("float32", 0, 16, 8),
             ("float32", 5, 7, 0), ("float16", 1, 1, 1), ("float32", 100, 33, 65)]
    if not interpreted:
        # (bfloat16 tl.dot is wrong in Triton's CPU interpreter, so bf16 runs on GPUs only)
        cases += [("bfloat16", 16, 16, 16), ("float16", 1000, 1000, 1000), ("float32", 513, 257, 1025), ("bfloat16", 2048, 4096, 512)]
    return [{"dtype": d, "m": m, "n": n, "k": k, "label": "%s %dx%dx%d" % (d, m, n, k)} for d, m, n, k in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 8192, "n": 8192, "k": 8192, "label": "float16 8192^3"},
            {"dtype": "bfloat16", "m": 4096, "n": 4096, "k": 4096, "label": "bfloat16 4096^3"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    dt = DT[case["dtype"]]
    a = torch.randn(case["m"], case["k"], generator=g, device=device).to(dt)
    b = torch.randn(case["k"], case["n"], generator=g, device=device).to(dt)
    return (a.to(device), b.to(device))


def oracle(a, b):
    return (a.float() @ b.float()).to(a.dtype)


def bytes_moved(case):
    return (case["m"] * case["k"] + case["k"] * case["n"] + case["m"] * case["n"]) * DT[case["dtype"]].itemsize


def flops(case):
    return 2 * case["m"] * case["n"] * case["k"]
