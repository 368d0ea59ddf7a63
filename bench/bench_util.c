/* Timing, progress lines, JSON writing and atomic file output for `tandem bench`. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double td_bench_now(void)
{
    return td_seconds();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double td_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void td_bench_utc(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- progress ---- */

static int progress_shown; /* a rewritable line is on the terminal */

void td_bench_progress(const char *fmt, ...)
{
    int tty = isatty(STDERR_FILENO);
    if (tty)
        fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty)
        fputc('\n', stderr);
    progress_shown = tty;
    fflush(stderr);
}

void td_bench_progress_clear(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        progress_shown = 0;
    }
}

/* ---- JSON ---- */

void td_json_init(td_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p >= 0x7f)
            /* Control bytes must be escaped; bytes above ASCII are escaped too (read as
             * Latin-1) so that the output is valid JSON whatever the input bytes were. */
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Comma, newline and indentation before a value, then "key": if there is a key. */
static void start_value(td_json *j, const char *key)
{
    if (j->depth > 0) {
        if (j->need_comma[j->depth])
            fputc(',', j->f);
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
        j->need_comma[j->depth] = true;
    }
    if (key) {
        put_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_scope(td_json *j, const char *key, char c)
{
    start_value(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < (int)(sizeof j->need_comma / sizeof j->need_comma[0]))
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_scope(td_json *j, char c)
{
    bool had = j->need_comma[j->depth];
    j->depth--;
    if (had) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(c, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void td_json_begin_object(td_json *j, const char *key)
{
    open_scope(j, key, '{');
}
void td_json_end_object(td_json *j)
{
    close_scope(j, '}');
}
void td_json_begin_array(td_json *j, const char *key)
{
    open_scope(j, key, '[');
}
void td_json_end_array(td_json *j)
{
    close_scope(j, ']');
}

void td_json_str(td_json *j, const char *key, const char *value)
{
    start_value(j, key);
    if (value)
        put_string(j->f, value);
    else
        fputs("null", j->f);
}

void td_json_num(td_json *j, const char *key, double value)
{
    start_value(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.9g", value);
    else
        fputs("null", j->f);
}

void td_json_int(td_json *j, const char *key, long long value)
{
    start_value(j, key);
    fprintf(j->f, "%lld", value);
}

void td_json_bool(td_json *j, const char *key, bool value)
{
    start_value(j, key);
    fputs(value ? "true" : "false", j->f);
}

void td_json_null(td_json *j, const char *key)
{
    start_value(j, key);
    fputs("null", j->f);
}

/* ---- atomic output ---- */

static char *tmp_name(const char *path)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp)
        snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

td_status td_bench_check_writable(const char *path)
{
    if (!strcmp(path, "-"))
        return TD_OK;
    char *tmp = tmp_name(path);
    if (!tmp)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate a file name");
    FILE *f = fopen(tmp, "w");
    td_status st = TD_OK;
    if (!f)
        st = td_error_new(TD_CODE_IO, "cannot create '%s': %s", tmp, strerror(errno));
    else
        fclose(f);
    remove(tmp);
    free(tmp);
    return st;
}

td_status td_bench_write_file(const char *path, void (*write)(FILE *f, void *arg), void *arg)
{
    if (!strcmp(path, "-")) {
        write(stdout, arg);
        if (fflush(stdout) != 0 || ferror(stdout))
            return td_error_new(TD_CODE_IO, "cannot write JSON to standard output");
        return TD_OK;
    }
    char *tmp = tmp_name(path);
    if (!tmp)
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "cannot allocate a file name");
    FILE *f = fopen(tmp, "w");
    if (!f) {
        td_status st = td_error_new(TD_CODE_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    write(f, arg);
    int bad = ferror(f);
    if (fclose(f) != 0)
        bad = 1;
    td_status st = TD_OK;
    if (bad)
        st = td_error_new(TD_CODE_IO, "error writing '%s'", tmp);
    else if (rename(tmp, path) != 0)
        st = td_error_new(TD_CODE_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (st)
        remove(tmp);
    free(tmp);
    return st;
}

int td_bench_run_python(const char *python, const char *script, const char *args, char *out,
                        size_t cap)
{
    char path[] = "/tmp/td_bench_peer_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "w");
    if (!f || fputs(script, f) < 0 || fclose(f) != 0) {
        unlink(path);
        return 0;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", python, path, args);
    FILE *p = popen(cmd, "r");
    size_t len = p ? fread(out, 1, cap - 1, p) : 0;
    int rc = p ? pclose(p) : -1;
    unlink(path);
    out[len] = '\0';
    return rc == 0;
}

double td_bench_json_next_num(const char **cur, const char *key)
{
    const char *p = strstr(*cur, key);
    if (!p)
        return -1;
    p += strlen(key);
    while (*p == '"' || *p == ':' || *p == ' ')
        p++;
    char *end;
    double v = strtod(p, &end);
    *cur = end;
    return end == p ? -1 : v;
}
