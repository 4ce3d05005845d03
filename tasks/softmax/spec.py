"""Softmax task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 8, 1000), ("float16", 4, 4097), ("bfloat16", 3, 333), ("float32", 0, 64),
             ("float32", 1, 1), ("float16", 33, 128), ("float32", 2, 5000)]
    if not interpreted:
        cases += [("float32", 1024, 32769), ("bfloat16", 4096, 4096)]
    return [{"dtype": d, "m": m, "n": n, "label": "%s %dx%d" % (d, m, n)} for d, m, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 16384, "n": 4096, "label": "float16 16384x4096"},
            {"dtype": "float32", "m": 4096, "n": 16384, "label": "float32 4096x16384"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    x = (torch.randn(case["m"], case["n"], generator=g, device=device) * 4.0).to(DT[case["dtype"]])
    return (x.to(device),)


def oracle(x):
    return torch.softmax(x.float(), dim=-1).to(x.dtype)


def bytes_moved(case):
    return 2 * case["m"] * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    return 5 * case["m"] * case["n"]
