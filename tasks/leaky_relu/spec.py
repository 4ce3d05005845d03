"""LeakyReLU task: oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, shape, slope):
    return {"dtype": dtype, "shape": list(shape), "slope": slope,
            "label": "%s %s slope=%g" % (dtype, "x".join(map(str, shape)), slope)}


def correctness_cases(interpreted):
    cases = [("float32", (1000,), 0.01), ("float16", (4097,), 0.2), ("bfloat16", (333,), 0.01),
             ("float32", (0,), 0.01), ("float32", (1,), 0.5), ("float16", (5, 17, 3), 0.0),
             ("float32", (129, 31), 1.7), ("bfloat16", (3, 0, 2), 0.1)]
    if not interpreted:
        cases += [("float32", ((1 << 20) + 3,), 0.01), ("bfloat16", (2048, 2049), 0.3), ("float16", (1 << 22,), 0.05)]
    return [_case(d, s, a) for d, s, a in cases]


def perf_cases(interpreted):
    return [_case("float16", (1 << 26,), 0.01), _case("float32", (1 << 25,), 0.2)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    shape = tuple(case["shape"])
    x = torch.randn(shape, generator=g, device=device) * 3.0
    if x.numel() >= 4:
        x.view(-1)[:4] = torch.tensor([0.0, -0.0, -1e-30, 65000.0], device=device)
    return (x.to(DT[case["dtype"]]), float(case["slope"]))


def oracle(x, negative_slope):
    return torch.nn.functional.leaky_relu(x.float(), negative_slope).to(x.dtype)


def bytes_moved(case):
    return 2 * math.prod(case["shape"]) * DT[case["dtype"]].itemsize


def flops(case):
    return math.prod(case["shape"])
