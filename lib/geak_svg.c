/*  geak_svg.c - hand-written SVG charts (see geak_svg.h). */
#include "geak_svg.h"

#include <math.h>
#include <unistd.h>

//  Layout (pixels)
#define W           GEAK_SVG_WIDTH
#define H           GEAK_SVG_HEIGHT
#define PLOT_LEFT   74.0
#define PLOT_RIGHT  (W - 28.0)
#define PLOT_TOP    70.0
#define PLOT_BOTTOM (H - 58.0)
#define CHAR_W      6.6             //  rough width of one 12px character
#define TICKS_MAX   64
#define BINS_MAX    64
#define VLINES_MAX  4

static const char *s_palette [GEAK_SVG_SERIES_MAX] = {
    "#1f77b4", "#e45756", "#54a24b", "#f58518", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"
};

typedef enum { SERIES_LINE, SERIES_BARS } series_kind_t;

typedef struct {
    series_kind_t kind;
    char *name;
    double *x;              //  line: x [n]; bars: edges [n + 1]
    double *y;              //  line: y [n]; bars: heights [n]
    size_t n;
    bool labels;
} series_t;

typedef struct {
    bool fixed;
    double min, max;
    bool integer;
} axis_t;

typedef struct {
    double x;
    char *label;
} vline_t;

struct _geak_svg_plot_t {
    char *title, *subtitle, *xlabel, *ylabel, *note;
    axis_t xaxis, yaxis;
    bool percent;
    size_t xticks;              //  target tick count of the x axis
    series_t series [GEAK_SVG_SERIES_MAX];
    size_t nseries;
    vline_t vlines [VLINES_MAX];
    size_t nvlines;
};

static char *
s_dup_or_null (const char *text)
{
    return text ? geak_strdup (text) : NULL;
}

geak_svg_plot_t *
geak_svg_plot_new (const char *title, const char *xlabel, const char *ylabel)
{
    geak_svg_plot_t *self = geak_malloc0 (sizeof *self);
    self->title = s_dup_or_null (title);
    self->xlabel = s_dup_or_null (xlabel);
    self->ylabel = s_dup_or_null (ylabel);
    return self;
}

void
geak_svg_plot_destroy (geak_svg_plot_t **self_p)
{
    assert (self_p);
    geak_svg_plot_t *self = *self_p;
    if (!self)
        return;
    free (self->title);
    free (self->subtitle);
    free (self->xlabel);
    free (self->ylabel);
    free (self->note);
    for (size_t i = 0; i < self->nseries; i++) {
        free (self->series [i].name);
        free (self->series [i].x);
        free (self->series [i].y);
    }
    for (size_t i = 0; i < self->nvlines; i++)
        free (self->vlines [i].label);
    free (self);
    *self_p = NULL;
}

void
geak_svg_plot_set_subtitle (geak_svg_plot_t *self, const char *text)
{
    assert (self);
    free (self->subtitle);
    self->subtitle = s_dup_or_null (text);
}

void
geak_svg_plot_set_note (geak_svg_plot_t *self, const char *text)
{
    assert (self);
    free (self->note);
    self->note = s_dup_or_null (text);
}

static void
s_axis_set (axis_t *axis, double min, double max)
{
    axis->fixed = isfinite (min) && isfinite (max) && max > min;
    axis->min = min;
    axis->max = max;
}

void geak_svg_plot_set_x (geak_svg_plot_t *self, double min, double max) { assert (self); s_axis_set (&self->xaxis, min, max); }
void geak_svg_plot_set_y (geak_svg_plot_t *self, double min, double max) { assert (self); s_axis_set (&self->yaxis, min, max); }
void geak_svg_plot_set_x_ticks (geak_svg_plot_t *self, size_t target) { assert (self); self->xticks = target; }
void geak_svg_plot_set_x_integer (geak_svg_plot_t *self, bool on) { assert (self); self->xaxis.integer = on; }
void geak_svg_plot_set_y_integer (geak_svg_plot_t *self, bool on) { assert (self); self->yaxis.integer = on; }
void geak_svg_plot_set_y_percent (geak_svg_plot_t *self, bool on) { assert (self); self->percent = on; }

geak_rc_t
geak_svg_plot_add_line (geak_svg_plot_t *self, const char *name,
                        const double *x, const double *y, size_t n, bool labels)
{
    assert (self);
    if (self->nseries == GEAK_SVG_SERIES_MAX || (n && (!x || !y)))
        return GEAK_E_INVALID;
    series_t *s = &self->series [self->nseries++];
    memset (s, 0, sizeof *s);
    s->kind = SERIES_LINE;
    s->name = s_dup_or_null (name);
    s->x = geak_malloc0 ((n + 1) * sizeof (double));
    s->y = geak_malloc0 ((n + 1) * sizeof (double));
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite (x [i]) && isfinite (y [i])) {
            s->x [kept] = x [i];
            s->y [kept] = y [i];
            kept++;
        }
    s->n = kept;
    s->labels = labels;
    return GEAK_OK;
}

geak_rc_t
geak_svg_plot_add_bars (geak_svg_plot_t *self, const char *name,
                        const double *edges, const double *heights, size_t nbins)
{
    assert (self);
    if (self->nseries == GEAK_SVG_SERIES_MAX || (nbins && (!edges || !heights)))
        return GEAK_E_INVALID;
    for (size_t i = 0; i < nbins; i++)
        if (!isfinite (edges [i]) || !isfinite (edges [i + 1]) || !(edges [i + 1] > edges [i])
        ||  !isfinite (heights [i]))
            return GEAK_E_INVALID;
    series_t *s = &self->series [self->nseries++];
    memset (s, 0, sizeof *s);
    s->kind = SERIES_BARS;
    s->name = s_dup_or_null (name);
    s->x = geak_malloc0 ((nbins + 1) * sizeof (double));
    s->y = geak_malloc0 ((nbins + 1) * sizeof (double));
    if (nbins) {
        memcpy (s->x, edges, (nbins + 1) * sizeof (double));
        memcpy (s->y, heights, nbins * sizeof (double));
    }
    s->n = nbins;
    return GEAK_OK;
}

void
geak_svg_plot_add_vline (geak_svg_plot_t *self, double x, const char *label)
{
    assert (self);
    if (self->nvlines == VLINES_MAX || !isfinite (x))
        return;
    self->vlines [self->nvlines].x = x;
    self->vlines [self->nvlines].label = s_dup_or_null (label);
    self->nvlines++;
}

// ------------------------------------------------------------------ ticks

//  A "nice" number near x (1, 2, 5 x 10^n): rounded, or the next one up
static double
s_nice (double x, bool round_it)
{
    double e = floor (log10 (x));
    double f = x / pow (10, e);
    double nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow (10, e);
}

static double
s_step (double lo, double hi, size_t target, bool integer)
{
    if (!(hi > lo))
        return 1;
    if (target < 2)
        target = 2;
    double step = s_nice ((hi - lo) / (double) (target - 1), true);
    if (integer && step < 1)
        step = 1;
    return step;
}

size_t
geak_svg_ticks (double lo, double hi, size_t target, bool integer,
                double *ticks, size_t max, double *step_out)
{
    double step = s_step (lo, hi, target, integer);
    if (step_out)
        *step_out = step;
    size_t n = 0;
    if (!(hi >= lo) || !isfinite (lo) || !isfinite (hi))
        return 0;
    double first = ceil (lo / step - 1e-9);
    for (double i = first; n < max; i++) {
        double v = i * step;
        if (v > hi + step * 1e-9)
            break;
        ticks [n++] = fabs (v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

//  Decimals that show every tick of this step exactly
static int
s_decimals (double step)
{
    if (step >= 1)
        return 0;
    int d = (int) ceil (-log10 (step) - 1e-9);
    return d > 6 ? 6 : d;
}

// ------------------------------------------------------------------ histogram

geak_rc_t
geak_svg_plot_add_histogram (geak_svg_plot_t *self, const char *name,
                             const double *values, size_t n, double include)
{
    assert (self);
    self->yaxis.integer = true;
    double lo = INFINITY, hi = -INFINITY;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite (values [i])) {
            lo = fmin (lo, values [i]);
            hi = fmax (hi, values [i]);
            count++;
        }
    if (count == 0)
        return geak_svg_plot_add_bars (self, name, NULL, NULL, 0);
    if (isfinite (include)) {
        lo = fmin (lo, include);
        hi = fmax (hi, include);
    }
    double width = hi > lo ? s_nice ((hi - lo) / 8.0, true) : (fabs (lo) > 0 ? s_nice (fabs (lo) / 10.0, true) : 1);
    double start = floor (lo / width + 1e-9) * width;
    size_t nbins = (size_t) floor ((hi - start) / width + 1e-9) + 1;
    while (nbins > BINS_MAX) {
        width *= 2;
        start = floor (lo / width + 1e-9) * width;
        nbins = (size_t) floor ((hi - start) / width + 1e-9) + 1;
    }
    double edges [BINS_MAX + 1], heights [BINS_MAX];
    for (size_t b = 0; b <= nbins; b++)
        edges [b] = start + (double) b * width;
    memset (heights, 0, sizeof heights);
    for (size_t i = 0; i < n; i++)
        if (isfinite (values [i])) {
            double pos = (values [i] - start) / width + 1e-9;
            size_t b = pos < 0 ? 0 : (size_t) floor (pos);
            heights [b < nbins ? b : nbins - 1] += 1;
        }
    return geak_svg_plot_add_bars (self, name, edges, heights, nbins);
}

// ------------------------------------------------------------------ render

void
geak_svg_escape (FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
            case '&':  fputs ("&amp;", out); break;
            case '<':  fputs ("&lt;", out); break;
            case '>':  fputs ("&gt;", out); break;
            case '"':  fputs ("&quot;", out); break;
            case '\'': fputs ("&apos;", out); break;
            default:
                //  control characters are not allowed in XML 1.0
                if ((unsigned char) *p < 0x20 && *p != '\t' && *p != '\n')
                    fputc (' ', out);
                else
                    fputc (*p, out);
        }
    }
}

typedef struct {
    double lo, hi;          //  domain
    double step;
    double ticks [TICKS_MAX];
    size_t nticks;
} scale_t;

//  Domain and ticks of one axis from its data range
static void
s_scale (scale_t *sc, const axis_t *axis, double dlo, double dhi, bool from_zero, size_t target)
{
    if (target < 2)
        target = 6;
    if (axis->fixed) {
        sc->lo = axis->min;
        sc->hi = axis->max;
    }
    else {
        if (!isfinite (dlo) || !isfinite (dhi)) {
            dlo = 0;
            dhi = 1;
        }
        if (from_zero && dlo > 0)
            dlo = 0;
        if (from_zero && dhi > dlo)
            dhi += (dhi - dlo) * 0.06;          //  headroom for labels over bars
        if (!(dhi > dlo)) {
            double pad = fabs (dlo) > 0 ? fabs (dlo) * 0.5 : 1;
            dlo -= from_zero && dlo >= 0 ? 0 : pad;
            dhi += pad;
        }
        double step = s_step (dlo, dhi, target, axis->integer);
        sc->lo = floor (dlo / step + 1e-9) * step;
        sc->hi = ceil (dhi / step - 1e-9) * step;
        if (!(sc->hi > sc->lo))
            sc->hi = sc->lo + step;
    }
    sc->nticks = geak_svg_ticks (sc->lo, sc->hi, target, axis->integer, sc->ticks, TICKS_MAX, &sc->step);
}

static double
s_px (const scale_t *sc, double v)
{
    return PLOT_LEFT + (v - sc->lo) / (sc->hi - sc->lo) * (PLOT_RIGHT - PLOT_LEFT);
}

static double
s_py (const scale_t *sc, double v)
{
    return PLOT_BOTTOM - (v - sc->lo) / (sc->hi - sc->lo) * (PLOT_BOTTOM - PLOT_TOP);
}

static void
s_format (char *buf, size_t size, double v, double step, bool percent)
{
    if (percent)
        snprintf (buf, size, "%.*f%%", s_decimals (step * 100), v * 100);
    else
        snprintf (buf, size, "%.*f", s_decimals (step), v);
}

static void
s_text (FILE *out, double x, double y, const char *anchor, const char *attrs, const char *text)
{
    fprintf (out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, attrs);
    geak_svg_escape (out, text);
    fputs ("</text>\n", out);
}

static void
s_legend (FILE *out, const geak_svg_plot_t *self)
{
    size_t named = 0;
    double width = 0;
    for (size_t i = 0; i < self->nseries; i++)
        if (self->series [i].name && *self->series [i].name) {
            named++;
            width += 22 + CHAR_W * (double) strlen (self->series [i].name) + 16;
        }
    if (named == 0)
        return;
    double x = PLOT_RIGHT - width + 16;
    double y = PLOT_TOP - 14;
    fputs ("<g class=\"legend\" font-size=\"12\" fill=\"#333\">\n", out);
    for (size_t i = 0; i < self->nseries; i++) {
        const series_t *s = &self->series [i];
        if (!s->name || !*s->name)
            continue;
        const char *color = s_palette [i];
        if (s->kind == SERIES_LINE) {
            fprintf (out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n",
                     x, y - 4, x + 16, y - 4, color);
            fprintf (out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"1\"/>\n",
                     x + 8, y - 4, color);
        }
        else
            fprintf (out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\" fill-opacity=\"0.85\"/>\n",
                     x + 2, y - 10, color);
        s_text (out, x + 22, y, "start", "", s->name);
        x += 22 + CHAR_W * (double) strlen (s->name) + 16;
    }
    fputs ("</g>\n", out);
}

char *
geak_svg_plot_render (const geak_svg_plot_t *self)
{
    assert (self);
    //  Data ranges
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    bool has_bars = false;
    for (size_t i = 0; i < self->nseries; i++) {
        const series_t *s = &self->series [i];
        if (s->kind == SERIES_LINE)
            for (size_t j = 0; j < s->n; j++) {
                xlo = fmin (xlo, s->x [j]);
                xhi = fmax (xhi, s->x [j]);
                ylo = fmin (ylo, s->y [j]);
                yhi = fmax (yhi, s->y [j]);
            }
        else
        if (s->n) {
            has_bars = true;
            xlo = fmin (xlo, s->x [0]);
            xhi = fmax (xhi, s->x [s->n]);
            for (size_t j = 0; j < s->n; j++) {
                ylo = fmin (ylo, s->y [j]);
                yhi = fmax (yhi, s->y [j]);
            }
        }
    }
    for (size_t i = 0; i < self->nvlines; i++) {
        xlo = fmin (xlo, self->vlines [i].x);
        xhi = fmax (xhi, self->vlines [i].x);
    }
    scale_t xs, ys;
    s_scale (&xs, &self->xaxis, xlo, xhi, false, self->xticks);
    if (has_bars && !self->xaxis.fixed && isfinite (xlo)) {
        //  bars: the domain is the bins themselves, not widened to ticks
        xs.lo = xlo;
        xs.hi = xhi;
        xs.nticks = geak_svg_ticks (xs.lo, xs.hi, self->xticks >= 2 ? self->xticks : 8,
                                    self->xaxis.integer, xs.ticks, TICKS_MAX, &xs.step);
    }
    if (self->percent && !self->yaxis.fixed) {
        axis_t pct = self->yaxis;
        pct.fixed = true;
        pct.min = 0;
        pct.max = 1;
        s_scale (&ys, &pct, 0, 1, true, 6);
        ys.hi = 1.07;           //  room for the labels of points at 100%
    }
    else
        s_scale (&ys, &self->yaxis, ylo, yhi, true, 6);

    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buf, &size);
    if (!out)
        return NULL;
    fprintf (out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fputs ("<title>", out);
    geak_svg_escape (out, self->title ? self->title : "chart");
    fputs ("</title>\n", out);
    fprintf (out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    if (self->title)
        s_text (out, PLOT_LEFT, 28, "start", "font-size=\"17\" font-weight=\"bold\" fill=\"#222\"", self->title);
    if (self->subtitle)
        s_text (out, PLOT_LEFT, 47, "start", "font-size=\"12\" fill=\"#777\"", self->subtitle);

    //  Plot frame and grid
    fprintf (out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" stroke=\"none\"/>\n",
             PLOT_LEFT, PLOT_TOP, PLOT_RIGHT - PLOT_LEFT, PLOT_BOTTOM - PLOT_TOP);
    fputs ("<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n", out);
    for (size_t i = 0; i < ys.nticks; i++) {
        double y = s_py (&ys, ys.ticks [i]);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_LEFT, y, PLOT_RIGHT, y);
    }
    fputs ("</g>\n", out);

    //  Bars
    for (size_t i = 0; i < self->nseries; i++) {
        const series_t *s = &self->series [i];
        if (s->kind != SERIES_BARS)
            continue;
        fprintf (out, "<g class=\"bars\" fill=\"%s\" fill-opacity=\"0.85\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
                 s_palette [i]);
        for (size_t j = 0; j < s->n; j++) {
            double x0 = s_px (&xs, s->x [j]), x1 = s_px (&xs, s->x [j + 1]);
            double y0 = s_py (&ys, fmax (ys.lo, 0)), y1 = s_py (&ys, s->y [j]);
            if (s->y [j] <= 0)
                continue;
            fprintf (out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>[",
                     x0, y1, x1 - x0, y0 - y1);
            char lo [32], hi [32];
            s_format (lo, sizeof lo, s->x [j], xs.step / 10, false);
            s_format (hi, sizeof hi, s->x [j + 1], xs.step / 10, false);
            fprintf (out, "%s, %s): %g</title></rect>\n", lo, hi, s->y [j]);
        }
        fputs ("</g>\n", out);
        if (s->n <= 32) {
            fputs ("<g class=\"bar-labels\" font-size=\"11\" fill=\"#333\">\n", out);
            for (size_t j = 0; j < s->n; j++)
                if (s->y [j] > 0) {
                    char count [32];
                    snprintf (count, sizeof count, "%g", s->y [j]);
                    s_text (out, (s_px (&xs, s->x [j]) + s_px (&xs, s->x [j + 1])) / 2,
                            s_py (&ys, s->y [j]) - 4, "middle", "", count);
                }
            fputs ("</g>\n", out);
        }
    }

    //  Reference lines
    for (size_t i = 0; i < self->nvlines; i++) {
        double x = s_px (&xs, self->vlines [i].x);
        if (x < PLOT_LEFT - 0.5 || x > PLOT_RIGHT + 0.5)
            continue;
        fprintf (out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                      "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n", x, PLOT_TOP, x, PLOT_BOTTOM);
        if (self->vlines [i].label)
            s_text (out, x + 5, PLOT_TOP + 14, "start", "font-size=\"11\" fill=\"#555\"", self->vlines [i].label);
    }

    //  Axes with ticks and labels
    fprintf (out, "<g class=\"axes\" stroke=\"#444\" stroke-width=\"1.2\">\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
             PLOT_LEFT, PLOT_BOTTOM, PLOT_RIGHT, PLOT_BOTTOM, PLOT_LEFT, PLOT_TOP, PLOT_LEFT, PLOT_BOTTOM);
    for (size_t i = 0; i < xs.nticks; i++) {
        double x = s_px (&xs, xs.ticks [i]);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, PLOT_BOTTOM, x, PLOT_BOTTOM + 5);
    }
    for (size_t i = 0; i < ys.nticks; i++) {
        double y = s_py (&ys, ys.ticks [i]);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_LEFT - 5, y, PLOT_LEFT, y);
    }
    fputs ("</g>\n<g class=\"tick-labels\" font-size=\"12\" fill=\"#444\">\n", out);
    char label [64];
    for (size_t i = 0; i < xs.nticks; i++) {
        s_format (label, sizeof label, xs.ticks [i], xs.step, false);
        s_text (out, s_px (&xs, xs.ticks [i]), PLOT_BOTTOM + 19, "middle", "", label);
    }
    for (size_t i = 0; i < ys.nticks; i++) {
        s_format (label, sizeof label, ys.ticks [i], ys.step, self->percent);
        s_text (out, PLOT_LEFT - 9, s_py (&ys, ys.ticks [i]) + 4, "end", "", label);
    }
    fputs ("</g>\n", out);
    if (self->xlabel)
        s_text (out, (PLOT_LEFT + PLOT_RIGHT) / 2, H - 16, "middle", "font-size=\"13\" fill=\"#333\"", self->xlabel);
    if (self->ylabel) {
        double cx = 20, cy = (PLOT_TOP + PLOT_BOTTOM) / 2;
        fprintf (out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333\" "
                      "transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx, cy);
        geak_svg_escape (out, self->ylabel);
        fputs ("</text>\n", out);
    }

    //  Lines on top
    for (size_t i = 0; i < self->nseries; i++) {
        const series_t *s = &self->series [i];
        if (s->kind != SERIES_LINE || s->n == 0)
            continue;
        const char *color = s_palette [i];
        fprintf (out, "<g class=\"series\">\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
                      "stroke-linejoin=\"round\" points=\"", color);
        for (size_t j = 0; j < s->n; j++)
            fprintf (out, "%s%.1f,%.1f", j ? " " : "", s_px (&xs, s->x [j]), s_py (&ys, s->y [j]));
        fputs ("\"/>\n", out);
        for (size_t j = 0; j < s->n; j++) {
            double px = s_px (&xs, s->x [j]), py = s_py (&ys, s->y [j]);
            fprintf (out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"1.5\"/>\n",
                     px, py, color);
            if (s->labels && s->n <= 16) {
                if (self->percent)
                    snprintf (label, sizeof label, "%.0f%%", s->y [j] * 100);
                else
                    snprintf (label, sizeof label, "%.3g", s->y [j]);
                double ty = py - 10 < PLOT_TOP + 4 ? py + 18 : py - 10;
                char attrs [80];
                snprintf (attrs, sizeof attrs, "font-size=\"11\" fill=\"%s\"", color);
                s_text (out, px, ty, "middle", attrs, label);
            }
        }
        fputs ("</g>\n", out);
    }
    s_legend (out, self);
    if (self->note)
        s_text (out, (PLOT_LEFT + PLOT_RIGHT) / 2, (PLOT_TOP + PLOT_BOTTOM) / 2, "middle",
                "font-size=\"14\" font-style=\"italic\" fill=\"#888\"", self->note);
    fputs ("</svg>\n", out);
    if (fclose (out) != 0) {
        free (buf);
        return NULL;
    }
    return buf;
}

geak_rc_t
geak_svg_plot_save (const geak_svg_plot_t *self, const char *path)
{
    assert (self);
    assert (path);
    char *text = geak_svg_plot_render (self);
    if (!text)
        return GEAK_E_NOMEM;
    size_t tmp_size = strlen (path) + 16;
    char *tmp = malloc (tmp_size);
    assert (tmp);
    snprintf (tmp, tmp_size, "%s.tmp", path);
    geak_rc_t rc = GEAK_OK;
    FILE *f = fopen (tmp, "w");
    if (!f)
        rc = GEAK_E_IO;
    else {
        size_t len = strlen (text);
        bool ok = fwrite (text, 1, len, f) == len;
        ok = (fclose (f) == 0) && ok;
        if (!ok || rename (tmp, path) != 0) {
            unlink (tmp);
            rc = GEAK_E_IO;
        }
    }
    free (tmp);
    free (text);
    return rc;
}

// ------------------------------------------------------------------ selftest

static int s_failures;
#define CHECK(cond) do { if (!(cond)) { s_failures++; \
    fprintf (stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

static size_t
s_count (const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle))
        n++;
    return n;
}

//  Every '<' opens a tag that closes in order (comments and CDATA never
//  appear in our output): a minimal well-formedness check for the selftest
static bool
s_balanced (const char *text)
{
    const char *stack [64];
    size_t lens [64];
    size_t depth = 0;
    const char *p = text;
    while ((p = strchr (p, '<')) != NULL) {
        if (p [1] == '?') {
            p = strstr (p, "?>");
            if (!p)
                return false;
            continue;
        }
        bool closing = p [1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t len = strcspn (name, " />\n");
        const char *end = strchr (p, '>');
        if (!end)
            return false;
        bool self_closing = end [-1] == '/';
        if (closing) {
            if (depth == 0 || lens [depth - 1] != len || strncmp (stack [depth - 1], name, len))
                return false;
            depth--;
        }
        else
        if (!self_closing) {
            if (depth == 64)
                return false;
            stack [depth] = name;
            lens [depth] = len;
            depth++;
        }
        p = end + 1;
    }
    return depth == 0;
}

int
geak_svg_test (bool verbose)
{
    s_failures = 0;
    //  Ticks: 0..1 in steps of 0.2; integers 1..10 step 2; 0.5..3.5 integer
    double t [TICKS_MAX], step = 0;
    size_t n = geak_svg_ticks (0, 1, 6, false, t, TICKS_MAX, &step);
    CHECK (n == 6 && fabs (step - 0.2) < 1e-12 && t [0] == 0 && fabs (t [5] - 1) < 1e-12);
    n = geak_svg_ticks (1, 10, 6, true, t, TICKS_MAX, &step);
    CHECK (step == 2 && n == 5 && t [0] == 2 && t [4] == 10);
    n = geak_svg_ticks (0.5, 3.5, 6, true, t, TICKS_MAX, &step);
    CHECK (step == 1 && n == 3 && t [0] == 1 && t [2] == 3);
    n = geak_svg_ticks (0.37, 2.9, 6, false, t, TICKS_MAX, &step);
    CHECK (step == 0.5 && n == 5 && t [0] == 0.5 && t [4] == 2.5);
    n = geak_svg_ticks (-1, 1, 5, false, t, TICKS_MAX, &step);
    CHECK (step == 0.5 && n == 5 && t [2] == 0);
    CHECK (geak_svg_ticks (1, 0, 5, false, t, TICKS_MAX, NULL) == 0);
    CHECK (s_decimals (0.2) == 1 && s_decimals (0.05) == 2 && s_decimals (5) == 0);

    //  Escaping
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buf, &size);
    geak_svg_escape (out, "a<b & \"c\" 'd'>\x01");
    fclose (out);
    CHECK (strcmp (buf, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt; ") == 0);
    free (buf);

    //  A line chart
    geak_svg_plot_t *plot = geak_svg_plot_new ("pass@k <run & co>", "k", "pass@k");
    geak_svg_plot_set_subtitle (plot, "run r1");
    geak_svg_plot_set_x (plot, 0.5, 3.5);
    geak_svg_plot_set_x_integer (plot, true);
    geak_svg_plot_set_y_percent (plot, true);
    double x [] = { 1, 2, 3 }, y [] = { 0.5, 0.8333, 1.0 }, y2 [] = { 0.8, NAN, 1.0 };
    CHECK (geak_svg_plot_add_line (plot, "exec", x, y, 3, true) == GEAK_OK);
    CHECK (geak_svg_plot_add_line (plot, "call", x, y2, 3, false) == GEAK_OK);
    char *svg = geak_svg_plot_render (plot);
    CHECK (svg && s_balanced (svg));
    CHECK (strstr (svg, "pass@k &lt;run &amp; co&gt;") != NULL);
    CHECK (s_count (svg, "<polyline") == 2);
    CHECK (s_count (svg, "<circle") == 3 + 2 + 2);   //  markers (NAN skipped) + legend
    CHECK (strstr (svg, ">83%<") && strstr (svg, ">100%<") && strstr (svg, ">50%<"));
    CHECK (strstr (svg, ">1<") && strstr (svg, ">3<"));
    if (verbose)
        printf ("%s", svg);
    free (svg);
    geak_svg_plot_destroy (&plot);
    geak_svg_plot_destroy (&plot);
    CHECK (plot == NULL);

    //  A histogram: 0.8, 1.5, 2.0 with 1.0 included -> width 0.1 from 0.8
    plot = geak_svg_plot_new ("speedup", "speedup", "lineages");
    double v [] = { 1.5, 0.8, 2.0, NAN };
    CHECK (geak_svg_plot_add_histogram (plot, "correct lineages", v, 4, 1.0) == GEAK_OK);
    geak_svg_plot_add_vline (plot, 1.0, "reference 1.0x");
    svg = geak_svg_plot_render (plot);
    CHECK (svg && s_balanced (svg));
    CHECK (s_count (svg, "<rect") == 2 + 3 + 1);     //  background, frame, 3 bars, legend
    CHECK (strstr (svg, "stroke-dasharray") != NULL);
    CHECK (strstr (svg, "[0.80, 0.90): 1") != NULL);
    free (svg);
    geak_svg_plot_destroy (&plot);

    //  Empty chart with a note; one value; too many series
    plot = geak_svg_plot_new (NULL, NULL, NULL);
    CHECK (geak_svg_plot_add_histogram (plot, "x", NULL, 0, NAN) == GEAK_OK);
    geak_svg_plot_add_histogram (plot, "y", (double []) { 3.0 }, 1, NAN);
    geak_svg_plot_set_note (plot, "no timed correct lineage");
    svg = geak_svg_plot_render (plot);
    CHECK (svg && s_balanced (svg) && strstr (svg, "no timed correct lineage"));
    free (svg);
    for (int i = 0; i < GEAK_SVG_SERIES_MAX; i++)
        geak_svg_plot_add_line (plot, "s", x, y, 3, false);
    CHECK (geak_svg_plot_add_line (plot, "s", x, y, 3, false) == GEAK_E_INVALID);
    CHECK (geak_svg_plot_save (plot, "/nonexistent-dir/x.svg") == GEAK_E_IO);
    geak_svg_plot_destroy (&plot);
    return s_failures ? 1 : 0;
}
