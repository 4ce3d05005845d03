"""Grouped ("swizzled") tile packing task: oracle, inputs and cases (exact: a pure data movement)."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": torch.int8}


def correctness_cases(interpreted):
    # (dtype, M, N, block_m, block_n, group_m)
    cases = [("float32", 64, 64, 16, 16, 2), ("float16", 100, 70, 32, 16, 3), ("bfloat16", 33, 129, 16, 32, 8),
             ("int8", 50, 60, 16, 32, 1), ("float32", 0, 40, 16, 16, 4), ("float32", 7, 0, 4, 4, 2),
             ("float16", 1, 1, 1, 1, 1), ("float32", 5, 40, 1, 16, 2), ("float16", 17, 5, 8, 1, 3),
             ("float32", 20, 30, 64, 64, 8)]
    if not interpreted:
        cases += [("float16", 4096, 4096, 128, 128, 8), ("bfloat16", 3000, 5001, 64, 256, 4),
                  ("int8", 8191, 1025, 256, 32, 16), ("float32", 1, 1 << 20, 1, 256, 2),
                  ("float16", 1 << 16, 3, 128, 4, 7)]
    return [{"dtype": d, "m": m, "n": n, "bm": bm, "bn": bn, "gm": gm,
             "label": "%s %dx%d tiles %dx%d group %d" % (d, m, n, bm, bn, gm)} for d, m, n, bm, bn, gm in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "m": 8192, "n": 12288, "bm": 128, "bn": 128, "gm": 8,
             "label": "float16 8192x12288 tiles 128x128 group 8"},
            {"dtype": "bfloat16", "m": 6000, "n": 10000, "bm": 64, "bn": 256, "gm": 4,
             "label": "bfloat16 6000x10000 tiles 64x256 group 4"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    m, n = case["m"], case["n"]
    if case["dtype"] == "int8":
        x = torch.randint(-128, 128, (m, n), generator=g, device=device, dtype=torch.int32).to(torch.int8)
    else:
        x = torch.randn(m, n, generator=g, device=device).to(DT[case["dtype"]])
    return (x, int(case["bm"]), int(case["bn"]), int(case["gm"]))


def _num_tiles(case):
    return -(-case["m"] // case["bm"]) * -(-case["n"] // case["bn"])


def oracle(x, block_m, block_n, group_m):
    m, n = x.shape
    num_m, num_n = -(-m // block_m), -(-n // block_n)
    padded = torch.zeros(num_m * block_m, num_n * block_n, dtype=x.dtype, device=x.device)
    padded[:m, :n] = x
    tiles = padded.reshape(num_m, block_m, num_n, block_n).permute(0, 2, 1, 3)  # [tm, tn] -> tile
    t = torch.arange(num_m * num_n, device=x.device)
    w = group_m * num_n
    first = (t // w) * group_m
    size = torch.clamp(num_m - first, max=group_m)
    tm = first + (t % w) % size
    tn = (t % w) // size
    return tiles[tm, tn].contiguous()


def bytes_moved(case):
    isz = DT[case["dtype"]].itemsize
    return (case["m"] * case["n"] + _num_tiles(case) * case["bm"] * case["bn"]) * isz


def flops(case):
    return 0
