"""GELU task: oracle, inputs and cases."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    cases = [("float32", 1000), ("float16", 4097), ("bfloat16", 333), ("float32", 0),
             ("float32", 1), ("float16", 1 << 14)]
    if not interpreted:
        cases += [("float32", (1 << 20) + 3), ("bfloat16", 1 << 22)]
    return [{"dtype": d, "n": n, "label": "%s n=%d" % (d, n)} for d, n in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "n": 1 << 26, "label": "float16 n=2^26"},
            {"dtype": "float32", "n": 1 << 25, "label": "float32 n=2^25"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: fast, same bits in every process there
    x = (torch.randn(case["n"], generator=g, device=device) * 3.0).to(DT[case["dtype"]])
    return (x.to(device),)


def oracle(x):
    return torch.nn.functional.gelu(x.float()).to(x.dtype)


def bytes_moved(case):
    return 2 * case["n"] * DT[case["dtype"]].itemsize


def flops(case):
    return 8 * case["n"]
