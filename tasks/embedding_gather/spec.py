"""Embedding gather task: oracle, inputs and cases."""
import math

import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _case(dtype, ids_shape, v, d):
    return {"dtype": dtype, "ids": list(ids_shape), "v": v, "d": d,
            "label": "%s ids=%s V=%d D=%d" % (dtype, "x".join(map(str, ids_shape)), v, d)}


def correctness_cases(interpreted):
    cases = [("float32", (100,), 50, 64), ("float16", (7, 13), 1000, 100), ("bfloat16", (33,), 10, 257),
             ("float32", (0,), 20, 16), ("float32", (4, 0), 20, 16), ("float32", (1,), 1, 1), ("float16", (50,), 3, 1),
             ("float32", (2, 3, 5), 500, 31)]
    if not interpreted:
        cases += [("bfloat16", (8, 2048), 50257, 1024), ("float32", (100000,), 1000, 3), ("float16", (4097,), 32000, 4096)]
    return [_case(*c) for c in cases]


def perf_cases(interpreted):
    return [_case("bfloat16", (4, 4096), 128256, 4096), _case("float16", (524288,), 50257, 128)]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    v, d = case["v"], case["d"]
    weight = torch.randn(v, d, generator=g, device=device).to(DT[case["dtype"]])
    ids = torch.randint(0, v, tuple(case["ids"]), generator=g, device=device, dtype=torch.int64)
    if ids.numel() >= 2:  # both ends of the table
        ids.view(-1)[0] = v - 1
        ids.view(-1)[1] = 0
    return (ids, weight)


def oracle(ids, weight):
    return weight[ids]


def bytes_moved(case):
    n = math.prod(case["ids"])
    return 2 * n * case["d"] * DT[case["dtype"]].itemsize + 8 * n


def flops(case):
    return 0
