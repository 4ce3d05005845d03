"""int8 weight-only dequantizing matmul task: oracle, inputs and cases."""
import torch


def correctness_cases(interpreted):
    cases = [(64, 48, 32), (37, 70, 45), (1, 100, 64), (0, 16, 8), (5, 7, 0), (1, 1, 1), (16, 33, 129)]
    if not interpreted:
        cases += [(1, 4096, 4096), (16, 11008, 4096), (1000, 1000, 1000), (4096, 513, 1025), (33, 8192, 2048)]
    return [{"m": m, "n": n, "k": k, "label": "float16 x int8 %dx%dx%d" % (m, n, k)} for m, n, k in cases]


def perf_cases(interpreted):
    return [{"m": 16, "n": 28672, "k": 8192, "label": "M=16 (decode) N=28672 K=8192"},
            {"m": 8192, "n": 8192, "k": 8192, "label": "M=N=K=8192"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n, k = case["m"], case["n"], case["k"]
    a = torch.randn(m, k, generator=g, device=device).to(torch.float16)
    b = torch.randint(-128, 128, (k, n), generator=g, device=device, dtype=torch.int32).to(torch.int8)
    # symmetric per-column quantization of a weight ~ N(0, 1/sqrt(K)): scale = max|w| / 127
    scales = ((0.5 + torch.rand(n, generator=g, device=device)) * 3.0 / (127.0 * max(1.0, k ** 0.5)))
    return (a, b, scales.to(torch.float16))


def oracle(a, b, scales):
    w = b.float() * scales.float()[None, :]
    return (a.float() @ w).to(torch.float16)


def bytes_moved(case):
    m, n, k = case["m"], case["n"], case["k"]
    return 2 * m * k + k * n + 2 * n + 2 * m * n


def flops(case):
    return 2 * case["m"] * case["n"] * case["k"]
