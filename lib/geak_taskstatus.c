/*  geak_taskstatus.c - the self-check statuses of a task. */
#include "geak_taskstatus.h"

const char *const geak_task_statuses [] = {
    "ok", "broken", "flaky", "unsupported_on_device", NULL
};

#define STATUS_COUNT 4

size_t
geak_task_status_index (const char *status)
{
    for (size_t i = 0; status && i < STATUS_COUNT; i++)
        if (strcmp (status, geak_task_statuses [i]) == 0)
            return i;
    return STATUS_COUNT;
}

bool
geak_task_status_known (const char *status)
{
    return geak_task_status_index (status) < STATUS_COUNT;
}

bool
geak_task_status_excluded (const char *status)
{
    size_t i = geak_task_status_index (status);
    return i > 0 && i < STATUS_COUNT;
}

int
geak_taskstatus_test (bool verbose)
{
    GEAK_UNUSED (verbose);
    int fails = 0;
    fails += !geak_task_status_known ("ok") || geak_task_status_excluded ("ok");
    fails += !geak_task_status_excluded ("broken") || !geak_task_status_excluded ("flaky");
    fails += !geak_task_status_known ("unsupported_on_device")
          || !geak_task_status_excluded ("unsupported_on_device");
    fails += geak_task_status_known ("unchecked") || geak_task_status_excluded ("unchecked");
    fails += geak_task_status_known (NULL) || geak_task_status_excluded (NULL);
    fails += geak_task_status_known ("") || geak_task_status_known ("OK");
    fails += geak_task_status_index ("flaky") != 2 || geak_task_status_index ("x") != STATUS_COUNT;
    return fails;
}
