/*  geak gpu - this machine's devices as JSON, one object per line (the
    "cpu" entry when there is no GPU). Exit 0; --require-gpu exits 1 when
    no GPU was found (for scripts proving a GPU host, tests/gpu/gpu_probe.sh). */
#include "geak_prelude.h"
#include "geak_gpu.h"
#include "commands.h"

int
geak_cmd_gpu (int argc, char **argv)
{
    bool require = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--require-gpu") == 0)
            require = true;
        else {
            fprintf (stderr, "usage: geak gpu [--require-gpu]\n");
            return 2;
        }
    }
    geak_gpu_info_t *list = NULL;
    int count = 0;
    if (geak_gpu_probe (&list, &count) != GEAK_OK) {
        fprintf (stderr, "geak gpu: out of memory\n");
        return 1;
    }
    for (int i = 0; i < (count ? count : 1); i++) {
        char *json = geak_gpu_to_json (&list [i]);
        if (json)
            printf ("%s\n", json);
        free (json);
    }
    free (list);
    if (require && count == 0) {
        fprintf (stderr, "geak gpu: no GPU found (CUDA driver and HIP runtime absent or without devices)\n");
        return 1;
    }
    return 0;
}
