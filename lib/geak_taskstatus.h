/*  geak_taskstatus.h - the self-check statuses of a task, owned in one place.

    The harness answers a self-check with one of: ok, broken (the reason says why),
    flaky (what differs between runs), unsupported_on_device (the gold code needs
    another vendor's compiler stack). Readers of a run also see "unchecked" (no
    answer) and "unlisted" (not in the run's task list). Every status but ok and
    unchecked leaves the task out of the accuracy denominators (docs/tasks.md). */
#ifndef GEAK_TASKSTATUS_H_INCLUDED
#define GEAK_TASKSTATUS_H_INCLUDED

#include "geak_prelude.h"

//  The statuses a self-check may answer, in report order (NULL-terminated).
extern const char *const geak_task_statuses [];

//  True for a status a self-check may answer (ok, broken, flaky, unsupported_on_device).
bool geak_task_status_known (const char *status);
//  True for a task that a scan skips and accuracy leaves out (broken, flaky,
//  unsupported_on_device); NULL and other statuses are not excluded.
bool geak_task_status_excluded (const char *status);
//  Index of status in geak_task_statuses, or the count of known statuses when unknown.
size_t geak_task_status_index (const char *status);

int geak_taskstatus_test (bool verbose);

#endif
