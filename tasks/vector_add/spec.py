"""Vector-add task: oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
      "int32": torch.int32, "int64": torch.int64}


def _case(dtype, shape):
    return {"dtype": dtype, "shape": list(shape), "label": "%s %s" % (dtype, "x".join(map(str, shape)) or "scalar")}


def correctness_cases(interpreted):
    cases = [("float32", (1000,)), ("float16", (4097,)), ("bfloat16", (333,)), ("int32", (1025,)),
             ("int64", (77,)), ("float32", (0,)), ("float32", (1,)), ("float16", (3, 5, 7)),
             ("int32", (2, 0, 3)), ("bfloat16", (64, 65))]
    if not interpreted:
        cases += [("float32", ((1 << 20) + 3,)), ("bfloat16", (1024, 4099)), ("int32", (1 << 22,))]
    return [_case(d, s) for d, s in cases]


def perf_cases(interpreted):
    return [_case("float16", (1 << 26,)), _case("int32", (8192, 4096))]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    shape = tuple(case["shape"])
    if dt.is_floating_point:
        x = (torch.randn(shape, generator=g, device=device) * 10.0).to(dt)
        y = (torch.randn(shape, generator=g, device=device) * 10.0).to(dt)
    else:
        lim = 1 << 30 if dt == torch.int32 else 1 << 62
        x = torch.randint(-lim, lim, shape, generator=g, device=device, dtype=dt)
        y = torch.randint(-lim, lim, shape, generator=g, device=device, dtype=dt)
    return (x, y)


def oracle(x, y):
    if x.is_floating_point():
        return (x.float() + y.float()).to(x.dtype)
    return x + y


def bytes_moved(case):
    return 3 * math.prod(case["shape"]) * DT[case["dtype"]].itemsize


def flops(case):
    return math.prod(case["shape"])
