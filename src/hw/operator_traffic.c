/* Traffic models of the co-design operators: expert weight reloads of mixture-of-experts
 * layers and the input buffer of (limited-range) deformable convolutions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/estimate.h"

static td_status check(const int32_t *routes, int64_t tokens, int k, int experts,
                       double expert_bytes, int resident)
{
    if (tokens < 0 || k < 1 || experts < 1 || resident < 1 || !(expert_bytes >= 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "moe traffic: need tokens >= 0, k >= 1, experts >= 1, resident >= 1 "
                            "(got %lld, %d, %d, %d)",
                            (long long)tokens, k, experts, resident);
    if (k > experts)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe traffic: k = %d exceeds %d experts", k,
                            experts);
    for (int64_t i = 0; i < tokens * k; i++)
        if (routes[i] < 0 || routes[i] >= experts)
            return td_error_new(TD_CODE_INVALID_ARGUMENT,
                                "moe traffic: token %lld routes to expert %d of %d",
                                (long long)(i / k), routes[i], experts);
    return TD_OK;
}

/* LRU over `resident` slots: stamp[e] = last use, or -1 when not resident. */
static int64_t lru_loads(const int32_t *order, int64_t n, int experts, int resident)
{
    int64_t *stamp = malloc((size_t)experts * sizeof *stamp);
    if (!stamp)
        return -1;
    for (int e = 0; e < experts; e++)
        stamp[e] = -1;
    int64_t loads = 0;
    int held = 0;
    for (int64_t t = 0; t < n; t++) {
        int e = order[t];
        if (stamp[e] < 0) {
            loads++;
            if (held == resident) { /* evict the least recently used */
                int victim = -1;
                for (int v = 0; v < experts; v++)
                    if (stamp[v] >= 0 && (victim < 0 || stamp[v] < stamp[victim]))
                        victim = v;
                stamp[victim] = -1;
            } else {
                held++;
            }
        }
        stamp[e] = t;
    }
    free(stamp);
    return loads;
}

td_status td_moe_weight_traffic(const int32_t *routes, int64_t tokens, int k, int experts,
                                double expert_bytes, int resident, bool expert_major,
                                td_moe_traffic *out)
{
    memset(out, 0, sizeof *out);
    TD_TRY(check(routes, tokens, k, experts, expert_bytes, resident));
    int64_t n = tokens * k, loads;
    if (expert_major) {
        /* every chosen expert once: its tokens are processed together */
        bool *used = calloc((size_t)experts, sizeof *used);
        if (!used)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe traffic: out of memory");
        loads = 0;
        for (int64_t i = 0; i < n; i++)
            if (!used[routes[i]]) {
                used[routes[i]] = true;
                loads++;
            }
        free(used);
    } else {
        loads = lru_loads(routes, n, experts, resident);
        if (loads < 0)
            return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe traffic: out of memory");
    }
    out->loads = loads;
    out->bytes = (double)loads * expert_bytes;
    return TD_OK;
}

td_status td_deform_buffer_need(int64_t in_h, int64_t in_w, int64_t in_c, int a_bits,
                                int64_t kernel_h, int64_t dilation, int64_t out_h, double range,
                                double buffer_bytes, td_deform_buffer *out)
{
    memset(out, 0, sizeof *out);
    if (in_h < 1 || in_w < 1 || in_c < 1 || a_bits < 1 || kernel_h < 1 || dilation < 1 ||
        out_h < 1 || !(buffer_bytes >= 0))
        return td_error_new(TD_CODE_INVALID_ARGUMENT,
                            "deformable buffer: sizes must be positive (input %lldx%lldx%lld, "
                            "kernel %lld, dilation %lld, output rows %lld)",
                            (long long)in_h, (long long)in_w, (long long)in_c, (long long)kernel_h,
                            (long long)dilation, (long long)out_h);
    int64_t window = (kernel_h - 1) * dilation + 1;
    int64_t rows = range < 0 ? in_h : window + 2 * (int64_t)ceil(range) + (range > 0 ? 1 : 0);
    if (rows > in_h)
        rows = in_h;
    double row_bytes = (double)in_w * (double)in_c * a_bits / 8.0;
    out->rows_needed = rows;
    out->bytes_needed = (double)rows * row_bytes;
    out->fits = out->bytes_needed <= buffer_bytes;
    out->dram_bytes = out->fits ? (double)in_h * row_bytes : (double)out_h * out->bytes_needed;
    return TD_OK;
}
