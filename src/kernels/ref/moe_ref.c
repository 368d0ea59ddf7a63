/* The mixture-of-experts oracle: double precision, dense. Every expert runs on every token and
 * the dense gate matrix (zero where a token does not use an expert) masks the results, so the
 * grouping, gathering and scattering of the fast paths have nothing to agree with but the
 * definition. Routing is td_moe_route on double logits; tools/gen_moe_fixtures.py checks that
 * routing independently. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/moe/moe_internal.h"

static double act_scalar(td_moe_activation a, double v)
{
    if (a == TD_MOE_GELU)
        return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    return v / (1.0 + exp(-v)); /* SiLU, and SwiGLU's gate */
}

/* logits[t][e] = x_t . R[:, e] + bias[e] (+ noise), all in double. */
static void ref_logits(const td_moe_config *cfg, const td_moe_weights *w, const float *x,
                       int64_t tokens, const td_moe_route_opts *o, double *logits)
{
    int64_t d = cfg->d_model;
    int E = cfg->experts;
    for (int64_t t = 0; t < tokens; t++)
        for (int e = 0; e < E; e++) {
            double s = w->router_bias ? (double)w->router_bias[e] : 0.0, z = 0.0;
            for (int64_t i = 0; i < d; i++) {
                s += (double)x[t * d + i] * (double)w->router[i * E + e];
                if (w->router_noise)
                    z += (double)x[t * d + i] * (double)w->router_noise[i * E + e];
            }
            if (o->noise) {
                double sd = o->noise_std;
                if (w->router_noise)
                    sd *= z > 30 ? z : log1p(exp(z));
                s += sd * td_moe_noise_normal(o->noise_seed, t, e);
            }
            logits[t * E + e] = s;
        }
}

/* out (d) = expert e on x (d), in double; h and g hold d_ff doubles each. */
static void ref_expert(const td_moe_config *cfg, const td_moe_weights *w, int e, const float *x,
                       double *h, double *g, double *out)
{
    int64_t d = cfg->d_model, f = cfg->d_ff;
    size_t mat = (size_t)d * (size_t)f;
    const float *up = w->w_up + (size_t)e * mat, *down = w->w_down + (size_t)e * mat;
    const float *gate = w->w_gate ? w->w_gate + (size_t)e * mat : NULL;
    for (int64_t r = 0; r < f; r++) {
        double s = w->b_up ? (double)w->b_up[(size_t)e * (size_t)f + (size_t)r] : 0.0, sg = 0.0;
        for (int64_t i = 0; i < d; i++) {
            s += (double)up[r * d + i] * (double)x[i];
            if (cfg->activation == TD_MOE_SWIGLU)
                sg += (double)gate[r * d + i] * (double)x[i];
        }
        h[r] = s;
        g[r] = sg;
    }
    for (int64_t r = 0; r < f; r++)
        h[r] = cfg->activation == TD_MOE_SWIGLU ? act_scalar(TD_MOE_SILU, g[r]) * h[r]
                                                : act_scalar(cfg->activation, h[r]);
    for (int64_t r = 0; r < d; r++) {
        double s = w->b_down ? (double)w->b_down[(size_t)e * (size_t)d + (size_t)r] : 0.0;
        for (int64_t i = 0; i < f; i++)
            s += (double)down[r * f + i] * h[i];
        out[r] = s;
    }
}

static td_status check_ref(const td_moe_config *cfg, const td_moe_weights *w, const float *x,
                           int64_t tokens, const td_moe_route_opts *opts, const double *y,
                           const uint8_t **allowed)
{
    TD_TRY(td_moe_check_config(cfg));
    if (!w || !w->router || !w->w_up || !w->w_down || !x || !y ||
        (cfg->activation == TD_MOE_SWIGLU && !w->w_gate))
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe reference: missing weights or buffers");
    TD_TRY(td_moe_check_opts(cfg, opts, allowed));
    if (tokens < 1)
        return td_error_new(TD_CODE_INVALID_ARGUMENT, "moe reference: %lld tokens, need >= 1",
                            (long long)tokens);
    for (int64_t i = 0; i < tokens * cfg->d_model; i++)
        if (!isfinite(x[i]))
            return td_error_new(TD_CODE_BAD_DATA, "moe reference: input x[%lld] is not finite",
                                (long long)i);
    return TD_OK;
}

td_status td_moe_reference(const td_moe_config *cfg, const td_moe_weights *w, const float *x,
                           int64_t tokens, const td_moe_route_opts *opts, double *y,
                           td_moe_routing *routing)
{
    if (routing)
        memset(routing, 0, sizeof *routing);
    const uint8_t *allowed;
    TD_TRY(check_ref(cfg, w, x, tokens, opts, y, &allowed));
    int64_t d = cfg->d_model, f = cfg->d_ff;
    int E = cfg->experts;
    double *logits = malloc((size_t)tokens * (size_t)E * sizeof *logits);
    double *gates = calloc((size_t)tokens * (size_t)E, sizeof *gates);
    double *h = malloc((size_t)(2 * f + d) * sizeof *h);
    if (!logits || !gates || !h) {
        free(logits), free(gates), free(h);
        return td_error_new(TD_CODE_OUT_OF_MEMORY, "moe reference: out of memory");
    }
    ref_logits(cfg, w, x, tokens, opts, logits);
    td_moe_routing r;
    td_status st = td_moe_route(logits, tokens, E, allowed, opts, &r);
    for (int64_t s = 0; !st && s < tokens * opts->k; s++)
        if (r.expert[s] >= 0)
            gates[(s / opts->k) * E + r.expert[s]] += r.gate[s];
    for (int64_t t = 0; !st && t < tokens; t++) {
        double *yt = y + t * d;
        memset(yt, 0, (size_t)d * sizeof *yt);
        for (int e = 0; e < E; e++) {
            ref_expert(cfg, w, e, x + t * d, h, h + f, h + 2 * f);
            for (int64_t i = 0; i < d; i++)
                yt[i] += gates[t * E + e] * h[2 * f + i];
        }
    }
    if (!st && routing)
        *routing = r;
    else if (!st)
        td_moe_routing_free(&r);
    free(logits), free(gates), free(h);
    return st;
}
