/* Shared pieces of `tandem bench <subject>`: timing, the machine's measured read
 * bandwidth, progress lines on stderr and a small JSON writer. Each subject lives in
 * its own bench/bench_<subject>.c and is listed in bench_main.c. */
#ifndef TANDEM_BENCH_H
#define TANDEM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tandem/tandem.h"

/* ---- subjects ---- */
int td_bench_kernels(int argc, char **argv); /* argv[0] is "kernels" */
void td_bench_kernels_usage(void);
int td_bench_cnn(int argc, char **argv); /* argv[0] is "cnn" */
void td_bench_cnn_usage(void);
int td_bench_sgemm(int argc, char **argv); /* argv[0] is "sgemm" */
void td_bench_sgemm_usage(void);
int td_bench_estimate(int argc, char **argv); /* argv[0] is "estimate" */
void td_bench_estimate_usage(void);
int td_bench_moo(int argc, char **argv); /* argv[0] is "moo" */
int td_bench_explore(int argc, char **argv);
int td_bench_deform(int argc, char **argv);
void td_bench_deform_usage(void);
int td_bench_attention(int argc, char **argv);
void td_bench_attention_usage(void);
int td_bench_moe(int argc, char **argv);
void td_bench_moe_usage(void);
void td_bench_explore_usage(void);
void td_bench_moo_usage(void);
int td_bench_scalesim(int argc, char **argv); /* argv[0] is "scalesim" */
void td_bench_scalesim_usage(void);
int td_bench_minilm(int argc, char **argv); /* argv[0] is "minilm" */
void td_bench_minilm_usage(void);

/* ---- time ---- */
double td_bench_now(void); /* monotonic seconds */
/* Median of n values (sorts v in place). n >= 1. */
double td_bench_median(double *v, int n);
/* UTC time as "2025-11-30T00:40:00Z". */
void td_bench_utc(char *buf, size_t len);

/* ---- memory bandwidth ----
 * Streaming read of `bytes` (far beyond the caches) by `threads` OpenMP threads, each
 * summing its own contiguous slice with the widest loads the CPU has. Returns the
 * median over `runs` of bytes / seconds in GB/s (1e9), or an error if the buffer
 * cannot be allocated. The buffer is allocated once and reused by every call. */
typedef struct td_bench_stream td_bench_stream;
td_status td_bench_stream_new(size_t bytes, td_bench_stream **out);
double td_bench_stream_gbps(td_bench_stream *s, int threads, int runs);
const char *td_bench_stream_isa(void); /* "avx512", "avx2" or "c": the loads used */
size_t td_bench_stream_bytes(const td_bench_stream *s);
/* One pass over about `bytes` bytes from `offset` (rounded to 512-byte blocks and kept
 * inside the buffer): the same streaming read, sized like one GEMV's weights, so the
 * two can be timed call by call in alternation. */
void td_bench_stream_read(td_bench_stream *s, size_t offset, size_t bytes, int threads);
void td_bench_stream_free(td_bench_stream *s);

/* ---- progress on stderr ----
 * On a terminal the line is rewritten in place; otherwise one line per step, so logs
 * stay readable. Reports printed to stdout never contain progress text. */
void td_bench_progress(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void td_bench_progress_clear(void);

/* ---- JSON writer ----
 * Just enough to write records: nested objects/arrays, escaped strings, numbers
 * (non-finite numbers become null, which JSON can represent). Keys are passed with
 * each value; pass key NULL inside arrays. */
typedef struct td_json {
    FILE *f;
    int depth;
    bool need_comma[32];
} td_json;

void td_json_init(td_json *j, FILE *f);
void td_json_begin_object(td_json *j, const char *key);
void td_json_end_object(td_json *j);
void td_json_begin_array(td_json *j, const char *key);
void td_json_end_array(td_json *j);
void td_json_str(td_json *j, const char *key, const char *value); /* NULL writes null */
void td_json_num(td_json *j, const char *key, double value);
void td_json_int(td_json *j, const char *key, long long value);
void td_json_bool(td_json *j, const char *key, bool value);
void td_json_null(td_json *j, const char *key);

/* Writes a whole file atomically: opens "<path>.tmp.<pid>" for `write`, and renames
 * it over `path` only if writing and closing succeeded, so readers never see a
 * half-written file. "-" writes to stdout. */
td_status td_bench_write_file(const char *path, void (*write)(FILE *f, void *arg), void *arg);
/* Runs a peer's Python script (its text) as `python SCRIPT ARGS` and keeps up to cap - 1 bytes
 * of its standard output in out. Returns 1 when it exited 0. */
int td_bench_run_python(const char *python, const char *script, const char *args, char *out,
                        size_t cap);
/* The number after the next `key` at or after *cur in a peer's JSON text; advances *cur.
 * -1 when absent. */
double td_bench_json_next_num(const char **cur, const char *key);

/* Fails early (before minutes of benchmarking) if that temporary file cannot be created. */
td_status td_bench_check_writable(const char *path);

#endif
