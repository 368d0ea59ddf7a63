/* The report's pieces: a growing text buffer with HTML escaping, metric names and units, the
 * view of a journal the page is drawn from (front, feasibility), and the SVG scatter plots. */
#ifndef TD_REPORT_INTERNAL_H
#define TD_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "explore/report_journal.h"

/* ---- text ---- */

typedef struct td_sbuf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
} td_sbuf;

void td_sb_put(td_sbuf *b, const char *s);
void td_sb_printf(td_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Journal text is user data: & < > " ' become entities and control characters are dropped. */
void td_sb_escape(td_sbuf *b, const char *s);
void td_sb_free(td_sbuf *b);

/* A metric's display name and unit from its suffix: "latency_ms" -> "latency", "ms";
 * "area_mm2" -> "area", "mm²". unit is "" when the name has no known suffix. */
void td_report_metric_name(const char *metric, char *name, size_t cap, const char **unit);
/* Metrics compared with the baseline by difference in points rather than by ratio. */
bool td_report_is_accuracy(const char *metric);
/* A value for tables and tooltips: 4 significant digits, no exponent for ordinary sizes. */
void td_report_number(double v, char *out, size_t cap);

/* ---- the view a page is drawn from ---- */

typedef struct td_report_view {
    const td_rj *j;
    double *violation; /* per eval: 0 when feasible, else its violation (1 if it gave none) */
    int n_feasible;
    int n_front;
    int *front; /* Pareto designs (eval indices), best first by the first objective */
    int n_closest;
    int *closest;   /* no feasible design: the 5 of smallest violation */
    bool *fraction; /* per metric: an accuracy held as a fraction in [0, 1] */
} td_report_view;

/* What the page shows of metric m: its name and unit ("%" for accuracies held as fractions),
 * its values in that unit, and those values as text. */
void td_report_label(const td_report_view *v, int m, char *name, size_t cap, const char **unit);
double td_report_shown(const td_report_view *v, int m, double x);
void td_report_value(const td_report_view *v, int m, double x, char *out, size_t cap);

td_status td_report_view_build(const td_rj *j, td_report_view *v);
void td_report_view_free(td_report_view *v);

/* Renders the whole page. */
td_status td_report_render(const td_report_view *v, td_sbuf *out);

/* One scatter plot of metric mx (x axis) against my (y axis). */
void td_report_plot(td_sbuf *b, const td_report_view *v, int mx, int my);

typedef struct td_report_summary {
    int evals, feasible, front;
    bool finished;
} td_report_summary;

/* td_report_write that also says what the page holds (for the command's one-line summary). */
td_status td_report_write_summary(const char *journal_path, const char *html_path,
                                  td_report_summary *sum);

#endif
