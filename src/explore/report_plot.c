/* SVG scatter plots of one metric against another: every evaluation in grey, the feasible ones
 * in blue, the Pareto designs in orange joined from left to right, and the spec's limits as
 * dashed lines with the infeasible side shaded. Inline SVG without a namespace URL, so the page
 * holds no address of any kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore/report_internal.h"

enum { W = 520, H = 370, ML = 70, MR = 20, MT = 42, MB = 52, PW = W - ML - MR, PH = H - MT - MB };

typedef struct axis {
    int metric;
    double lo, hi; /* the drawn range */
    bool log;
} axis;

/* Position along the axis, 0..1. */
static double frac(const axis *a, double v)
{
    if (a->log)
        return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}

static double px(const axis *a, double v)
{
    return ML + frac(a, v) * PW;
}

static double py(const axis *a, double v)
{
    return MT + PH - frac(a, v) * PH;
}

static bool usable(const td_rj_eval *e, int mx, int my)
{
    return !isnan(e->metrics[mx]) && !isnan(e->metrics[my]);
}

/* Values in the unit shown (accuracy fractions in percent). */
static double val(const td_report_view *v, const td_rj_eval *e, int m)
{
    return td_report_shown(v, m, e->metrics[m]);
}

static double limit_val(const td_report_view *v, const td_rj_constraint *c)
{
    return td_report_shown(v, c->metric, c->value);
}

/* A limit far outside the data would squash the points into a corner: only nearby limits widen
 * the range. */
static bool limit_fits(double v, double lo, double hi)
{
    double span = hi - lo > 0 ? hi - lo : fabs(hi) + 1;
    return v >= lo - span && v <= hi + span;
}

static void axis_range(const td_report_view *v, axis *a, int other)
{
    const td_rj *j = v->j;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < j->n_evals; i++) {
        if (!usable(&j->evals[i], a->metric, other))
            continue;
        double x = val(v, &j->evals[i], a->metric);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    double dlo = lo, dhi = hi;
    for (int c = 0; c < j->n_constraints; c++) {
        double x = limit_val(v, &j->constraints[c]);
        if (j->constraints[c].metric == a->metric && limit_fits(x, dlo, dhi)) {
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    }
    a->log = lo > 0 && hi / lo >= 30;
    if (a->log) {
        double pad = (log10(hi) - log10(lo)) * 0.05;
        a->lo = pow(10, log10(lo) - pad);
        a->hi = pow(10, log10(hi) + pad);
        return;
    }
    if (hi - lo <= fabs(hi) * 1e-12) {
        double d = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    double pad = (hi - lo) * 0.05;
    a->lo = lo - pad;
    a->hi = hi + pad;
}

static double nice_step(double raw)
{
    double e = pow(10, floor(log10(raw)));
    double f = raw / e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;
}

static void tick_label(double v, double step, char *out, size_t cap)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    double big = fabs(v);
    if (big >= 1e6 || (v != 0 && big < 1e-4)) {
        snprintf(out, cap, "%.3g", v);
        return;
    }
    int dec = (int)ceil(-log10(step) - 1e-9);
    snprintf(out, cap, "%.*f", dec > 0 ? dec : 0, v);
}

/* Tick values in the axis range: 1-2-5 steps, or decades (with 2 and 5 if few) on log axes. */
static int ticks(const axis *a, double *t, int cap, double *step)
{
    int n = 0;
    if (a->log) {
        int e0 = (int)floor(log10(a->lo)), e1 = (int)ceil(log10(a->hi));
        bool fine = log10(a->hi / a->lo) <= 2.5; /* 2 and 5 too over a few decades */
        for (int e = e0; e <= e1 && n < cap; e++)
            for (int m = 1; m <= 5 && n < cap; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e);
                if ((m == 1 || fine) && v >= a->lo && v <= a->hi)
                    t[n++] = v;
            }
        *step = 0;
        return n;
    }
    *step = nice_step((a->hi - a->lo) / 5);
    for (double k = ceil(a->lo / *step); k * *step <= a->hi && n < cap; k++)
        t[n++] = k * *step;
    return n;
}

static void axis_title(td_sbuf *b, const td_report_view *v, const axis *a)
{
    char name[128];
    const char *unit;
    td_report_label(v, a->metric, name, sizeof name, &unit);
    td_sb_escape(b, name);
    if (unit[0])
        td_sb_printf(b, " (%s)", unit);
    for (int o = 0; o < v->j->n_objectives; o++)
        if (v->j->objectives[o].metric == a->metric)
            td_sb_put(b, v->j->objectives[o].maximize ? ", higher is better" : ", lower is better");
    if (a->log)
        td_sb_put(b, ", log scale");
}

static void draw_axes(td_sbuf *b, const td_report_view *v, const axis *ax, const axis *ay)
{
    double t[64], step;
    char label[48];
    int n = ticks(ax, t, 64, &step);
    for (int i = 0; i < n; i++) {
        double x = px(ax, t[i]);
        if (ax->log)
            snprintf(label, sizeof label, "%g", t[i]);
        else
            tick_label(t[i], step, label, sizeof label);
        td_sb_printf(b,
                     "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                     "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                     "<text class=\"tl\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                     x, MT, x, MT + PH, x, MT + PH, x, MT + PH + 5, x, MT + PH + 18, label);
    }
    n = ticks(ay, t, 64, &step);
    for (int i = 0; i < n; i++) {
        double y = py(ay, t[i]);
        if (ay->log)
            snprintf(label, sizeof label, "%g", t[i]);
        else
            tick_label(t[i], step, label, sizeof label);
        td_sb_printf(b,
                     "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                     "<line class=\"tick\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                     "<text class=\"tl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                     ML, y, ML + PW, y, ML - 5, y, ML, y, ML - 8, y + 4, label);
    }
    td_sb_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", ML,
                 MT, PW, PH);
    td_sb_printf(b, "<text class=\"al\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + PW / 2,
                 H - 12);
    axis_title(b, v, ax);
    td_sb_printf(b,
                 "</text>\n<text class=\"al\" transform=\"translate(16 %d) rotate(-90)\" "
                 "text-anchor=\"middle\">",
                 MT + PH / 2);
    axis_title(b, v, ay);
    td_sb_put(b, "</text>\n");
}

static void limit_label(td_sbuf *b, const td_report_view *v, const td_rj_constraint *c)
{
    char name[128], num[32];
    const char *unit;
    td_report_label(v, c->metric, name, sizeof name, &unit);
    td_report_value(v, c->metric, c->value, num, sizeof num);
    td_sb_escape(b, name);
    td_sb_printf(b, " %s %s%s%s", c->at_least ? "≥" : "≤", num,
                 unit[0] && strcmp(unit, "%") ? " " : "", unit);
}

/* Shade the side of each limit that breaks it (drawn under the points). Returns how many
 * limits are on the plot. */
static int shade_limits(td_sbuf *b, const td_report_view *v, const axis *ax, const axis *ay)
{
    int drawn = 0;
    for (int c = 0; c < v->j->n_constraints; c++) {
        const td_rj_constraint *k = &v->j->constraints[c];
        const axis *a = k->metric == ax->metric ? ax : k->metric == ay->metric ? ay : NULL;
        double lim = limit_val(v, k);
        if (!a || lim < a->lo || lim > a->hi)
            continue;
        drawn++;
        if (a == ax) {
            double x = px(ax, lim);
            /* right of a "<=" limit breaks it, left of a ">=" one */
            double sx = k->at_least ? ML : x, sw = k->at_least ? x - ML : ML + PW - x;
            td_sb_printf(b,
                         "<rect class=\"bad\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                         "height=\"%d\"/>\n",
                         sx, MT, sw, PH);
        } else {
            double y = py(ay, lim);
            double sy = k->at_least ? y : MT, sh = k->at_least ? MT + PH - y : y - MT;
            td_sb_printf(b,
                         "<rect class=\"bad\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
                         "height=\"%.1f\"/>\n",
                         ML, sy, PW, sh);
        }
    }
    return drawn;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

typedef struct spot {
    double x, y;
    bool end; /* text-anchor end */
} spot;

static box text_box(spot s, double width)
{
    double x0 = s.end ? s.x - width : s.x;
    return (box){x0, s.y - 10, x0 + width, s.y + 3};
}

static bool overlaps(box a, const box *placed, int n)
{
    for (int i = 0; i < n; i++)
        if (a.x0 < placed[i].x1 && placed[i].x0 < a.x1 && a.y0 < placed[i].y1 &&
            placed[i].y0 < a.y1)
            return true;
    return false;
}

/* Characters, not bytes: "≤" is one glyph. */
static double text_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return 6.1 * n;
}

/* Label positions to try, best first: a vertical line's label at the top beside it, then at
 * the bottom; a horizontal line's above its right end, below it, then at the left end. */
static int label_spots(bool vertical, double at, spot *s)
{
    if (vertical) {
        bool right = at > ML + PW * 0.7;
        double x = right ? at - 4 : at + 4;
        s[0] = (spot){x, MT + 13, right};
        s[1] = (spot){x, MT + PH - 6, right};
        s[2] = (spot){x, MT + PH / 2.0, right};
        return 3;
    }
    double above = at < MT + 16 ? at + 13 : at - 5, below = at > MT + PH - 16 ? at - 5 : at + 13;
    s[0] = (spot){ML + PW - 4, above, true};
    s[1] = (spot){ML + PW - 4, below, true};
    s[2] = (spot){ML + 4, above, false};
    s[3] = (spot){ML + 4, below, false};
    return 4;
}

/* The dashed limit lines and their labels (over the points), labels kept apart. */
static void draw_limits(td_sbuf *b, const td_report_view *v, const axis *ax, const axis *ay)
{
    box placed[2 * TD_REPORT_MAX_NAMES];
    int n_placed = 0;
    for (int c = 0; c < v->j->n_constraints; c++) {
        const td_rj_constraint *k = &v->j->constraints[c];
        const axis *a = k->metric == ax->metric ? ax : k->metric == ay->metric ? ay : NULL;
        double lim = limit_val(v, k);
        if (!a || lim < a->lo || lim > a->hi)
            continue;
        bool vertical = a == ax;
        double at = vertical ? px(ax, lim) : py(ay, lim);
        if (vertical)
            td_sb_printf(b, "<line class=\"limit\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
                         at, MT, at, MT + PH);
        else
            td_sb_printf(b, "<line class=\"limit\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>",
                         ML, at, ML + PW, at);
        td_sbuf label = {0};
        limit_label(&label, v, k);
        double width = label.data ? text_width(label.data) : 0;
        spot s[4];
        int n = label_spots(vertical, at, s), pick = 0;
        while (pick < n && overlaps(text_box(s[pick], width), placed, n_placed))
            pick++;
        if (pick == n)
            pick = 0;
        placed[n_placed++] = text_box(s[pick], width);
        td_sb_printf(b, "<text class=\"ll\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
                     s[pick].x, s[pick].y, s[pick].end ? "end" : "start",
                     label.data ? label.data : "");
        b->failed = b->failed || label.failed;
        td_sb_free(&label);
    }
}

/* Cloud of points as one path of zero-length round-capped segments (a dot each, a fifth of the
 * bytes of circles). A point on a 2-pixel cell already drawn is skipped, which keeps the plot of
 * a million evaluations as small as one of a few thousand and looks the same. */
static int draw_cloud(td_sbuf *b, const td_report_view *v, const axis *ax, const axis *ay,
                      bool feasible_only, const char *cls)
{
    enum { CW = PW / 2 + 2, CH = PH / 2 + 2 };
    const td_rj *j = v->j;
    unsigned char *seen = calloc((size_t)CW * CH, 1);
    int count = 0;
    td_sb_printf(b, "<path class=\"%s\" d=\"", cls);
    for (int i = 0; i < j->n_evals; i++) {
        const td_rj_eval *e = &j->evals[i];
        if (!usable(e, ax->metric, ay->metric) || (feasible_only && v->violation[i] > 0))
            continue;
        count++;
        double x = px(ax, val(v, e, ax->metric)), y = py(ay, val(v, e, ay->metric));
        size_t cell = (size_t)lround((y - MT) / 2) * CW + (size_t)lround((x - ML) / 2);
        if (seen && seen[cell])
            continue;
        if (seen)
            seen[cell] = 1;
        td_sb_printf(b, "M%.1f %.1fh0", x, y);
    }
    td_sb_put(b, "\"/>\n");
    free(seen);
    return count;
}

static void point_title(td_sbuf *b, const td_report_view *v, const td_rj_eval *e, int mx, int my)
{
    td_sb_printf(b, "<title>n %lld", e->n);
    int ms[2] = {mx, my};
    for (int k = 0; k < 2; k++) {
        char name[128], num[32];
        const char *unit;
        td_report_label(v, ms[k], name, sizeof name, &unit);
        td_report_value(v, ms[k], e->metrics[ms[k]], num, sizeof num);
        td_sb_put(b, k ? ", " : ": ");
        td_sb_escape(b, name);
        td_sb_printf(b, " %s%s%s", num, unit[0] && strcmp(unit, "%") ? " " : "", unit);
    }
    td_sb_put(b, "</title>");
}

typedef struct xy {
    double x, y; /* pixels */
    double a, b; /* the two metrics, smaller is better */
    int i;
} xy;

static int cmp_xy(const void *pa, const void *pb)
{
    const xy *a = pa, *b = pb;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    return a->i - b->i;
}

static int cmp_ab(const void *pa, const void *pb)
{
    const xy *a = pa, *b = pb;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->i - b->i;
}

/* +1 when smaller is better on this metric, -1 when larger is. */
static double better_sign(const td_rj *j, int m)
{
    for (int o = 0; o < j->n_objectives; o++)
        if (j->objectives[o].metric == m)
            return j->objectives[o].maximize ? -1 : 1;
    return td_report_is_accuracy(j->metrics[m]) ? -1 : 1;
}

/* The line through the designs that no other marked design beats in both plotted metrics: with
 * more than two objectives the front's projection is a cloud, and a line through all of it
 * would zig-zag; this is its two-metric front (all of it with two objectives). */
static void join_front(td_sbuf *b, xy *p, int k)
{
    qsort(p, (size_t)k, sizeof *p, cmp_ab);
    int kept = 0;
    for (int i = 0; i < k; i++)
        if (kept == 0 || p[i].b < p[kept - 1].b)
            p[kept++] = p[i];
    qsort(p, (size_t)kept, sizeof *p, cmp_xy);
    if (kept < 2)
        return;
    td_sb_put(b, "<polyline points=\"");
    for (int i = 0; i < kept; i++)
        td_sb_printf(b, "%s%.1f,%.1f", i ? " " : "", p[i].x, p[i].y);
    td_sb_put(b, "\"/>");
}

/* Highlighted designs: the front (joined), or the closest ones when none is feasible. */
static int draw_marked(td_sbuf *b, const td_report_view *v, const axis *ax, const axis *ay,
                       const int *rows, int n, bool join, const char *cls)
{
    xy *p = malloc(sizeof *p * (size_t)(n ? n : 1));
    if (!p) {
        b->failed = true;
        return 0;
    }
    double sx = better_sign(v->j, ax->metric), sy = better_sign(v->j, ay->metric);
    int k = 0;
    for (int r = 0; r < n; r++) {
        const td_rj_eval *e = &v->j->evals[rows[r]];
        double x = val(v, e, ax->metric), y = val(v, e, ay->metric);
        if (usable(e, ax->metric, ay->metric))
            p[k++] = (xy){px(ax, x), py(ay, y), sx * x, sy * y, rows[r]};
    }
    td_sb_printf(b, "<g class=\"%s\">", cls);
    xy *line = join ? malloc(sizeof *line * (size_t)(k ? k : 1)) : NULL;
    if (line) {
        memcpy(line, p, sizeof *line * (size_t)k);
        join_front(b, line, k); /* under the points */
        free(line);
    }
    for (int i = 0; i < k; i++) {
        td_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.2\">", p[i].x, p[i].y);
        point_title(b, v, &v->j->evals[p[i].i], ax->metric, ay->metric);
        td_sb_put(b, "</circle>");
    }
    td_sb_put(b, "</g>\n");
    free(p);
    return k;
}

typedef struct legend {
    double x;
} legend;

static void legend_item(td_sbuf *b, legend *l, const char *mark, const char *text, int count)
{
    char label[96];
    if (count >= 0)
        snprintf(label, sizeof label, "%s (%d)", text, count);
    else
        snprintf(label, sizeof label, "%s", text);
    td_sb_printf(b,
                 "<g transform=\"translate(%.1f 18)\">%s<text class=\"lg\" x=\"12\" y=\"4\">%s"
                 "</text></g>",
                 l->x, mark, label);
    l->x += 24 + 6.3 * (double)strlen(label);
}

static void draw_legend(td_sbuf *b, const td_report_view *v, int n_all, int n_feas, int n_marked,
                        int n_limits)
{
    legend l = {ML};
    td_sb_put(b, "<g class=\"legend\">");
    legend_item(b, &l, "<circle class=\"all\" r=\"3\"/>", "evaluated", n_all);
    if (v->n_front > 0) {
        legend_item(b, &l, "<circle class=\"feas\" r=\"3\"/>", "feasible", n_feas);
        legend_item(b, &l,
                    "<line class=\"front\" x1=\"-6\" y1=\"0\" x2=\"6\" y2=\"0\"/>"
                    "<circle class=\"front\" r=\"4\"/>",
                    "Pareto", n_marked);
    } else {
        legend_item(b, &l, "<circle class=\"closest\" r=\"4\"/>", "closest to the spec", n_marked);
    }
    if (n_limits > 0)
        legend_item(b, &l, "<line class=\"limit\" x1=\"-7\" y1=\"0\" x2=\"7\" y2=\"0\"/>",
                    "spec limit", -1);
    td_sb_put(b, "</g>\n");
}

void td_report_plot(td_sbuf *b, const td_report_view *v, int mx, int my)
{
    axis ax = {.metric = mx}, ay = {.metric = my};
    axis_range(v, &ax, my);
    axis_range(v, &ay, mx);
    td_sb_printf(b,
                 "<svg class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "role=\"img\">\n",
                 W, H, W, H);
    draw_axes(b, v, &ax, &ay);
    int n_limits = shade_limits(b, v, &ax, &ay);
    int n_all = draw_cloud(b, v, &ax, &ay, false, "all");
    int n_feas = draw_cloud(b, v, &ax, &ay, true, "feas");
    int n_marked = v->n_front > 0
                       ? draw_marked(b, v, &ax, &ay, v->front, v->n_front, true, "front")
                       : draw_marked(b, v, &ax, &ay, v->closest, v->n_closest, false, "closest");
    draw_limits(b, v, &ax, &ay);
    draw_legend(b, v, n_all, n_feas, n_marked, n_limits);
    td_sb_put(b, "</svg>\n");
}
