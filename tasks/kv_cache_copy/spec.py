"""Paged KV-cache store task (functional: returns updated copies): oracle, inputs and cases. Exact."""
import torch

DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def correctness_cases(interpreted):
    # (dtype, T, H, D, num_blocks, block_size, share of padding tokens)
    cases = [("float16", 10, 2, 16, 4, 8, 0.2), ("float32", 7, 3, 80, 5, 4, 0.0), ("bfloat16", 33, 1, 7, 3, 16, 0.3),
             ("float32", 0, 2, 16, 4, 8, 0.0), ("float16", 1, 1, 1, 1, 1, 0.0), ("float32", 5, 2, 8, 2, 4, 1.0),
             ("float16", 16, 4, 32, 2, 8, 0.0)]
    if not interpreted:
        cases += [("float16", 4096, 32, 128, 512, 16, 0.05), ("bfloat16", 1000, 8, 80, 300, 32, 0.1),
                  ("float32", 3, 40, 96, 500, 16, 0.0), ("float16", 8192, 8, 64, 512, 16, 0.0)]
    return [{"dtype": d, "t": t, "h": h, "d": dd, "blocks": nb, "bs": bs, "pad": p,
             "label": "%s T%d H%d D%d cache %dx%d pad %g" % (d, t, h, dd, nb, bs, p)}
            for d, t, h, dd, nb, bs, p in cases]


def perf_cases(interpreted):
    return [{"dtype": "float16", "t": 4096, "h": 32, "d": 128, "blocks": 1024, "bs": 16, "pad": 0.0,
             "label": "float16 T4096 H32 D128 cache 1024x16"},
            {"dtype": "bfloat16", "t": 8192, "h": 8, "d": 128, "blocks": 2048, "bs": 32, "pad": 0.1,
             "label": "bfloat16 T8192 H8 D128 cache 2048x32 pad 0.1"}]


def make_inputs(case, seed, device):
    g = torch.Generator(device=device).manual_seed(seed)  # on the target device: same bits in every process there
    dt = DT[case["dtype"]]
    t, h, d, nb, bs = case["t"], case["h"], case["d"], case["blocks"], case["bs"]
    key = torch.randn(t, h, d, generator=g, device=device).to(dt)
    value = torch.randn(t, h, d, generator=g, device=device).to(dt)
    k_cache = torch.randn(nb, bs, h, d, generator=g, device=device).to(dt)
    v_cache = torch.randn(nb, bs, h, d, generator=g, device=device).to(dt)
    assert t <= nb * bs
    slots = torch.randperm(nb * bs, generator=g, device=device)[:t]
    pad = torch.rand(t, generator=g, device=device) < case["pad"]
    slots = torch.where(pad, torch.full_like(slots, -1), slots).to(torch.int64)
    return (key, value, k_cache, v_cache, slots)


def oracle(key, value, k_cache, v_cache, slot_mapping):
    nb, bs, h, d = k_cache.shape
    keep = slot_mapping >= 0
    idx = slot_mapping[keep]
    out = []
    for new, cache in ((key, k_cache), (value, v_cache)):
        c = cache.clone().reshape(nb * bs, h, d)
        c[idx] = new[keep]
        out.append(c.reshape(nb, bs, h, d))
    return tuple(out)


def bytes_moved(case):
    isz = DT[case["dtype"]].itemsize
    row = case["h"] * case["d"] * isz
    return (4 * case["blocks"] * case["bs"] + 4 * case["t"]) * row + 8 * case["t"]


def flops(case):
    return 0
