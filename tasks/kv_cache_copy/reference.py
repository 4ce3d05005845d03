import torch
import triton
import triton.language as tl


@triton.jit
def _copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


@triton.jit
def _scatter_kernel(key_ptr, value_ptr, kc_ptr, vc_ptr, slot_ptr, ROW, BLOCK: tl.constexpr):
    tok = tl.program_id(0).to(tl.int64)
    slot = tl.load(slot_ptr + tok)
    if slot >= 0:
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = cols < ROW
        # a slot's (H, D) row is contiguous in the paged cache: block * block_size + position = slot
        tl.store(kc_ptr + slot * ROW + cols, tl.load(key_ptr + tok * ROW + cols, mask=mask), mask=mask)
        tl.store(vc_ptr + slot * ROW + cols, tl.load(value_ptr + tok * ROW + cols, mask=mask), mask=mask)


def kv_cache_copy(key, value, k_cache, v_cache, slot_mapping):
    key, value = key.contiguous(), value.contiguous()
    k_cache, v_cache, slot_mapping = k_cache.contiguous(), v_cache.contiguous(), slot_mapping.contiguous()
    new_k = torch.empty_like(k_cache)
    new_v = torch.empty_like(v_cache)
    n = k_cache.numel()
    if n:
        BLOCK = 8192
        for src, dst in ((k_cache, new_k), (v_cache, new_v)):
            _copy_kernel[(triton.cdiv(n, BLOCK),)](src, dst, n, BLOCK=BLOCK, num_warps=8)
    T = slot_mapping.shape[0]
    row = k_cache.shape[2] * k_cache.shape[3]
    if T and row:
        BLOCK = min(4096, triton.next_power_of_2(row))
        _scatter_kernel[(T, triton.cdiv(row, BLOCK))](key, value, new_k, new_v, slot_mapping, row, BLOCK=BLOCK,
                                                      num_warps=4)
    return new_k, new_v
