"""LayerNorm forward task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 8, 1000), ("float16", 4, 4097), ("bfloat16", 3, 333), ("float32", 0, 64),
             ("float32", 2, 1), ("float16", 17, 256), ("float32", 2, 5000)]
    if not interpreted:
        cases += [("float32", 4096, 8191), ("bfloat16", 8192, 4096)]
    return [{"dtype": d, "m": m, "n": n, "eps": 1e-5, "label": "%s %dx%d" % (d, m, n)} for d, m, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 16384, "n": 4096, "eps": 1e-5, "label": "float16 16384x4096"},
            {"dtype": "bfloat16", "m": 8192, "n": 8192, "eps": 1e-5, "label": "bfloat16 8192x8192"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    dt = DT[case["dtype"]]
    m, n = case["m"], case["n"]
    x = (torch.randn(m, n, generator=g, device=device) * 2.0 + 0.5).to(dt)
    w = (1.0 + 0.1 * torch.randn(n, generator=g, device=device)).to(dt)
    b = (0.1 * torch.randn(n, generator=g, device=device)).to(dt)
    return (x.to(device), w.to(device), b.to(device), float(case["eps"]))


def oracle(x, w, b, eps):
    y = torch.nn.functional.layer_norm(x.float(), (x.shape[-1],), w.float(), b.float(), eps)
    return y.to(x.dtype)


def bytes_moved(case):
    return (2 * case["m"] * case["n"] + 2 * case["n"]) * DT[case["dtype"]].itemsize


def flops(case):
    return 8 * case["m"] * case["n"]
