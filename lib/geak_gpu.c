/*  geak_gpu.c - run-time GPU probe through dlopen (see geak_gpu.h). */
#include "geak_gpu.h"
#include "geak_log.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#define KFD_NODES_DEFAULT "/sys/class/kfd/kfd/topology/nodes"
#define GPU_MAX 64

static void
s_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

// ------------------------------------------------------------------ cpu

void
geak_gpu_cpu_info (geak_gpu_info_t *info)
{
    memset (info, 0, sizeof *info);
    s_copy (info->vendor, sizeof info->vendor, "cpu");
    s_copy (info->arch, sizeof info->arch, "cpu");
    s_copy (info->runtime, sizeof info->runtime, "interpreter");
    s_copy (info->name, sizeof info->name, "cpu");
    info->interpreted = true;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    info->compute_units = cores > 0 ? (uint32_t) cores : 1;
    long pages = sysconf (_SC_PHYS_PAGES);
    long page = sysconf (_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        info->memory_bytes = (uint64_t) pages * (uint64_t) page;
    info->warp_size = 1;
    FILE *f = fopen ("/proc/cpuinfo", "r");
    if (f) {
        char line [512];
        while (fgets (line, sizeof line, f)) {
            if (strncmp (line, "model name", 10) == 0) {
                char *colon = strchr (line, ':');
                if (colon) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t')
                        colon++;
                    colon [strcspn (colon, "\n")] = 0;
                    s_copy (info->name, sizeof info->name, colon);
                }
                break;
            }
        }
        fclose (f);
    }
}

// ------------------------------------------------------------------ visibility

int
geak_gpu_visible_map (const char *list, int n, int *map)
{
    if (!list)
        goto all;
    int count = 0;
    const char *p = list;
    while (*p && count < n) {
        while (*p == ' ')
            p++;
        char *end = NULL;
        errno = 0;
        long v = strtol (p, &end, 10);
        if (end == p || errno || v < 0 || v >= n)
            break;              //  the runtimes stop at the first bad entry
        bool dup = false;
        for (int i = 0; i < count; i++)
            if (map [i] == (int) v)
                dup = true;
        if (dup)
            break;
        map [count++] = (int) v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else
            break;
    }
    return count;
all:
    for (int i = 0; i < n; i++)
        map [i] = i;
    return n;
}

// ------------------------------------------------------------------ CUDA

typedef int (*cu_init_fn) (unsigned);
typedef int (*cu_int_fn) (int *);
typedef int (*cu_get_fn) (int *, int);
typedef int (*cu_name_fn) (char *, int, int);
typedef int (*cu_mem_fn) (size_t *, int);
typedef int (*cu_attr_fn) (int *, int, int);

//  CUdevice_attribute values (stable since CUDA 2.x / 4.0)
enum {
    CU_ATTR_WARP_SIZE = 10,
    CU_ATTR_CLOCK_RATE = 13,
    CU_ATTR_MULTIPROCESSOR_COUNT = 16,
    CU_ATTR_L2_CACHE_SIZE = 38,
    CU_ATTR_CC_MAJOR = 75,
    CU_ATTR_CC_MINOR = 76
};

static int
s_probe_cuda (const char *libname, geak_gpu_info_t *list, int max)
{
    void *lib = dlopen (libname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        geak_debug ("gpu_cuda_absent", "lib=%s", libname);
        return 0;
    }
    cu_init_fn cu_init = (cu_init_fn) dlsym (lib, "cuInit");
    cu_int_fn get_count = (cu_int_fn) dlsym (lib, "cuDeviceGetCount");
    cu_int_fn drv_version = (cu_int_fn) dlsym (lib, "cuDriverGetVersion");
    cu_get_fn get = (cu_get_fn) dlsym (lib, "cuDeviceGet");
    cu_name_fn get_name = (cu_name_fn) dlsym (lib, "cuDeviceGetName");
    cu_name_fn get_bus = (cu_name_fn) dlsym (lib, "cuDeviceGetPCIBusId");
    cu_mem_fn total_mem = (cu_mem_fn) dlsym (lib, "cuDeviceTotalMem_v2");
    if (!total_mem)
        total_mem = (cu_mem_fn) dlsym (lib, "cuDeviceTotalMem");
    cu_attr_fn get_attr = (cu_attr_fn) dlsym (lib, "cuDeviceGetAttribute");
    int count = 0;
    if (!cu_init || !get_count || !get || !get_name || !get_attr) {
        geak_warn ("gpu_cuda_incomplete", "lib=%s", libname);
        goto done;
    }
    int rc = cu_init (0);
    if (rc != 0) {
        //  100 = CUDA_ERROR_NO_DEVICE: a driver without a visible device
        geak_info ("gpu_cuda_init_failed", "lib=%s cu_rc=%d", libname, rc);
        goto done;
    }
    int n = 0;
    if (get_count (&n) != 0 || n <= 0)
        goto done;
    int version = 0;
    if (drv_version)
        drv_version (&version);
    for (int i = 0; i < n && count < max; i++) {
        int dev = 0;
        if (get (&dev, i) != 0)
            continue;
        geak_gpu_info_t *info = &list [count];
        memset (info, 0, sizeof *info);
        s_copy (info->vendor, sizeof info->vendor, "nvidia");
        if (get_name (info->name, (int) sizeof info->name, dev) != 0)
            s_copy (info->name, sizeof info->name, "NVIDIA GPU");
        info->name [sizeof info->name - 1] = 0;
        size_t mem = 0;
        if (total_mem && total_mem (&mem, dev) == 0)
            info->memory_bytes = mem;
        int v = 0;
        if (get_attr (&v, CU_ATTR_MULTIPROCESSOR_COUNT, dev) == 0 && v > 0)
            info->compute_units = (uint32_t) v;
        if (get_attr (&v, CU_ATTR_CLOCK_RATE, dev) == 0 && v > 0)
            info->clock_mhz = (uint32_t) (v / 1000);
        if (get_attr (&v, CU_ATTR_L2_CACHE_SIZE, dev) == 0 && v > 0)
            info->l2_bytes = (uint64_t) v;
        if (get_attr (&v, CU_ATTR_WARP_SIZE, dev) == 0 && v > 0)
            info->warp_size = (uint32_t) v;
        int major = 0, minor = 0;
        get_attr (&major, CU_ATTR_CC_MAJOR, dev);
        get_attr (&minor, CU_ATTR_CC_MINOR, dev);
        snprintf (info->arch, sizeof info->arch, "sm_%d%d", major, minor);
        if (get_bus) {
            if (get_bus (info->pci_bus_id, (int) sizeof info->pci_bus_id, dev) != 0)
                info->pci_bus_id [0] = 0;
            info->pci_bus_id [sizeof info->pci_bus_id - 1] = 0;
        }
        snprintf (info->runtime, sizeof info->runtime, "cuda %d.%d",
                  version / 1000, (version % 1000) / 10);
        info->device_index = (uint32_t) i;
        count++;
    }
done:
    //  libcuda is not meant to be unloaded once initialised; keep it
    if (count == 0)
        dlclose (lib);
    return count;
}

// ------------------------------------------------------------------ KFD sysfs

typedef struct {
    int node;
    unsigned gfx_version;
    unsigned simd_count, simd_per_cu, clock_mhz, wave_size;
    unsigned long long location_id, domain;
    uint64_t memory_bytes;
    uint64_t l2_bytes;
} kfd_node_t;

//  Read "key value" lines; returns false when the file cannot be read
static bool
s_kfd_props (const char *path, const char *const *keys, unsigned long long *values, int nkeys)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char line [256];
    while (fgets (line, sizeof line, f)) {
        char key [128];
        unsigned long long value;
        if (sscanf (line, "%127s %llu", key, &value) != 2)
            continue;
        for (int i = 0; i < nkeys; i++)
            if (strcmp (key, keys [i]) == 0)
                values [i] = value;
    }
    fclose (f);
    return true;
}

static int
s_int_cmp (const void *a, const void *b)
{
    return *(const int *) a - *(const int *) b;
}

//  GPU nodes of the KFD topology (CPU nodes have simd_count 0), node order
static int
s_kfd_nodes (const char *root, kfd_node_t *nodes, int max)
{
    DIR *dir = opendir (root);
    if (!dir)
        return 0;
    int ids [256];
    int nids = 0;
    struct dirent *de;
    while ((de = readdir (dir)) && nids < 256) {
        if (!isdigit ((unsigned char) de->d_name [0]))
            continue;
        ids [nids++] = atoi (de->d_name);
    }
    closedir (dir);
    qsort (ids, (size_t) nids, sizeof ids [0], s_int_cmp);
    int count = 0;
    for (int k = 0; k < nids && count < max; k++) {
        char path [512];
        snprintf (path, sizeof path, "%s/%d/properties", root, ids [k]);
        static const char *const keys [] = {
            "simd_count", "simd_per_cu", "gfx_target_version", "max_engine_clk_fcompute",
            "wave_front_size", "location_id", "domain"
        };
        unsigned long long v [7] = { 0 };
        if (!s_kfd_props (path, keys, v, 7) || v [0] == 0)
            continue;
        kfd_node_t *node = &nodes [count];
        memset (node, 0, sizeof *node);
        node->node = ids [k];
        node->simd_count = (unsigned) v [0];
        node->simd_per_cu = (unsigned) v [1];
        node->gfx_version = (unsigned) v [2];
        node->clock_mhz = (unsigned) v [3];
        node->wave_size = (unsigned) v [4];
        node->location_id = v [5];
        node->domain = v [6];
        //  device memory: the largest bank
        for (int b = 0; b < 16; b++) {
            static const char *const mkeys [] = { "size_in_bytes" };
            unsigned long long mv [1] = { 0 };
            snprintf (path, sizeof path, "%s/%d/mem_banks/%d/properties", root, ids [k], b);
            if (!s_kfd_props (path, mkeys, mv, 1))
                break;
            if (mv [0] > node->memory_bytes)
                node->memory_bytes = mv [0];
        }
        //  L2: the first level-2 cache entry (size in KiB)
        for (int c = 0; c < 4096; c++) {
            static const char *const ckeys [] = { "level", "size" };
            unsigned long long cv [2] = { 0, 0 };
            snprintf (path, sizeof path, "%s/%d/caches/%d/properties", root, ids [k], c);
            if (!s_kfd_props (path, ckeys, cv, 2))
                break;
            if (cv [0] == 2) {
                node->l2_bytes = (uint64_t) cv [1] * 1024u;
                break;
            }
        }
        count++;
    }
    return count;
}

void
geak_gpu_gfx_name (unsigned version, char *buf, size_t size)
{
    if (version == 0) {
        s_copy (buf, size, "");
        return;
    }
    unsigned major = version / 10000;
    unsigned minor = (version / 100) % 100;
    unsigned step = version % 100;
    snprintf (buf, size, "gfx%u%u%x", major, minor, step);
}

static void
s_kfd_apply (const kfd_node_t *node, geak_gpu_info_t *info)
{
    if (node->simd_count && node->simd_per_cu)
        info->compute_units = node->simd_count / node->simd_per_cu;
    if (node->clock_mhz)
        info->clock_mhz = node->clock_mhz;
    if (node->wave_size)
        info->warp_size = node->wave_size;
    if (node->l2_bytes)
        info->l2_bytes = node->l2_bytes;
    if (!info->memory_bytes)
        info->memory_bytes = node->memory_bytes;
    char gfx [32];
    geak_gpu_gfx_name (node->gfx_version, gfx, sizeof gfx);
    if (*gfx)
        s_copy (info->arch, sizeof info->arch, gfx);
}

//  "0000:c1:00.0" -> domain, location_id as KFD encodes it (bus<<8 | dev<<3 | fn)
static bool
s_parse_bus_id (const char *bus_id, unsigned long long *domain, unsigned long long *location)
{
    unsigned d, b, dev, fn;
    if (sscanf (bus_id, "%x:%x:%x.%x", &d, &b, &dev, &fn) != 4)
        return false;
    *domain = d;
    *location = ((unsigned long long) b << 8) | (dev << 3) | fn;
    return true;
}

static int
s_probe_kfd_only (const char *root, geak_gpu_info_t *list, int max)
{
    kfd_node_t nodes [GPU_MAX];
    int n = s_kfd_nodes (root, nodes, GPU_MAX);
    if (n == 0)
        return 0;
    const char *vis = getenv ("HIP_VISIBLE_DEVICES");
    if (!vis)
        vis = getenv ("ROCR_VISIBLE_DEVICES");
    if (!vis)
        vis = getenv ("CUDA_VISIBLE_DEVICES");
    int map [GPU_MAX];
    int visible = geak_gpu_visible_map (vis, n, map);
    int count = 0;
    for (int i = 0; i < visible && count < max; i++) {
        geak_gpu_info_t *info = &list [count];
        memset (info, 0, sizeof *info);
        s_copy (info->vendor, sizeof info->vendor, "amd");
        s_copy (info->runtime, sizeof info->runtime, "kfd");
        s_kfd_apply (&nodes [map [i]], info);
        snprintf (info->name, sizeof info->name, "AMD %s", info->arch);
        info->device_index = (uint32_t) i;
        unsigned long long loc = nodes [map [i]].location_id;
        snprintf (info->pci_bus_id, sizeof info->pci_bus_id, "%04llx:%02llx:%02llx.%llx",
                  nodes [map [i]].domain, loc >> 8, (loc >> 3) & 0x1f, loc & 7);
        count++;
    }
    return count;
}

// ------------------------------------------------------------------ HIP

typedef int (*hip_int_fn) (int *);
typedef int (*hip_name_fn) (char *, int, int);
typedef int (*hip_mem_fn) (size_t *, int);

static int
s_probe_hip (const char *libname, const char *kfd_root, geak_gpu_info_t *list, int max)
{
    void *lib = NULL;
    if (libname)
        lib = dlopen (libname, RTLD_NOW | RTLD_LOCAL);
    else {
        static const char *const names [] = {
            "libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.7", "libamdhip64.so.5",
            "/opt/rocm/lib/libamdhip64.so"
        };
        for (size_t i = 0; !lib && i < sizeof names / sizeof names [0]; i++)
            lib = dlopen (names [i], RTLD_NOW | RTLD_LOCAL);
    }
    if (!lib)
        return s_probe_kfd_only (kfd_root, list, max);
    hip_int_fn get_count = (hip_int_fn) dlsym (lib, "hipGetDeviceCount");
    hip_int_fn rt_version = (hip_int_fn) dlsym (lib, "hipRuntimeGetVersion");
    hip_name_fn get_name = (hip_name_fn) dlsym (lib, "hipDeviceGetName");
    hip_name_fn get_bus = (hip_name_fn) dlsym (lib, "hipDeviceGetPCIBusId");
    hip_mem_fn total_mem = (hip_mem_fn) dlsym (lib, "hipDeviceTotalMem");
    int count = 0;
    int n = 0;
    if (!get_count || get_count (&n) != 0 || n <= 0) {
        dlclose (lib);
        return 0;
    }
    int version = 0;
    if (rt_version)
        rt_version (&version);
    kfd_node_t nodes [GPU_MAX];
    int nnodes = s_kfd_nodes (kfd_root, nodes, GPU_MAX);
    for (int i = 0; i < n && count < max; i++) {
        geak_gpu_info_t *info = &list [count];
        memset (info, 0, sizeof *info);
        s_copy (info->vendor, sizeof info->vendor, "amd");
        if (!get_name || get_name (info->name, (int) sizeof info->name, i) != 0)
            s_copy (info->name, sizeof info->name, "AMD GPU");
        info->name [sizeof info->name - 1] = 0;
        size_t mem = 0;
        if (total_mem && total_mem (&mem, i) == 0)
            info->memory_bytes = mem;
        if (get_bus && get_bus (info->pci_bus_id, (int) sizeof info->pci_bus_id, i) == 0)
            info->pci_bus_id [sizeof info->pci_bus_id - 1] = 0;
        else
            info->pci_bus_id [0] = 0;
        //  HIP version: major * 10000000 + minor * 100000 + patch
        snprintf (info->runtime, sizeof info->runtime, "hip %d.%d",
                  version / 10000000, (version / 100000) % 100);
        s_copy (info->arch, sizeof info->arch, "gfx");
        info->warp_size = 64;
        unsigned long long domain, location;
        const kfd_node_t *match = NULL;
        if (*info->pci_bus_id && s_parse_bus_id (info->pci_bus_id, &domain, &location))
            for (int k = 0; k < nnodes; k++)
                if (nodes [k].location_id == location && nodes [k].domain == domain)
                    match = &nodes [k];
        if (!match && nnodes == n)
            match = &nodes [i];         //  same count: assume the same order
        if (match)
            s_kfd_apply (match, info);
        info->device_index = (uint32_t) i;
        count++;
    }
    //  keep the runtime loaded: unloading an initialised HIP runtime is unsafe
    return count;
}

// ------------------------------------------------------------------ probe

geak_rc_t
geak_gpu_probe_opts (const geak_gpu_probe_opts_t *opts, geak_gpu_info_t **list_p, int *count_p)
{
    if (!opts || !list_p || !count_p)
        return GEAK_E_INVALID;
    *list_p = NULL;
    *count_p = 0;
    geak_gpu_info_t *list = calloc (GPU_MAX, sizeof *list);
    if (!list)
        return GEAK_E_NOMEM;
    int count = 0;
    if (!opts->no_gpu) {
        const char *cuda = opts->cuda_lib ? opts->cuda_lib : getenv ("GEAK_GPU_CUDA_LIB");
        const char *hip = opts->hip_lib ? opts->hip_lib : getenv ("GEAK_GPU_HIP_LIB");
        const char *kfd = opts->kfd_root ? opts->kfd_root : getenv ("GEAK_GPU_KFD_ROOT");
        count = s_probe_cuda (cuda ? cuda : "libcuda.so.1", list, GPU_MAX);
        if (count == 0)
            count = s_probe_hip (hip, kfd ? kfd : KFD_NODES_DEFAULT, list, GPU_MAX);
    }
    if (count == 0)
        geak_gpu_cpu_info (&list [0]);
    geak_gpu_info_t *shrunk = realloc (list, (size_t) (count ? count : 1) * sizeof *list);
    *list_p = shrunk ? shrunk : list;
    *count_p = count;
    geak_debug ("gpu_probe", "count=%d vendor=%s arch=%s", count, (*list_p) [0].vendor,
                (*list_p) [0].arch);
    return GEAK_OK;
}

geak_rc_t
geak_gpu_probe (geak_gpu_info_t **list_p, int *count_p)
{
    geak_gpu_probe_opts_t opts = { 0 };
    const char *mode = getenv ("GEAK_GPU");
    opts.no_gpu = mode && (strcmp (mode, "none") == 0 || strcmp (mode, "cpu") == 0);
    return geak_gpu_probe_opts (&opts, list_p, count_p);
}

void
geak_gpu_fill_facts (const geak_gpu_info_t *info, Geak__DeviceFacts *facts)
{
    assert (info && facts);
    facts->vendor = (char *) info->vendor;
    facts->name = (char *) info->name;
    facts->arch = (char *) info->arch;
    facts->compute_units = info->compute_units;
    facts->memory_bytes = info->memory_bytes;
    facts->clock_mhz = info->clock_mhz;
    facts->l2_bytes = info->l2_bytes;
    facts->warp_size = info->warp_size;
    facts->interpreted = info->interpreted;
    facts->device_index = info->device_index;
    facts->runtime = (char *) info->runtime;
}

char *
geak_gpu_to_json (const geak_gpu_info_t *info)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    cJSON_AddStringToObject (o, "vendor", info->vendor);
    cJSON_AddStringToObject (o, "name", info->name);
    cJSON_AddStringToObject (o, "arch", info->arch);
    cJSON_AddNumberToObject (o, "compute_units", info->compute_units);
    cJSON_AddNumberToObject (o, "memory_bytes", (double) info->memory_bytes);
    cJSON_AddNumberToObject (o, "clock_mhz", info->clock_mhz);
    cJSON_AddNumberToObject (o, "l2_bytes", (double) info->l2_bytes);
    cJSON_AddNumberToObject (o, "warp_size", info->warp_size);
    cJSON_AddBoolToObject (o, "interpreted", info->interpreted);
    cJSON_AddNumberToObject (o, "device_index", info->device_index);
    cJSON_AddStringToObject (o, "runtime", info->runtime);
    cJSON_AddStringToObject (o, "pci_bus_id", info->pci_bus_id);
    char *text = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    return text;
}

// ------------------------------------------------------------------ selftest

static int
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    return fclose (f);
}

int
geak_gpu_test (bool verbose)
{
    //  gfx names
    char buf [32];
    geak_gpu_gfx_name (90402, buf, sizeof buf);
    GEAK_CHECK (strcmp (buf, "gfx942") == 0);
    geak_gpu_gfx_name (90010, buf, sizeof buf);
    GEAK_CHECK (strcmp (buf, "gfx90a") == 0);
    geak_gpu_gfx_name (110000, buf, sizeof buf);
    GEAK_CHECK (strcmp (buf, "gfx1100") == 0);
    geak_gpu_gfx_name (0, buf, sizeof buf);
    GEAK_CHECK (*buf == 0);

    //  visibility lists
    int map [8];
    GEAK_CHECK (geak_gpu_visible_map (NULL, 3, map) == 3 && map [2] == 2);
    GEAK_CHECK (geak_gpu_visible_map ("", 3, map) == 0);
    GEAK_CHECK (geak_gpu_visible_map ("2,0", 3, map) == 2 && map [0] == 2 && map [1] == 0);
    GEAK_CHECK (geak_gpu_visible_map ("1,7,0", 3, map) == 1 && map [0] == 1);
    GEAK_CHECK (geak_gpu_visible_map ("-1", 3, map) == 0);
    GEAK_CHECK (geak_gpu_visible_map ("GPU-abc", 3, map) == 0);
    GEAK_CHECK (geak_gpu_visible_map ("1,1", 3, map) == 1);

    //  the cpu path: no library opened, one cpu entry, no crash
    geak_gpu_probe_opts_t opts = { .no_gpu = true };
    geak_gpu_info_t *list = NULL;
    int count = -1;
    GEAK_CHECK (geak_gpu_probe_opts (&opts, &list, &count) == GEAK_OK);
    GEAK_CHECK (count == 0 && list);
    GEAK_CHECK (strcmp (list [0].vendor, "cpu") == 0 && list [0].interpreted);
    GEAK_CHECK (list [0].compute_units >= 1);
    Geak__DeviceFacts facts = GEAK__DEVICE_FACTS__INIT;
    geak_gpu_fill_facts (&list [0], &facts);
    GEAK_CHECK (strcmp (facts.arch, "cpu") == 0 && facts.interpreted);
    char *json = geak_gpu_to_json (&list [0]);
    GEAK_CHECK (json && strstr (json, "\"vendor\":\"cpu\""));
    if (verbose)
        printf ("  cpu: %s\n", json);
    free (json);
    free (list);

    //  libraries that do not exist, and an empty KFD tree: still cpu
    char root [] = "/tmp/geak-gpu-test-XXXXXX";
    GEAK_CHECK (mkdtemp (root));
    opts = (geak_gpu_probe_opts_t) {
        .cuda_lib = "/nonexistent/libcuda.so.1", .hip_lib = "/nonexistent/libamdhip64.so",
        .kfd_root = root
    };
    GEAK_CHECK (geak_gpu_probe_opts (&opts, &list, &count) == GEAK_OK);
    GEAK_CHECK (count == 0 && strcmp (list [0].vendor, "cpu") == 0);
    free (list);

    //  a fake KFD topology: node 0 a CPU, node 1 an MI300X-like GPU
    char path [512];
    snprintf (path, sizeof path, "%s/0", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/0/properties", root);
    s_write_file (path, "cpu_cores_count 96\nsimd_count 0\n");
    snprintf (path, sizeof path, "%s/1", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/properties", root);
    s_write_file (path, "cpu_cores_count 0\nsimd_count 1216\nsimd_per_cu 4\n"
                        "gfx_target_version 90402\nmax_engine_clk_fcompute 2100\n"
                        "wave_front_size 64\nlocation_id 49408\ndomain 0\n");
    snprintf (path, sizeof path, "%s/1/mem_banks", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/mem_banks/0", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/mem_banks/0/properties", root);
    s_write_file (path, "heap_type 1\nsize_in_bytes 206141652992\n");
    snprintf (path, sizeof path, "%s/1/caches", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/caches/0", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/caches/0/properties", root);
    s_write_file (path, "level 1\nsize 32\n");
    snprintf (path, sizeof path, "%s/1/caches/1", root);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/1/caches/1/properties", root);
    s_write_file (path, "level 2\nsize 4096\n");

    //  the sysfs path reads the visibility variables itself
    char *saved [3];
    static const char *const vars [] = {
        "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"
    };
    for (int i = 0; i < 3; i++) {
        const char *v = getenv (vars [i]);
        saved [i] = v ? geak_strdup (v) : NULL;
        unsetenv (vars [i]);
    }
    GEAK_CHECK (geak_gpu_probe_opts (&opts, &list, &count) == GEAK_OK);
    GEAK_CHECK (count == 1);
    GEAK_CHECK (strcmp (list [0].vendor, "amd") == 0);
    GEAK_CHECK (strcmp (list [0].arch, "gfx942") == 0);
    GEAK_CHECK (list [0].compute_units == 304);
    GEAK_CHECK (list [0].clock_mhz == 2100 && list [0].warp_size == 64);
    GEAK_CHECK (list [0].l2_bytes == 4096u * 1024u);
    GEAK_CHECK (list [0].memory_bytes == 206141652992ull);
    GEAK_CHECK (strcmp (list [0].pci_bus_id, "0000:c1:00.0") == 0);
    GEAK_CHECK (!list [0].interpreted);
    if (verbose) {
        json = geak_gpu_to_json (&list [0]);
        printf ("  fake kfd: %s\n", json);
        free (json);
    }
    free (list);
    setenv ("HIP_VISIBLE_DEVICES", "", 1);
    GEAK_CHECK (geak_gpu_probe_opts (&opts, &list, &count) == GEAK_OK);
    GEAK_CHECK (count == 0 && strcmp (list [0].vendor, "cpu") == 0);
    free (list);
    for (int i = 0; i < 3; i++) {
        if (saved [i])
            setenv (vars [i], saved [i], 1);
        else
            unsetenv (vars [i]);
        free (saved [i]);
    }

    //  clean the fake tree
    static const char *const files [] = {
        "1/caches/1/properties", "1/caches/1", "1/caches/0/properties", "1/caches/0",
        "1/caches", "1/mem_banks/0/properties", "1/mem_banks/0", "1/mem_banks",
        "1/properties", "1", "0/properties", "0"
    };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        snprintf (path, sizeof path, "%s/%s", root, files [i]);
        remove (path);
    }
    rmdir (root);

    //  the real probe of this machine: whatever it finds, it must not crash
    GEAK_CHECK (geak_gpu_probe (&list, &count) == GEAK_OK);
    GEAK_CHECK (count >= 0 && list);
    if (verbose) {
        json = geak_gpu_to_json (&list [0]);
        printf ("  this machine: %d gpu(s), first %s\n", count, json);
        free (json);
    }
    free (list);
    return 0;
}
