/*  geak_svg.h - small static charts as standalone SVG 1.1 text, written by
    hand: line charts with markers (pass@k, accuracy curves) and bar charts
    / histograms, with a title, a subtitle, axes, "nice" ticks (1, 2, 5 x
    10^n), grid lines, axis labels, a legend, dashed reference lines and a
    note for empty charts. The output is well-formed XML (every text is
    escaped) that browsers and XML parsers read as it is.

    A plot owns copies of everything it was given. Not thread-safe. */
#ifndef GEAK_SVG_H_INCLUDED
#define GEAK_SVG_H_INCLUDED

#include "geak_prelude.h"
#include "geak_error.h"

#define GEAK_SVG_WIDTH      720
#define GEAK_SVG_HEIGHT     440
#define GEAK_SVG_SERIES_MAX 8

typedef struct _geak_svg_plot_t geak_svg_plot_t;

//  title, xlabel and ylabel may be NULL (none). Never NULL.
geak_svg_plot_t *geak_svg_plot_new (const char *title, const char *xlabel, const char *ylabel);
void geak_svg_plot_destroy (geak_svg_plot_t **self_p);

//  A smaller grey line under the title (e.g. the run id).
void geak_svg_plot_set_subtitle (geak_svg_plot_t *self, const char *text);
//  A line shown in the middle of the plot area (e.g. "no data").
void geak_svg_plot_set_note (geak_svg_plot_t *self, const char *text);

//  Fix an axis's domain (default: from the data, widened to whole ticks).
void geak_svg_plot_set_x (geak_svg_plot_t *self, double min, double max);
void geak_svg_plot_set_y (geak_svg_plot_t *self, double min, double max);
//  About how many ticks the x axis gets (default 6; e.g. K + 1 for 1..K).
void geak_svg_plot_set_x_ticks (geak_svg_plot_t *self, size_t target);
//  Ticks on whole numbers only.
void geak_svg_plot_set_x_integer (geak_svg_plot_t *self, bool on);
void geak_svg_plot_set_y_integer (geak_svg_plot_t *self, bool on);
//  y values are shares in [0, 1], shown as percentages.
void geak_svg_plot_set_y_percent (geak_svg_plot_t *self, bool on);

//  A line through n points (copied) with a marker on each; points whose
//  x or y is not finite are skipped. labels: print each value over its
//  marker (when there are at most 16 points). GEAK_E_INVALID past
//  GEAK_SVG_SERIES_MAX series.
geak_rc_t geak_svg_plot_add_line (geak_svg_plot_t *self, const char *name,
                                  const double *x, const double *y, size_t n, bool labels);
//  Bars: bin i spans [edges [i], edges [i + 1]) with height heights [i].
geak_rc_t geak_svg_plot_add_bars (geak_svg_plot_t *self, const char *name,
                                  const double *edges, const double *heights, size_t nbins);
//  A histogram of values (non-finite ones skipped) with about 8 bins of a
//  nice width; the bins also cover `include` when it is finite (e.g. 1.0
//  for speedups). Sets integer y ticks. No value -> no bars.
geak_rc_t geak_svg_plot_add_histogram (geak_svg_plot_t *self, const char *name,
                                       const double *values, size_t n, double include);
//  A dashed vertical reference line at x with a label (may be NULL).
void geak_svg_plot_add_vline (geak_svg_plot_t *self, double x, const char *label);

//  The SVG document (caller frees), or NULL when out of memory.
char *geak_svg_plot_render (const geak_svg_plot_t *self);
//  Render into path (written whole, then renamed over it). GEAK_E_IO on failure.
geak_rc_t geak_svg_plot_save (const geak_svg_plot_t *self, const char *path);

//  Nice ticks covering [lo, hi] for about `target` ticks: fills ticks [max],
//  returns their count and sets *step (may be NULL).
size_t geak_svg_ticks (double lo, double hi, size_t target, bool integer,
                       double *ticks, size_t max, double *step);

//  Write text with & < > " ' escaped for XML.
void geak_svg_escape (FILE *out, const char *text);

int geak_svg_test (bool verbose);

#endif
