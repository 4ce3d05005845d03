/*  geak_gpu.h - what accelerator this process can use, found at run time.

    One binary serves both vendors: the CUDA driver (libcuda.so.1) and the
    HIP runtime (libamdhip64.so) are opened with dlopen, never linked. The
    order is CUDA, then HIP, then the AMD KFD topology in sysfs alone (a
    ROCm driver without the HIP library), else "cpu": Triton runs under
    TRITON_INTERPRET=1 and no timings are measured.

    Visibility follows the runtimes: libcuda and libamdhip64 apply
    CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES themselves; the sysfs-only
    path applies HIP_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, then
    CUDA_VISIBLE_DEVICES the same way (a comma list of indices, cut at the
    first entry that is not a valid index).

    Why not hipGetDeviceProperties: hipDeviceProp_t changed layout between
    ROCm releases (R0000 -> R0600), and most hipDeviceAttribute_t values are
    implicit enum positions that moved as well, so a dlopen'd caller cannot
    trust either. HIP is asked only for calls with stable signatures (count,
    name, total memory, PCI bus id, version); CUs, clock, L2, wavefront and
    the gfx arch come from the KFD topology node with the same PCI location
    (gfx_target_version 90402 -> "gfx942", 90010 -> "gfx90a").

    Environment (for tests and operators):
      GEAK_GPU=none            never open a GPU library: report cpu
      GEAK_GPU_CUDA_LIB=path   CUDA driver library to open (default libcuda.so.1)
      GEAK_GPU_HIP_LIB=path    HIP library to open (default libamdhip64.so, .so.6, .so.5)
      GEAK_GPU_KFD_ROOT=dir    KFD topology nodes (default /sys/class/kfd/kfd/topology/nodes)
*/
#ifndef GEAK_GPU_H_INCLUDED
#define GEAK_GPU_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_proto.h"

typedef struct {
    char vendor [16];          //  "nvidia", "amd", "cpu"
    char name [256];
    char arch [32];            //  "sm_90", "gfx942", "cpu"
    uint32_t compute_units;    //  SMs / CUs (cpu: online cores)
    uint64_t memory_bytes;
    uint32_t clock_mhz;
    uint64_t l2_bytes;
    uint32_t warp_size;
    bool interpreted;          //  true only for the cpu entry
    uint32_t device_index;     //  index as the runtime numbers it (after *_VISIBLE_DEVICES)
    char runtime [32];         //  "cuda 12.4", "hip 6.2", "kfd", "interpreter"
    char pci_bus_id [32];      //  "0000:c1:00.0" or ""
} geak_gpu_info_t;

typedef struct {
    const char *cuda_lib;      //  NULL: env or default
    const char *hip_lib;       //  NULL: env or default
    const char *kfd_root;      //  NULL: env or default
    bool no_gpu;               //  report cpu without opening anything
} geak_gpu_probe_opts_t;

//  Probe the devices this process may use. On success *list_p is a malloc'd
//  array the caller frees with free (); *count_p is the number of GPUs, and
//  0 means none (then *list_p still holds one "cpu" entry, so callers can
//  always use (*list_p) [0]). Returns GEAK_OK, or GEAK_E_NOMEM. A missing
//  or broken driver is not an error: it is simply "no GPU".
geak_rc_t geak_gpu_probe (geak_gpu_info_t **list_p, int *count_p);
geak_rc_t geak_gpu_probe_opts (const geak_gpu_probe_opts_t *opts,
                               geak_gpu_info_t **list_p, int *count_p);

//  Fill info with the interpreted-cpu facts (host cpu name, cores, memory).
void geak_gpu_cpu_info (geak_gpu_info_t *info);

//  Copy facts into a DeviceFacts message. The strings of facts point into
//  info (borrowed): info must outlive facts' use. facts must be initialised.
void geak_gpu_fill_facts (const geak_gpu_info_t *info, Geak__DeviceFacts *facts);

//  Facts as a JSON object text; caller frees with free (). NULL on NOMEM.
char *geak_gpu_to_json (const geak_gpu_info_t *info);

//  "gfx942" from a KFD gfx_target_version (90402); buf gets "" for 0.
void geak_gpu_gfx_name (unsigned version, char *buf, size_t size);

//  Parse a *_VISIBLE_DEVICES value against n physical devices the way the
//  runtimes do: writes up to n physical indices into map, returns how many.
int geak_gpu_visible_map (const char *list, int n, int *map);

int geak_gpu_test (bool verbose);

#endif
