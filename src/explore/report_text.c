/* Text for the report: a growing buffer, HTML escaping, metric units and number formatting. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore/report_internal.h"

static bool reserve(td_sbuf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

static void put_n(td_sbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void td_sb_put(td_sbuf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

void td_sb_printf(td_sbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        put_n(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void td_sb_escape(td_sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&':
            td_sb_put(b, "&amp;");
            break;
        case '<':
            td_sb_put(b, "&lt;");
            break;
        case '>':
            td_sb_put(b, "&gt;");
            break;
        case '"':
            td_sb_put(b, "&quot;");
            break;
        case '\'':
            td_sb_put(b, "&#39;");
            break;
        default:
            if (c >= 0x20 && c != 0x7f)
                put_n(b, p, 1);
            else if (c == '\t' || c == '\n')
                put_n(b, " ", 1);
        }
    }
}

void td_sb_free(td_sbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

typedef struct unit_suffix {
    const char *suffix, *unit;
} unit_suffix;

static const unit_suffix units[] = {
    {"_ms", "ms"},   {"_us", "µs"}, {"_ns", "ns"}, {"_s", "s"},     {"_uj", "µJ"},
    {"_mj", "mJ"},   {"_nj", "nJ"}, {"_pj", "pJ"}, {"_j", "J"},     {"_mm2", "mm²"},
    {"_um2", "µm²"}, {"_kb", "KB"}, {"_mb", "MB"}, {"_gb", "GB"},   {"_bytes", "bytes"},
    {"_mw", "mW"},   {"_w", "W"},   {"_pct", "%"}, {"_mhz", "MHz"}, {"_gbps", "GB/s"},
};

void td_report_metric_name(const char *metric, char *name, size_t cap, const char **unit)
{
    size_t len = strlen(metric);
    *unit = "";
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        size_t sl = strlen(units[i].suffix);
        if (len > sl && !strcmp(metric + len - sl, units[i].suffix)) {
            *unit = units[i].unit;
            len -= sl;
            break;
        }
    }
    if (cap == 0)
        return;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        name[i] = metric[i] == '_' ? ' ' : metric[i];
    name[n] = 0;
}

bool td_report_is_accuracy(const char *metric)
{
    return !strncmp(metric, "acc", 3) || strstr(metric, "accuracy") || strstr(metric, "top1") ||
           strstr(metric, "top5");
}

void td_report_number(double v, char *out, size_t cap)
{
    double a = fabs(v);
    if (v == 0 || !isfinite(v)) {
        snprintf(out, cap, "%g", v == 0 ? 0.0 : v);
        return;
    }
    if (a < 1e-3 || a >= 1e7) {
        snprintf(out, cap, "%.3e", v);
        return;
    }
    int decimals = 3 - (int)floor(log10(a));
    if (decimals < 0)
        decimals = 0;
    snprintf(out, cap, "%.*f", decimals, v);
    if (decimals > 0 && strchr(out, '.')) {
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '0')
            out[--n] = 0;
        if (n > 0 && out[n - 1] == '.')
            out[--n] = 0;
    }
}

void td_report_label(const td_report_view *v, int m, char *name, size_t cap, const char **unit)
{
    td_report_metric_name(v->j->metrics[m], name, cap, unit);
    if (v->fraction[m])
        *unit = "%";
}

double td_report_shown(const td_report_view *v, int m, double x)
{
    return v->fraction[m] ? x * 100 : x;
}

void td_report_value(const td_report_view *v, int m, double x, char *out, size_t cap)
{
    if (v->fraction[m])
        snprintf(out, cap, "%.2f", x * 100);
    else
        td_report_number(x, out, cap);
}
