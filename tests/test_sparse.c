/* Structured sparsity: N:M pruning rules, the compressed N:M and group-sparse
 * encodings over every value format, their byte counts, and bad input. The kernels
 * are tested in test_sparse_kernels.c. */
#include "td_test.h"

#include "formats/qmatrix_internal.h"
#include "tandem/sparse.h"

/* A value format still being written returns UNSUPPORTED "... not implemented yet";
 * those cases are skipped with a note. Any other failure, or that error once the
 * format exists, fails the test. */
static bool format_ready(td_format fmt)
{
    td_qspec spec = td_qspec_default(fmt);
    float w[64];
    for (int i = 0; i < 64; i++)
        w[i] = (float)(i % 7) - 3.0f;
    td_qmatrix *q = NULL;
    td_status st = td_qmatrix_quantize(&spec, w, 1, 64, 64, &q);
    td_qmatrix_free(q);
    if (st && td_status_code(st) == TD_CODE_UNSUPPORTED &&
        strstr(td_status_message(st), "not implemented yet")) {
        printf("note: %s is not implemented yet; its sparse cases are skipped\n",
               td_format_get(fmt)->name);
        td_status_free(st);
        return false;
    }
    TD_CHECK(st == NULL, "dense %s: %s", td_format_get(fmt)->name, td_status_message(st));
    td_status_free(st);
    return st == NULL;
}

static void fill(td_rng *rng, float *w, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        w[i] = td_rng_normal(rng);
}

/* ---- pruning ---- */

static void prune_keeps_exactly_n_of_every_m(void)
{
    td_rng rng = {1};
    const int nm[][2] = {{2, 4}, {1, 4}, {2, 8},  {4, 8},   {4, 16},
                         {3, 8}, {1, 2}, {7, 16}, {15, 16}, {5, 7}};
    for (size_t c = 0; c < sizeof nm / sizeof nm[0]; c++) {
        int n = nm[c][0], m = nm[c][1];
        int64_t rows = 5, cols = 67; /* 67 is a multiple of no M here: short tail block */
        float w[5 * 67], out[5 * 67];
        uint8_t mask[5 * 67];
        fill(&rng, w, rows * cols);
        TD_CHECK_OK(td_nm_prune(w, rows, cols, cols, n, m, NULL, out));
        TD_CHECK_OK(td_nm_mask(w, rows, cols, cols, n, m, NULL, mask));
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t k0 = 0; k0 < cols; k0 += m) {
                int64_t len = cols - k0 < m ? cols - k0 : m;
                int kept = 0;
                float min_kept = INFINITY, max_pruned = 0.0f;
                for (int64_t k = k0; k < k0 + len; k++) {
                    int64_t i = r * cols + k;
                    TD_CHECK(out[i] == (mask[i] ? w[i] : 0.0f), "%d:%d prune and mask agree", n, m);
                    kept += mask[i];
                    if (mask[i])
                        min_kept = fminf(min_kept, fabsf(w[i]));
                    else
                        max_pruned = fmaxf(max_pruned, fabsf(w[i]));
                }
                TD_CHECK(kept == (len < n ? len : n), "%d:%d block at %lld keeps %d of %lld", n, m,
                         (long long)k0, kept, (long long)len);
                TD_CHECK(min_kept >= max_pruned, "%d:%d keeps the largest magnitudes", n, m);
            }
        }
    }
}

static void importance_changes_the_choice(void)
{
    /* By magnitude 2:4 keeps -3 and 2. Weighting channel 0 and 3 by 10 makes their
     * scores 10 and 5, above 3 and 2. */
    const float w[4] = {1.0f, -3.0f, 2.0f, 0.5f};
    const float imp[4] = {10.0f, 1.0f, 1.0f, 10.0f};
    float out[4];
    TD_CHECK_OK(td_nm_prune(w, 1, 4, 4, 2, 4, NULL, out));
    TD_CHECK(out[0] == 0 && out[1] == -3.0f && out[2] == 2.0f && out[3] == 0,
             "magnitude: %g %g %g %g", out[0], out[1], out[2], out[3]);
    TD_CHECK_OK(td_nm_prune(w, 1, 4, 4, 2, 4, imp, out));
    TD_CHECK(out[0] == 1.0f && out[1] == 0 && out[2] == 0 && out[3] == 0.5f,
             "importance: %g %g %g %g", out[0], out[1], out[2], out[3]);
    /* Zero importance makes a channel lose to everything but ties among zeros. */
    const float zero_imp[4] = {0.0f, 0.0f, 1.0f, 1.0f};
    TD_CHECK_OK(td_nm_prune(w, 1, 4, 4, 2, 4, zero_imp, out));
    TD_CHECK(out[0] == 0 && out[1] == 0 && out[2] == 2.0f && out[3] == 0.5f,
             "zero importance: %g %g %g %g", out[0], out[1], out[2], out[3]);
}

static void ties_keep_the_lower_index(void)
{
    const float flat[8] = {1, 1, 1, 1, 2, -2, 1, 2};
    float out[8];
    TD_CHECK_OK(td_nm_prune(flat, 1, 8, 8, 2, 4, NULL, out));
    TD_CHECK(out[0] == 1 && out[1] == 1 && out[2] == 0 && out[3] == 0, "equal weights");
    TD_CHECK(out[4] == 2 && out[5] == -2 && out[6] == 0 && out[7] == 0,
             "|2| three times: the first two win");
    /* Zeros tie too: a 1:4 block of zeros keeps position 0. */
    const float zeros[4] = {0, 0, 0, 0};
    uint8_t mask[4];
    TD_CHECK_OK(td_nm_mask(zeros, 1, 4, 4, 1, 4, NULL, mask));
    TD_CHECK(mask[0] == 1 && mask[1] + mask[2] + mask[3] == 0, "zeros keep position 0");
}

static void short_tail_block(void)
{
    /* cols = 6 with 2:4: the tail [5, 6] is shorter than N... */
    const float w[6] = {1, 2, 3, 4, 5, 6};
    float out[6];
    TD_CHECK_OK(td_nm_prune(w, 1, 6, 6, 2, 4, NULL, out));
    TD_CHECK(out[0] == 0 && out[1] == 0 && out[2] == 3 && out[3] == 4 && out[4] == 5 && out[5] == 6,
             "2:4 over 6 columns");
    /* ...with 1:4 it keeps its largest. */
    TD_CHECK_OK(td_nm_prune(w, 1, 6, 6, 1, 4, NULL, out));
    TD_CHECK(out[3] == 4 && out[4] == 0 && out[5] == 6 && out[0] + out[1] + out[2] == 0,
             "1:4 over 6 columns");
    /* Leading dimension larger than cols is honoured. */
    const float wl[2 * 5] = {9, 1, 2, 3, -99, 1, 5, 4, 3, -99};
    float ol[2 * 4];
    TD_CHECK_OK(td_nm_prune(wl, 2, 4, 5, 1, 4, NULL, ol));
    TD_CHECK(ol[0] == 9 && ol[5] == 5 && ol[1] + ol[2] + ol[3] + ol[4] + ol[6] + ol[7] == 0,
             "ld 5");
}

static void index_bits(void)
{
    TD_CHECK(td_nm_index_bits(2) == 1, "M = 2");
    TD_CHECK(td_nm_index_bits(3) == 2 && td_nm_index_bits(4) == 2, "M = 3, 4");
    TD_CHECK(td_nm_index_bits(5) == 3 && td_nm_index_bits(8) == 3, "M = 5, 8");
    TD_CHECK(td_nm_index_bits(9) == 4 && td_nm_index_bits(16) == 4, "M = 9, 16");
    TD_CHECK(td_nm_index_bits(17) == 0 && td_nm_index_bits(1) == 0, "out of range");
}

/* ---- N:M compression ---- */

static td_qspec nm_spec(td_format fmt, int n, int m)
{
    td_qspec s = td_qspec_default(fmt);
    s.sparsity = TD_SPARSE_NM;
    s.nm_n = n;
    s.nm_m = m;
    return s;
}

/* f32 values are stored exactly, so dequantize must return the pruned matrix bit for
 * bit, whatever N:M, K and importance. */
static void nm_f32_round_trip_is_exact(void)
{
    td_rng rng = {2};
    const int nm[][2] = {{2, 4}, {1, 4}, {2, 8}, {4, 8}, {4, 16}, {3, 8}, {1, 2}, {15, 16}};
    const int64_t ks[] = {1, 7, 33, 100, 129, 500};
    for (size_t c = 0; c < sizeof nm / sizeof nm[0]; c++) {
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            int64_t rows = 9, cols = ks[ki];
            float *w = malloc(sizeof(float) * rows * cols);
            float *imp = malloc(sizeof(float) * cols);
            float *pruned = malloc(sizeof(float) * rows * cols);
            float *deq = malloc(sizeof(float) * rows * cols);
            fill(&rng, w, rows * cols);
            for (int64_t k = 0; k < cols; k++)
                imp[k] = (float)(k % 5);
            for (int use_imp = 0; use_imp < 2; use_imp++) {
                td_qspec s = nm_spec(TD_F32, nm[c][0], nm[c][1]);
                s.importance = use_imp ? imp : NULL;
                td_qmatrix *q = NULL;
                TD_CHECK_OK(td_qmatrix_quantize(&s, w, rows, cols, cols, &q));
                if (!q)
                    continue;
                TD_CHECK(td_qmatrix_spec(q)->importance == NULL, "importance not retained");
                TD_CHECK(q->kpad % nm[c][1] == 0 && q->kpad >= cols, "kpad %lld",
                         (long long)q->kpad);
                TD_CHECK(q->kc == q->kpad / nm[c][1] * nm[c][0], "kc %lld", (long long)q->kc);
                TD_CHECK_OK(
                    td_nm_prune(w, rows, cols, cols, nm[c][0], nm[c][1], s.importance, pruned));
                TD_CHECK_OK(td_qmatrix_dequantize(q, deq));
                TD_CHECK(memcmp(pruned, deq, sizeof(float) * rows * cols) == 0,
                         "%d:%d K=%lld importance %d: dequantized != pruned", nm[c][0], nm[c][1],
                         (long long)cols, use_imp);
                td_qmatrix_free(q);
            }
            free(w);
            free(imp);
            free(pruned);
            free(deq);
        }
    }
}

/* Quantized value formats: dequantize equals the pruned matrix up to the format's
 * rounding, i.e. within half a scale step for integer formats; pruned weights are
 * exactly 0. */
static void nm_quantized_formats_round_trip(void)
{
    td_rng rng = {3};
    const char *specs[] = {"int8:2:4",          "int8:2:8",      "int8:g32:3:8", "int8:asym:1:4",
                           "int4:2:4",          "int4:g32:4:16", "int6:2:4",     "int6:g64:1:8",
                           "int4:asym:g64:2:8", "bf16:2:4",      "f16:4:16"};
    for (size_t c = 0; c < sizeof specs / sizeof specs[0]; c++) {
        td_qspec s;
        TD_CHECK_OK(td_qspec_parse(specs[c], &s));
        if (!format_ready(s.format))
            continue;
        int64_t rows = 7, cols = 300;
        float *w = malloc(sizeof(float) * rows * cols);
        float *pruned = malloc(sizeof(float) * rows * cols);
        float *deq = malloc(sizeof(float) * rows * cols);
        fill(&rng, w, rows * cols);
        td_qmatrix *q = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, rows, cols, cols, &q));
        if (q) {
            TD_CHECK_OK(td_nm_prune(w, rows, cols, cols, s.nm_n, s.nm_m, NULL, pruned));
            TD_CHECK_OK(td_qmatrix_dequantize(q, deq));
            double worst = 0.0;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t k = 0; k < cols; k++) {
                    float p = pruned[r * cols + k], d = deq[r * cols + k];
                    if (p == 0.0f) {
                        TD_CHECK(d == 0.0f, "%s: pruned (%lld, %lld) reads %g", specs[c],
                                 (long long)r, (long long)k, d);
                        continue;
                    }
                    /* Kept value j of row r sits in kept-value group j / gsize; its
                     * block's kept values span j0 .. j0 + N - 1. */
                    int64_t j0 = k / s.nm_m * s.nm_n;
                    double tol;
                    if (td_format_get(s.format)->is_float) /* bf16/f16: half an ulp */
                        tol = fabs(p) * 0x1p-8 + 1e-7;
                    else
                        tol = 0.5 * (1 + 1e-5) *
                              fmax(td_q_scale(q, r, j0 / q->gsize),
                                   td_q_scale(q, r, (j0 + s.nm_n - 1) / q->gsize));
                    double err = fabs((double)d - p);
                    worst = fmax(worst, err / tol);
                }
            }
            TD_CHECK(worst <= 1.0, "%s: error %.3f x the rounding bound", specs[c], worst);
            td_qmatrix_free(q);
        }
        free(w);
        free(pruned);
        free(deq);
    }
}

/* Bits per weight: (value bits + index bits) * N / M plus scales; the index costs
 * ceil(log2 M) bits per kept value. */
static void nm_byte_counts(void)
{
    float *w = malloc(sizeof(float) * 16 * 4096);
    td_rng rng = {4};
    fill(&rng, w, 16 * 4096);
    td_qmatrix *q = NULL;
    td_qspec s = nm_spec(TD_F32, 2, 4);
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 16, 4096, 4096, &q));
    if (q) { /* (32 * 2 + 2 * 2) / 4 = 17 bits, no scales */
        TD_CHECK(td_qmatrix_bytes(q) == 16 * (2048 * 4 + 2048 * 2 / 8), "f32 2:4 bytes %zu",
                 td_qmatrix_bytes(q));
        TD_CHECK(td_qmatrix_bits_per_weight(q) == 17.0, "f32 2:4 bits %g",
                 td_qmatrix_bits_per_weight(q));
        td_qmatrix_free(q);
    }
    if (format_ready(TD_INT8)) {
        /* int8 per-channel 2:4: 8 * 2/4 + 2 * 2/4 = 5 bits, plus one f32 scale per row */
        s = nm_spec(TD_INT8, 2, 4);
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 16, 4096, 4096, &q));
        if (q) {
            TD_CHECK(td_qmatrix_bytes(q) == 16 * (2048 + 512 + 4), "int8 2:4 bytes %zu",
                     td_qmatrix_bytes(q));
            TD_CHECK(fabs(td_qmatrix_bits_per_weight(q) - (5.0 + 32.0 / 4096)) < 1e-12,
                     "int8 2:4 bits %g", td_qmatrix_bits_per_weight(q));
            td_qmatrix_free(q);
        }
        /* 2:8: 8 * 2/8 + 3 * 2/8 = 2.75 bits (+ scale) */
        s = nm_spec(TD_INT8, 2, 8);
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 16, 4096, 4096, &q));
        if (q) {
            TD_CHECK(td_qmatrix_bytes(q) == 16 * (1024 + 384 + 4), "int8 2:8 bytes %zu",
                     td_qmatrix_bytes(q));
            td_qmatrix_free(q);
        }
    }
    if (format_ready(TD_INT4)) {
        /* int4 g128 2:4: 4 * 2/4 + 2 * 2/4 = 3 bits, plus a scale per 128 kept values */
        s = nm_spec(TD_INT4, 2, 4);
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 16, 4096, 4096, &q));
        if (q) {
            TD_CHECK(td_qmatrix_bytes(q) == 16 * (1024 + 512 + 16 * 4), "int4 2:4 bytes %zu",
                     td_qmatrix_bytes(q));
            td_qmatrix_free(q);
        }
    }
    free(w);
}

/* K padding: kc holds whole scale groups and whole blocks. */
static void nm_padding(void)
{
    float w[3 * 100];
    td_rng rng = {5};
    fill(&rng, w, 300);
    td_qmatrix *q = NULL;
    td_qspec s = nm_spec(TD_F32, 3, 8); /* per row: kc a multiple of lcm(64, 3) = 192 */
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 3, 100, 100, &q));
    if (q) {
        TD_CHECK(q->kc == 192 && q->kpad == 512 && q->idx_bits == 3 && q->idx_row_bytes == 72,
                 "3:8 K=100: kc %lld kpad %lld", (long long)q->kc, (long long)q->kpad);
        td_qmatrix_free(q);
    }
    if (format_ready(TD_INT4)) {
        s = nm_spec(TD_INT4, 2, 4); /* group 128 kept values = 256 columns */
        TD_CHECK_OK(td_qmatrix_quantize(&s, w, 3, 100, 100, &q));
        if (q) {
            TD_CHECK(q->kc == 128 && q->kpad == 256 && q->gsize == 128 && q->ngroups == 1,
                     "int4 2:4 K=100: kc %lld kpad %lld", (long long)q->kc, (long long)q->kpad);
            td_qmatrix_free(q);
        }
    }
}

/* ---- group sparsity ---- */

static td_qspec gs_spec(td_format fmt, int group, double frac)
{
    td_qspec s = td_qspec_default(fmt);
    s.group = group;
    s.sparsity = TD_SPARSE_GROUP;
    s.group_prune = frac;
    return s;
}

/* Every row drops round(fraction * groups) groups (at most all but one), those
 * with the smallest L2 norm, and the kept groups hold exactly the codes the dense
 * format gives them. */
static void group_sparse_prunes_the_weakest_groups(void)
{
    const td_format fmts[] = {TD_INT4, TD_INT8, TD_INT6};
    const double fracs[] = {0.0, 0.25, 0.5, 0.75, 0.99};
    td_rng rng = {6};
    for (size_t f = 0; f < 3; f++) {
        if (!format_ready(fmts[f]))
            continue;
        int64_t rows = 6, cols = 300; /* 10 groups of 32, the last one short */
        float *w = malloc(sizeof(float) * rows * cols);
        float *dense = malloc(sizeof(float) * rows * cols);
        float *deq = malloc(sizeof(float) * rows * cols);
        fill(&rng, w, rows * cols);
        for (int64_t r = 0; r < rows; r++) /* group r of row r is loud, group 9 of each quiet */
            for (int64_t k = 0; k < 32; k++)
                w[r * cols + r * 32 + k] *= 8.0f;
        td_qspec ds = td_qspec_default(fmts[f]);
        ds.group = 32;
        td_qmatrix *dq = NULL;
        TD_CHECK_OK(td_qmatrix_quantize(&ds, w, rows, cols, cols, &dq));
        TD_CHECK_OK(td_qmatrix_dequantize(dq, dense));
        td_qmatrix_free(dq);
        for (size_t fi = 0; fi < sizeof fracs / sizeof fracs[0]; fi++) {
            td_qspec s = gs_spec(fmts[f], 32, fracs[fi]);
            td_qmatrix *q = NULL;
            TD_CHECK_OK(td_qmatrix_quantize(&s, w, rows, cols, cols, &q));
            if (!q)
                continue;
            int64_t G = 10, pruned = (int64_t)floor(fracs[fi] * G + 0.5);
            pruned = pruned > G - 1 ? G - 1 : pruned;
            TD_CHECK(q->gs_kept == rows * (G - pruned), "%s frac %g: %lld groups kept",
                     td_format_get(fmts[f])->name, fracs[fi], (long long)q->gs_kept);
            TD_CHECK_OK(td_qmatrix_dequantize(q, deq));
            for (int64_t r = 0; r < rows; r++) {
                double min_kept = INFINITY, max_pruned = 0.0;
                for (int64_t g = 0; g < G; g++) {
                    double norm = 0.0;
                    bool kept = false;
                    for (int64_t i = q->gs_row_ptr[r]; i < q->gs_row_ptr[r + 1]; i++)
                        kept |= q->gs_group[i] == g;
                    for (int64_t k = g * 32; k < (g + 1) * 32 && k < cols; k++) {
                        float d = deq[r * cols + k];
                        norm += (double)w[r * cols + k] * w[r * cols + k];
                        TD_CHECK(d == (kept ? dense[r * cols + k] : 0.0f),
                                 "row %lld group %lld: %g vs dense %g", (long long)r, (long long)g,
                                 d, dense[r * cols + k]);
                    }
                    if (kept)
                        min_kept = fmin(min_kept, norm);
                    else
                        max_pruned = fmax(max_pruned, norm);
                }
                TD_CHECK(min_kept >= max_pruned, "row %lld keeps the strongest groups",
                         (long long)r);
                if (pruned < G) {
                    bool loud_kept = false;
                    for (int64_t i = q->gs_row_ptr[r]; i < q->gs_row_ptr[r + 1]; i++)
                        loud_kept |= q->gs_group[i] == r;
                    TD_CHECK(loud_kept, "row %lld keeps its loud group", (long long)r);
                }
            }
            /* kept codes + scale + group index per group, and the row pointers */
            size_t gb = (size_t)32 * td_format_get(fmts[f])->code_bits / 8;
            TD_CHECK(td_qmatrix_bytes(q) ==
                         (size_t)q->gs_kept * (gb + 4 + 4) + (size_t)(rows + 1) * 8,
                     "bytes %zu", td_qmatrix_bytes(q));
            td_qmatrix_free(q);
        }
        free(w);
        free(dense);
        free(deq);
    }
}

static void group_sparse_ties_and_rounding(void)
{
    if (!format_ready(TD_INT4))
        return;
    /* Four equal groups; pruning half drops the two with the higher index. */
    float w[128];
    for (int k = 0; k < 128; k++)
        w[k] = (k % 2) ? 1.0f : -1.0f;
    td_qspec s = gs_spec(TD_INT4, 32, 0.5);
    td_qmatrix *q = NULL;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 128, 128, &q));
    if (q) {
        TD_CHECK(q->gs_kept == 2 && q->gs_group[0] == 0 && q->gs_group[1] == 1,
                 "ties keep groups 0 and 1");
        td_qmatrix_free(q);
    }
    /* 3 groups, 0.5 -> round(1.5) = 2 pruned; 0.8 -> 2.4 -> 2. */
    s.group_prune = 0.5;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 96, 96, &q));
    if (q) {
        TD_CHECK(q->gs_kept == 1, "1.5 groups round to 2 pruned, got %lld kept",
                 (long long)q->gs_kept);
        td_qmatrix_free(q);
    }
    /* Importance decides which equal-magnitude group survives. */
    float imp[128];
    for (int k = 0; k < 128; k++)
        imp[k] = k >= 96 ? 2.0f : 1.0f;
    s.group_prune = 0.75;
    s.importance = imp;
    TD_CHECK_OK(td_qmatrix_quantize(&s, w, 1, 128, 128, &q));
    if (q) {
        TD_CHECK(q->gs_kept == 1 && q->gs_group[0] == 3, "importance keeps group 3");
        td_qmatrix_free(q);
    }
}

/* ---- bad input ---- */

static void bad_input_is_rejected(void)
{
    float w[64], out[64];
    for (int i = 0; i < 64; i++)
        w[i] = (float)i;
    td_qmatrix *q = NULL;
    td_qspec s = nm_spec(TD_F32, 2, 2);
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 16, 16, &q), TD_CODE_INVALID_ARGUMENT,
                   "1 <= N < M <= 16");
    s = nm_spec(TD_F32, 2, 17);
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 16, 16, &q), TD_CODE_INVALID_ARGUMENT, "2:17");
    s = nm_spec(TD_F32, 0, 4);
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 16, 16, &q), TD_CODE_INVALID_ARGUMENT, "0:4");
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 16, 4, 4, NULL, out), TD_CODE_INVALID_ARGUMENT, "4:4");
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 16, 1, 32, NULL, out), TD_CODE_INVALID_ARGUMENT, "1:32");
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 16, 0, 4, NULL, out), TD_CODE_INVALID_ARGUMENT, "0:4");
    TD_CHECK_ERROR(td_nm_prune(w, 0, 16, 16, 2, 4, NULL, out), TD_CODE_INVALID_ARGUMENT,
                   "weight matrix");
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 8, 2, 4, NULL, out), TD_CODE_INVALID_ARGUMENT,
                   "leading dimension");
    TD_CHECK_ERROR(td_nm_prune(NULL, 4, 16, 16, 2, 4, NULL, out), TD_CODE_INVALID_ARGUMENT, "NULL");

    float bad[64];
    memcpy(bad, w, sizeof bad);
    bad[37] = NAN;
    TD_CHECK_ERROR(td_nm_prune(bad, 4, 16, 16, 2, 4, NULL, out), TD_CODE_BAD_DATA, "(2, 5) is NaN");
    s = nm_spec(TD_F32, 2, 4);
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, bad, 4, 16, 16, &q), TD_CODE_BAD_DATA, "NaN");
    bad[37] = INFINITY;
    TD_CHECK_ERROR(td_nm_prune(bad, 4, 16, 16, 2, 4, NULL, out), TD_CODE_BAD_DATA, "infinite");

    float imp[16];
    for (int i = 0; i < 16; i++)
        imp[i] = 1.0f;
    imp[9] = -0.5f;
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 16, 2, 4, imp, out), TD_CODE_INVALID_ARGUMENT,
                   "importance[9] = -0.5");
    s.importance = imp;
    TD_CHECK_ERROR(td_qmatrix_quantize(&s, w, 4, 16, 16, &q), TD_CODE_INVALID_ARGUMENT,
                   "importance[9]");
    imp[9] = NAN;
    TD_CHECK_ERROR(td_nm_prune(w, 4, 16, 16, 2, 4, imp, out), TD_CODE_INVALID_ARGUMENT,
                   "importance[9] = nan");
    imp[9] = INFINITY;
    TD_CHECK_ERROR(td_nm_mask(w, 4, 16, 16, 2, 4, imp, (uint8_t *)out), TD_CODE_INVALID_ARGUMENT,
                   "finite");

    td_qspec g = gs_spec(TD_INT4, 32, 1.0);
    TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "must be in [0, 1)");
    g.group_prune = -0.25;
    TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "must be in [0, 1)");
    g.group_prune = NAN;
    TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                   "must be in [0, 1)");
    g = gs_spec(TD_F32, 32, 0.5);
    TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 64, 64, &q), TD_CODE_UNSUPPORTED,
                   "integer format");
    if (format_ready(TD_INT8)) {
        g = gs_spec(TD_INT8, 0, 0.5);
        TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 64, 64, &q), TD_CODE_INVALID_ARGUMENT,
                       "needs a group size");
        g = gs_spec(TD_INT8, 32, 0.5);
        g.importance = imp; /* imp[9] is infinite */
        TD_CHECK_ERROR(td_qmatrix_quantize(&g, w, 1, 16, 16, &q), TD_CODE_INVALID_ARGUMENT,
                       "importance[9]");
    }
    TD_CHECK(q == NULL, "no matrix after a failure");
    td_qspec parsed;
    TD_CHECK_ERROR(td_qspec_parse("int8:4:4", &parsed), TD_CODE_INVALID_ARGUMENT, "4:4");
    TD_CHECK_ERROR(td_qspec_parse("int4:gs1.5", &parsed), TD_CODE_INVALID_ARGUMENT, "gs");
    TD_CHECK_OK(td_qspec_parse("int8:2:8", &parsed));
    TD_CHECK(parsed.sparsity == TD_SPARSE_NM && parsed.nm_n == 2 && parsed.nm_m == 8, "2:8");
}

int main(void)
{
    index_bits();
    prune_keeps_exactly_n_of_every_m();
    importance_changes_the_choice();
    ties_keep_the_lower_index();
    short_tail_block();
    nm_f32_round_trip_is_exact();
    nm_quantized_formats_round_trip();
    nm_byte_counts();
    nm_padding();
    group_sparse_prunes_the_weakest_groups();
    group_sparse_ties_and_rounding();
    bad_input_is_rejected();
    return td_test_finish("test_sparse");
}
