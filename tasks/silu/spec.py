"""SiLU task: oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, shape):
    return {"dtype": dtype, "shape": list(shape), "label": "%s %s" % (dtype, "x".join(map(str, shape)))}


def correctness_cases(interpreted):
    cases = [("float32", (1000,)), ("float16", (4097,)), ("bfloat16", (333,)), ("float32", (0,)),
             ("float32", (1,)), ("float16", (7, 3, 129)), ("bfloat16", (2, 0)), ("float32", (33, 65))]
    if not interpreted:
        cases += [("float32", ((1 << 20) + 3,)), ("bfloat16", (4096, 1025)), ("float16", (1 << 22,))]
    return [_case(d, s) for d, s in cases]


def perf_cases(interpreted):
    return [_case("float16", (1 << 26,)), _case("float32", (1 << 25,))]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    shape = tuple(case["shape"])
    x = torch.randn(shape, generator=g, device=device) * 4.0
    n = x.numel()
    if n >= 8:  # saturating inputs: exp(-x) overflows for x << 0
        x.view(-1)[:8] = torch.tensor([-200.0, -90.0, -30.0, -0.0, 0.0, 30.0, 90.0, 1e4], device=device)
    return (x.to(DT[case["dtype"]]),)


def oracle(x):
    return torch.nn.functional.silu(x.float()).to(x.dtype)


def bytes_moved(case):
    return 2 * math.prod(case["shape"]) * DT[case["dtype"]].itemsize


def flops(case):
    return 5 * math.prod(case["shape"])
