/*  geak_prompt.c - prompt parts shared by the LLM roles. */
#include "geak_prelude.h"
#include "geak_prompt.h"

#include <cjson/cJSON.h>

void
geak_prompt_add_capped (geak_text_t *text, const char *s, size_t max)
{
    if (!s)
        return;
    size_t len = strlen (s);
    if (len <= max) {
        geak_text_add (text, s);
        return;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char) s [cut] & 0xC0) == 0x80)
        cut--;
    size_t line = cut;
    while (line > max / 2 && s [line - 1] != '\n')
        line--;
    if (line > max / 2)
        cut = line;
    geak_text_addn (text, s, cut);
    geak_text_addf (text, "%s[... %zu more bytes cut ...]\n",
                    cut > 0 && s [cut - 1] == '\n' ? "" : "\n", len - cut);
}

void
geak_prompt_add_code (geak_text_t *text, const char *code)
{
    geak_prompt_add_code_capped (text, code, GEAK_PROMPT_CODE_MAX);
}

void
geak_prompt_add_code_capped (geak_text_t *text, const char *code, size_t max)
{
    geak_text_add (text, "```python\n");
    geak_prompt_add_capped (text, code ? code : "", max);
    const char *s = geak_text_str (text);
    size_t n = geak_text_size (text);
    if (n > 0 && s [n - 1] != '\n')
        geak_text_add (text, "\n");
    geak_text_add (text, "```\n");
}

void
geak_prompt_add_task (geak_text_t *text, const Geak__TaskRef *task)
{
    geak_text_add (text, "## Task\n");
    if (!task) {
        geak_text_add (text, "(no task given)\n\n");
        return;
    }
    if (task->name && *task->name)
        geak_text_addf (text, "Name: %s\n", task->name);
    if (task->category && *task->category)
        geak_text_addf (text, "Category: %s\n", task->category);
    if (task->difficulty)
        geak_text_addf (text, "Difficulty: %u of 5\n", task->difficulty);
    if (task->instruction && *task->instruction) {
        geak_text_add (text, "\n");
        geak_prompt_add_capped (text, task->instruction, GEAK_PROMPT_CODE_MAX);
        geak_text_add (text, "\n");
    }
    if (task->signature && *task->signature) {
        geak_text_add (text, "\nThe module must define this entry point (same name, same arguments):\n");
        geak_prompt_add_code (text, task->signature);
    }
    geak_text_add (text, "\n");
}

//  Our own summary of common Triton practice (no external text).
static const char *s_practice =
    "## Triton practice\n"
    "- Guard every tl.load and tl.store whose offsets can pass the end of a tensor with a mask "
    "(offsets < n); give masked loads an `other=` value that is neutral for the computation "
    "(0.0 for sums, -inf for max).\n"
    "- Make block sizes `tl.constexpr` parameters and powers of two; tl.arange needs a "
    "power-of-two constexpr length. Cover a dimension that is not a power of two with "
    "triton.next_power_of_2 and a mask.\n"
    "- Keep memory access coalesced: the fastest-moving index of a block (tl.arange) should run "
    "along the contiguous dimension. Pass strides (x.stride(0), ...) instead of assuming a layout.\n"
    "- tl.dot takes 2-D blocks with every dimension (M, N and K) at least 16; accumulate in "
    "float32 (tl.zeros(..., dtype=tl.float32)) and cast to the output dtype at the store.\n"
    "- Compute reductions, exp and division in float32 even for fp16/bf16 inputs; subtract the "
    "row maximum before exp.\n"
    "- Autotune with @triton.autotune(configs=[triton.Config({...}, num_warps=..., num_stages=...)], "
    "key=[size arguments]); every config must be valid for every shape the key can take.\n"
    "- num_warps: 4 is a good default, 8 for large tiles, 1-2 for tiny rows. num_stages "
    "(software pipelining of loads in loops): 2-4 on GPUs with asynchronous copies, 1-2 on AMD GPUs.\n"
    "- Launch with grid = lambda meta: (triton.cdiv(n, meta['BLOCK_SIZE']),); program ids come "
    "from tl.program_id(axis). Grid axes 1 and 2 are limited to 65535.\n"
    "- Inside @triton.jit use only tl.* operations; allocate outputs with torch in the Python "
    "wrapper, on the inputs' device and with the expected dtype and shape.\n\n";

void
geak_prompt_add_practice (geak_text_t *text)
{
    geak_text_add (text, s_practice);
}

void
geak_prompt_add_device (geak_text_t *text, const Geak__DeviceFacts *device)
{
    if (!device)
        return;
    geak_text_add (text, "## Target device\n");
    geak_text_addf (text, "- Device: %s (%s)\n",
                    device->name && *device->name ? device->name : "unknown",
                    device->vendor && *device->vendor ? device->vendor : "unknown vendor");
    if (device->arch && *device->arch)
        geak_text_addf (text, "- Architecture: %s\n", device->arch);
    if (device->compute_units)
        geak_text_addf (text, "- Compute units: %u %s\n", device->compute_units,
                        device->vendor && strcmp (device->vendor, "amd") == 0 ? "CUs" : "SMs");
    if (device->warp_size)
        geak_text_addf (text, "- %s size: %u threads (num_warps counts groups of %u)\n",
                        device->warp_size == 64 ? "Wavefront" : "Warp",
                        device->warp_size, device->warp_size);
    if (device->memory_bytes)
        geak_text_addf (text, "- Memory: %.1f GiB\n",
                        (double) device->memory_bytes / (1024.0 * 1024.0 * 1024.0));
    if (device->l2_bytes)
        geak_text_addf (text, "- L2 cache: %.1f MiB\n", (double) device->l2_bytes / (1024.0 * 1024.0));
    if (device->clock_mhz)
        geak_text_addf (text, "- Clock: %u MHz\n", device->clock_mhz);
    if (device->runtime && *device->runtime)
        geak_text_addf (text, "- Runtime: %s\n", device->runtime);
    if (device->interpreted)
        geak_text_add (text, "- Kernels run under TRITON_INTERPRET=1 (CPU interpreter): only "
                             "correctness is checked, no timings.\n");
    geak_text_add (text, "\n");
}

const char *
geak_prompt_add_one_shot (geak_text_t *text, const geak_corpus_t *corpus, const Geak__TaskRef *task)
{
    if (!corpus || !task || geak_corpus_size (corpus) == 0)
        return NULL;
    geak_text_t *query = geak_text_new ();
    geak_text_addf (query, "%s %s %s %s", task->name ? task->name : "",
                    task->category ? task->category : "",
                    task->instruction ? task->instruction : "", task->signature ? task->signature : "");
    long best = geak_corpus_search (corpus, geak_text_str (query), task->name, NULL);
    geak_text_destroy (&query);
    if (best < 0)
        return NULL;
    const char *name = geak_corpus_name (corpus, (size_t) best);
    geak_text_addf (text, "## Example\nA working Triton kernel of a related task (%s), for style "
                    "and API use only; do not copy its semantics:\n", name);
    geak_prompt_add_code (text, geak_corpus_code (corpus, (size_t) best));
    geak_text_add (text, "\n");
    return name;
}

char *
geak_prompt_record_json (const char *role, const char *task, uint32_t sample, uint32_t iteration,
                         const char *provider, const char *model, const char *system,
                         const char *user)
{
    cJSON *root = cJSON_CreateObject ();
    if (!root)
        return NULL;
    bool ok = cJSON_AddStringToObject (root, "role", role ? role : "")
           && cJSON_AddStringToObject (root, "task", task ? task : "")
           && cJSON_AddNumberToObject (root, "sample", sample)
           && cJSON_AddNumberToObject (root, "iteration", iteration)
           && cJSON_AddStringToObject (root, "provider", provider ? provider : "")
           && cJSON_AddStringToObject (root, "model", model ? model : "")
           && cJSON_AddStringToObject (root, "system", system ? system : "")
           && cJSON_AddStringToObject (root, "user", user ? user : "");
    char *json = ok ? cJSON_PrintUnformatted (root) : NULL;
    cJSON_Delete (root);
    return json;
}

int
geak_prompt_test (bool verbose)
{
    int fails = 0;
    geak_text_t *text = geak_text_new ();
    Geak__TaskRef task = GEAK__TASK_REF__INIT;
    task.name = "softmax";
    task.instruction = "Write a row-wise softmax kernel using exp and max.";
    task.signature = "def softmax(x: torch.Tensor) -> torch.Tensor";
    geak_prompt_add_task (text, &task);
    geak_prompt_add_practice (text);
    Geak__DeviceFacts device = GEAK__DEVICE_FACTS__INIT;
    device.vendor = "amd";
    device.name = "AMD Instinct MI300X";
    device.arch = "gfx942";
    device.compute_units = 304;
    device.warp_size = 64;
    device.memory_bytes = 192ULL << 30;
    device.l2_bytes = 4ULL << 20;
    geak_prompt_add_device (text, &device);
    geak_corpus_t *corpus = geak_corpus_new ();
    geak_corpus_add (corpus, "softmax", "def own(): pass  # softmax exp max", NULL);
    geak_corpus_add (corpus, "log_softmax", "def other(): pass  # log softmax exp max", NULL);
    const char *shot = geak_prompt_add_one_shot (text, corpus, &task);
    fails += !shot || strcmp (shot, "log_softmax") != 0;
    const char *s = geak_text_str (text);
    fails += !strstr (s, "def softmax(x: torch.Tensor)") || !strstr (s, "mask")
          || !strstr (s, "tl.constexpr") || !strstr (s, "at least 16") || !strstr (s, "num_stages")
          || !strstr (s, "gfx942") || !strstr (s, "304 CUs") || !strstr (s, "Wavefront size: 64")
          || !strstr (s, "192.0 GiB") || !strstr (s, "4.0 MiB") || !strstr (s, "def other()")
          || strstr (s, "def own()");
    if (verbose)
        printf ("%s\n", s);
    geak_text_destroy (&text);
    geak_corpus_destroy (&corpus);
    //  capping
    text = geak_text_new ();
    char big [200];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = '\0';
    geak_prompt_add_capped (text, big, 50);
    fails += strncmp (geak_text_str (text), big, 50) != 0 || !strstr (geak_text_str (text), "149 more bytes");
    geak_text_destroy (&text);
    char *json = geak_prompt_record_json ("generator", "t", 1, 2, "openai", "m", "S", "U\n\"q\"");
    cJSON *root = json ? cJSON_Parse (json) : NULL;
    fails += !root || strcmp (cJSON_GetObjectItem (root, "user")->valuestring, "U\n\"q\"") != 0;
    cJSON_Delete (root);
    free (json);
    return fails;
}
