/* The quantizer's per-element loops (built at -O3 with the random kernels):
 * each group's range over a piece of the draw, and a piece's codes.  A run of
 * elements of one group (all of them per tensor, `inner` of them per axis) is
 * one tight loop; blocks walk element by element. */
#include "fill/fill_internal.h"

#include <math.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

oi_group_walk oi_group_walk_start(const oi_quant *q)
{
    oi_group_walk w = {.q = q};
    if (q->block > 0)
        w.blocks = (uint64_t)((q->len + q->block - 1) / q->block);
    return w;
}

uint64_t oi_group_next(oi_group_walk *w)
{
    const oi_quant *q = w->q;
    if (q->axis < 0)
        return 0;
    uint64_t g = q->block > 0 ? w->base + w->r : w->a;
    if (++w->r == (uint64_t)q->inner) {
        w->r = 0;
        if (++w->a == (uint64_t)q->len) {
            w->a = 0;
            w->row += w->blocks;
        }
        if (q->block > 0)
            w->base = (w->row + w->a / (uint64_t)q->block) * (uint64_t)q->inner;
    }
    return g;
}

/* Per tensor or per axis: the length of the run of one group starting at the
 * walk (at most n), and that group; the walk moves past it. */
static uint64_t next_run(oi_group_walk *w, uint64_t n, uint64_t *group)
{
    const oi_quant *q = w->q;
    if (q->axis < 0) {
        *group = 0;
        return n;
    }
    uint64_t left = (uint64_t)q->inner - w->r, run = left < n ? left : n;
    *group = w->a;
    if ((w->r += run) == (uint64_t)q->inner) {
        w->r = 0;
        w->a = w->a + 1 == (uint64_t)q->len ? 0 : w->a + 1;
    }
    return run;
}

/* [l, h] widened by v[0..n): eight lanes side by side (which the compiler
 * makes vector min/max), then folded; the same bounds as one element at a time,
 * as the draws are finite. */
static void widen(const float *v, uint64_t n, float *l, float *h)
{
    float ls[8], hs[8];
    for (int t = 0; t < 8; t++) {
        ls[t] = *l;
        hs[t] = *h;
    }
    uint64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int t = 0; t < 8; t++) {
            ls[t] = v[j + t] < ls[t] ? v[j + t] : ls[t];
            hs[t] = v[j + t] > hs[t] ? v[j + t] : hs[t];
        }
    for (; j < n; j++) {
        ls[0] = v[j] < ls[0] ? v[j] : ls[0];
        hs[0] = v[j] > hs[0] ? v[j] : hs[0];
    }
    for (int t = 0; t < 8; t++) {
        *l = ls[t] < *l ? ls[t] : *l;
        *h = hs[t] > *h ? hs[t] : *h;
    }
}

void oi_quant_range_piece(oi_group_walk *w, const float *v, uint64_t n, float *lo, float *hi)
{
    if (w->q->axis >= 0 && w->q->block > 0) {   /* blocks: neighbours are other groups */
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = oi_group_next(w);
            lo[k] = v[i] < lo[k] ? v[i] : lo[k];
            hi[k] = v[i] > hi[k] ? v[i] : hi[k];
        }
        return;
    }
    for (uint64_t i = 0, k; i < n;) {
        uint64_t run = next_run(w, n - i, &k);
        widen(v + i, run, &lo[k], &hi[k]);
        i += run;
    }
}

/* Round to nearest even as rint does in the default mode, for |x| < 2^51:
 * adding 1.5 x 2^52 leaves no fraction bits.  Callers keep x in range. */
static inline double round_even(double x)
{
    return (x + 0x1.8p52) - 0x1.8p52;
}

/* One code, as a double in [dlo, dhi] (scale s, zero point z).  x is first held
 * within a code of the range's ends, which changes no clamped code and keeps
 * the rounding exact; as ONNX does, x rounds before an integer zero point is
 * added (a float zero point is added first).  Inlined, so loops vectorize. */
static inline double code_of(float v, double s, double z, int zero_float, double dlo, double dhi)
{
    double x = (double)v / s, below = dlo - z - 1, above = dhi - z + 1;
    x = x < below ? below : x > above ? above : x;
    x = zero_float ? round_even(x + z) : round_even(x) + z;
    return x < dlo ? dlo : x > dhi ? dhi : x;
}

/* Codes of one run of group (scale s, zero point z). */
static void codes_run(const oi_quant *q, const float *v, uint64_t n, double s, double z,
                      uint8_t *dst, uint64_t at)
{
    int64_t lo, hi;
    oi_dtype_int_range(q->codes, &lo, &hi);
    double dlo = (double)lo, dhi = (double)hi;
    int zf = q->zero_float;
    if (q->codes == DT(UINT8) || q->codes == DT(INT8)) {   /* one code a byte */
        for (uint64_t i = 0; i < n; i++)
            dst[at + i] = (uint8_t)(int32_t)code_of(v[i], s, z, zf, dlo, dhi);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        oi_code_set(q->codes, dst, at + i, (int64_t)code_of(v[i], s, z, zf, dlo, dhi));
}

void oi_quant_codes_piece(oi_group_walk *w, const float *scale, const float *zero, float *v,
                          uint64_t at, uint64_t n, uint8_t *dst)
{
    const oi_quant *q = w->q;
    if (oi_dtype_is_float8(q->codes)) {
        for (uint64_t i = 0; i < n; i++)
            v[i] /= scale[oi_group_next(w)];
        oi_f32_to_f8_n(q->codes, v, (size_t)n, dst + at);
        return;
    }
    if (q->axis >= 0 && q->block > 0) {   /* blocks: a group per element in turn */
        int64_t lo, hi;
        oi_dtype_int_range(q->codes, &lo, &hi);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = oi_group_next(w);
            oi_code_set(q->codes, dst, at + i,
                        (int64_t)code_of(v[i], (double)scale[k], (double)zero[k], q->zero_float,
                                         (double)lo, (double)hi));
        }
        return;
    }
    for (uint64_t i = 0, k; i < n;) {
        uint64_t run = next_run(w, n - i, &k);
        codes_run(q, v + i, run, (double)scale[k], (double)zero[k], dst, at + i);
        i += run;
    }
}
