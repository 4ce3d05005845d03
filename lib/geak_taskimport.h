/*  geak_taskimport.h - convert a published Triton benchmark into task directories
    of our own format (docs/tasks.md, "Importing benchmarks").

    Formats:
      tritonbench-revised  TritonBench-G as GEAK-eval ships it: one Python file per task,
                           kernel code above a line of exactly 146 '#', test code below it
                           (ends with `result_gold = test_...()`); a perf script per task,
                           <task>_perf.py under performance_metrics/perf_G/golden_metrics/;
                           an index JSON, a list of {file, simp_instru, comp_instru,
                           difficulty, output}.
      rocm-triton          the ROCm Triton benchmark: the same kernel/test split, the test
                           section is pytest code filling a result_gold dictionary (perf
                           tests drive PytestBenchmarker); an index JSON, a list of
                           {file, instruction, ...}.

    Each task becomes <out>/<name>/ with task.json (with "append" and "source"),
    reference.py (the gold kernel code), bench_test.py (the test section, the perf
    script and the runner, appended to the code under test by the harness) and spec.py.
    A re-import overwrites the directories it made before; a directory it did not make
    is never touched. */
#ifndef GEAK_TASKIMPORT_H_INCLUDED
#define GEAK_TASKIMPORT_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_TASKIMPORT_TRITONBENCH "tritonbench-revised"
#define GEAK_TASKIMPORT_ROCM        "rocm-triton"
#define GEAK_TASKIMPORT_SEPARATOR_LEN 146

typedef struct geak_taskimport_t geak_taskimport_t;

//  NULL for an unknown format.
geak_taskimport_t *geak_taskimport_new (const char *format);
void geak_taskimport_destroy (geak_taskimport_t **self_p);

//  Which instruction text goes to the generator: "comp" (default) or "simp".
geak_rc_t geak_taskimport_set_instruction (geak_taskimport_t *self, const char *which);
//  The index JSON; without it the importer looks for one under the benchmark path.
void geak_taskimport_set_index (geak_taskimport_t *self, const char *path);
//  Perf cases per task (spread over the benchmark's perf inputs, largest first); 0 = none.
void geak_taskimport_set_perf_cases (geak_taskimport_t *self, int n);
//  Tolerance written for every float dtype (default atol 1e-3, rtol 1e-3: GEAK-eval's).
void geak_taskimport_set_tolerance (geak_taskimport_t *self, double atol, double rtol);

//  Import every task of the benchmark under bench_path into out_dir (created).
//  GEAK_OK when the index was read (tasks may still be skipped: see below);
//  GEAK_E_NOT_FOUND no (or more than one) index, GEAK_E_IO out_dir not writable.
//  why_p (optional) gets a message to free on failure.
geak_rc_t geak_taskimport_run (geak_taskimport_t *self, const char *bench_path,
                               const char *out_dir, char **why_p);

//  Results of the last run, in index order: name, the benchmark file, and the reason it
//  was skipped (NULL when imported).
size_t geak_taskimport_count (const geak_taskimport_t *self);
size_t geak_taskimport_skipped (const geak_taskimport_t *self);
const char *geak_taskimport_name (const geak_taskimport_t *self, size_t i);
const char *geak_taskimport_file (const geak_taskimport_t *self, size_t i);
const char *geak_taskimport_reason (const geak_taskimport_t *self, size_t i);
//  The index file used by the last run.
const char *geak_taskimport_index (const geak_taskimport_t *self);

//  Split a benchmark file at its separator line: kernel code before, test code after,
//  and the 1-based line where the test code starts. false when there is no separator.
bool geak_taskimport_split (const char *source, char **kernel_p, char **test_p, int *test_line_p);
//  A Python string literal ("...") holding text exactly (invalid UTF-8 -> U+FFFD).
char *geak_taskimport_pystr (const char *text);

int geak_taskimport_test (bool verbose);

#endif
