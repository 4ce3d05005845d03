"""Matmul + bias + ReLU (fused epilogue) task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 64, 48, 32), ("float16", 37, 70, 45), ("float32", 0, 16, 8),
             ("float32", 5, 7, 0), ("float16", 1, 1, 1), ("float32", 100, 33, 65), ("float16", 3, 130, 17),
             ("float16", 40, 24, 72, "bt")]
    if not interpreted:
        # (bfloat16 tl.dot is wrong in Triton's CPU interpreter, so bf16 runs on GPUs only)
        cases += [("bfloat16", 16, 16, 16), ("float16", 1000, 1000, 1000), ("float32", 513, 257, 1025),
                  ("bfloat16", 2048, 4096, 512), ("float16", 4096, 1, 4096), ("bfloat16", 300, 500, 700, "bt")]
    # "bt": B is a transposed view (strides (1, K)), not a contiguous tensor
    return [{"dtype": c[0], "m": c[1], "n": c[2], "k": c[3], "bt": len(c) > 4,
             "label": "%s %dx%dx%d%s" % (c[0], c[1], c[2], c[3], " B^T-view" if len(c) > 4 else "")} for c in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 8192, "n": 8192, "k": 8192, "label": "float16 8192^3"},
            {"dtype": "bfloat16", "m": 16384, "n": 4096, "k": 2048, "label": "bfloat16 16384x4096x2048"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    a = torch.randn(case["m"], case["k"], generator=g, device=device).to(dt)
    if case.get("bt"):
        b = torch.randn(case["n"], case["k"], generator=g, device=device).to(dt).t()
    else:
        b = torch.randn(case["k"], case["n"], generator=g, device=device).to(dt)
    # a bias of the size of the products' spread, so that ReLU clips a real share of the outputs
    bias = (torch.randn(case["n"], generator=g, device=device) * max(1.0, case["k"] ** 0.5)).to(dt)
    return (a, b, bias)


def oracle(a, b, bias):
    return torch.relu(a.float() @ b.float() + bias.float()).to(a.dtype)


def bytes_moved(case):
    m, n, k = case["m"], case["n"], case["k"]
    return (m * k + k * n + n + m * n) * DT[case["dtype"]].itemsize


def flops(case):
    return 2 * case["m"] * case["n"] * case["k"] + 2 * case["m"] * case["n"]
