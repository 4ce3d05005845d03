"""Row-sum task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 8, 1000), ("float16", 5, 4097), ("bfloat16", 3, 333), ("float32", 0, 64),
             ("float32", 4, 0), ("float32", 1, 1), ("float16", 17, 130)]
    if not interpreted:
        cases += [("float32", 1024, 65537), ("bfloat16", 4096, 4096)]
    return [{"dtype": d, "m": m, "n": n, "label": "%s %dx%d" % (d, m, n)} for d, m, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 16384, "n": 8192, "label": "float16 16384x8192"},
            {"dtype": "float32", "m": 32, "n": 1 << 22, "label": "float32 32x4194304"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    x = torch.randn(case["m"], case["n"], generator=g, device=device).to(DT[case["dtype"]])
    return (x.to(device),)


def oracle(x):
    return x.float().sum(dim=-1).to(x.dtype)


def bytes_moved(case):
    return (case["m"] * case["n"] + case["m"]) * DT[case["dtype"]].itemsize


def flops(case):
    return case["m"] * case["n"]
