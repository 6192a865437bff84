/* The decisions each fill kind is made of (schemes.h). */
#include "plan/schemes.h"

#include <math.h>
#include <string.h>

void oi_scheme_constant(oi_decision *d, double v, const char *scheme)
{
    d->kind = OI_FILL_CONSTANT;
    d->scheme = scheme;
    d->constant.value = v;
}

void oi_scheme_uniform(oi_decision *d, double bound, double gain, const char *scheme)
{
    d->kind = OI_FILL_UNIFORM;
    d->scheme = scheme;
    d->uniform.low = -bound;
    d->uniform.high = bound;
    d->gain = gain;
}

void oi_scheme_normal(oi_decision *d, double mean, double std, double gain, const char *scheme)
{
    d->kind = OI_FILL_NORMAL;
    d->scheme = scheme;
    d->normal.mean = mean;
    d->normal.std = std;
    d->gain = gain;
}

void oi_scheme_trunc_normal(oi_decision *d, double std, const char *scheme)
{
    d->kind = OI_FILL_TRUNC_NORMAL;
    d->scheme = scheme;
    d->normal.mean = 0;
    d->normal.std = std;
    d->gain = 1;
}

void oi_scheme_xavier_uniform(oi_decision *d, int64_t fan_in, int64_t fan_out, double gain)
{
    oi_scheme_uniform(d, gain * sqrt(6.0 / (double)(fan_in + fan_out)), gain, "xavier_uniform");
}

void oi_scheme_orthogonal(oi_decision *d, int64_t matrices, int64_t rows, int64_t cols,
                          double gain)
{
    d->kind = OI_FILL_ORTHOGONAL;
    d->scheme = "orthogonal";
    d->matrix.gain = gain;
    d->gain = gain;
    d->matrices = matrices;
    d->rows = rows;
    d->cols = cols;
}

void oi_scheme_untouched(oi_decision *d, const char *why)
{
    d->kind = OI_FILL_NONE;
    d->scheme = "untouched";
    d->reason = why;
}

void oi_scheme_lstm_bias(oi_decision *d, const oi_weight *w, double forget)
{
    if (forget == 0 || w->n_forget <= 0) {
        oi_scheme_constant(d, 0, "zeros");
        if (forget != 0 && w->n_forget < 0)
            d->reason = "forget-gate position unknown: all zeros";
        return;
    }
    d->kind = OI_FILL_GATE_BIAS;
    d->scheme = "zeros, forget gate 1";
    d->gate_bias.value = 0;
    d->gate_bias.gate = forget;
    d->n_ranges = w->n_forget;
    memcpy(d->range_start, w->forget_start, sizeof d->range_start);
    memcpy(d->range_len, w->forget_len, sizeof d->range_len);
}
