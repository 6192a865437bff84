/* Quantized tensors: floats drawn by the layer's scheme (the same stream a
 * float weight of that name would get), scales and zero points fit to them
 * per tensor / channel / block, then rounded to the stored codes.  Scale,
 * zero point and a QLinear int32 bias are each a pure function of the
 * weight's draw, so every tensor is still filled on its own. */
#include "fill/fill_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

typedef struct {
    uint64_t groups;
    float *scale;     /* per group */
    float *zero;      /* per group (float8: 0; a code, or any value for float zero points) */
} qparams;

static void qparams_free(qparams *p)
{
    free(p->scale);
    free(p->zero);
}

/* The group of each element in storage order, without oi_quant_group_of's
 * divisions per element: element (o * len + a) * inner + r is in group a per
 * axis, (o * blocks + a / block) * inner + r blockwise, 0 per tensor. */
typedef struct {
    const oi_quant *q;
    uint64_t a, r, base, blocks, row;   /* row: o * blocks */
} group_walk;

static group_walk group_walk_start(const oi_quant *q)
{
    group_walk w = {.q = q};
    if (q->block > 0)
        w.blocks = (uint64_t)((q->len + q->block - 1) / q->block);
    return w;
}

static inline uint64_t group_next(group_walk *w)
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

static uint64_t logical_count(const oi_quant *q, const oi_tensor *t)
{
    return q->packed ? (uint64_t)(q->outer * q->len) : t->n_elems;
}

/* A float as its tensor stores it (float16 / bfloat16 round). */
static float stored_value(int32_t dtype, double x)
{
    return oi_float_stored(dtype, (float)x);
}

/* A scale as its tensor stores it, never 0. */
static float stored_scale(int32_t dtype, double s)
{
    float f = stored_value(dtype, s > 0 && isfinite((float)s) ? s : 1.0);
    return f > 0 ? f : (dtype == DT(FLOAT16) ? 5.96e-8f : 1e-38f);
}

/* Each group's [min, max] over v, widened from lo/hi's start: a run of elements
 * of one group (all of them per tensor, `inner` of them per axis) is reduced in
 * registers, not through lo[k]/hi[k] on every element. */
static void group_minmax(const oi_quant *q, const float *v, uint64_t n, float *lo, float *hi)
{
    uint64_t run = q->axis < 0 ? n : q->block <= 0 ? (uint64_t)q->inner : 1;
    run = run ? run : 1;
    if (run == 1) {   /* blockwise (or one element a group): neighbours are other groups */
        group_walk w = group_walk_start(q);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = group_next(&w);
            lo[k] = v[i] < lo[k] ? v[i] : lo[k];
            hi[k] = v[i] > hi[k] ? v[i] : hi[k];
        }
        return;
    }
    for (uint64_t s = 0; s < n; s += run) {
        uint64_t k = q->axis < 0 ? 0 : s / run % (uint64_t)q->len, end = s + run < n ? s + run : n;
        float l = lo[k], h = hi[k];
        for (uint64_t i = s; i < end; i++) {
            l = v[i] < l ? v[i] : l;
            h = v[i] > h ? v[i] : h;
        }
        lo[k] = l;
        hi[k] = h;
    }
}

/* Fresh scales and zero points fit to v: max |v| to the code range when the
 * zero point is centred, [min, max] (0 included) otherwise. */
static oi_status fit(const oi_quant *q, int32_t scale_dtype, int32_t zero_dtype, const float *v,
                     uint64_t n, qparams *p, oi_error *err)
{
    uint64_t g = p->groups;
    float *lo = calloc(g, sizeof *lo), *hi = calloc(g, sizeof *hi);
    if (!lo || !hi) {
        free(lo);
        free(hi);
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    }
    group_minmax(q, v, n, lo, hi);
    int64_t qlo, qhi, c = oi_quant_centre(q->codes);
    oi_dtype_int_range(q->codes, &qlo, &qhi);
    for (uint64_t k = 0; k < g; k++) {
        double a = fmax(-(double)lo[k], (double)hi[k]);
        if (oi_dtype_is_float8(q->codes)) {
            p->scale[k] = stored_scale(scale_dtype, a / oi_f8_max(q->codes));
            p->zero[k] = 0;
        } else if (q->symmetric) {
            double half = (double)(qhi - c < c - qlo ? qhi - c : c - qlo);
            p->scale[k] = stored_scale(scale_dtype, a / half);
            p->zero[k] = (float)c;
        } else {
            p->scale[k] = stored_scale(scale_dtype, ((double)hi[k] - lo[k]) / (double)(qhi - qlo));
            double z = (double)qlo - lo[k] / (double)p->scale[k];
            p->zero[k] = q->zero_float ? stored_value(zero_dtype, z)
                                       : (float)fmin(fmax(rint(z), (double)qlo), (double)qhi);
        }
    }
    free(lo);
    free(hi);
    return OI_OK;
}

static oi_status params_alloc(const oi_quant *q, qparams *p, oi_error *err)
{
    p->groups = oi_quant_groups(q);
    p->scale = malloc((size_t)(p->groups ? p->groups : 1) * sizeof *p->scale);
    p->zero = malloc((size_t)(p->groups ? p->groups : 1) * sizeof *p->zero);
    return p->scale && p->zero ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "out of memory");
}

/* The values the file holds now, dequantized (a folded table's pattern). */
static oi_status stored_floats(oi_model *m, const oi_quant *q, const oi_tensor *t, float **out,
                               oi_error *err)
{
    qparams p = {0};
    uint64_t n = logical_count(q, t);
    uint8_t *codes = malloc(t->n_bytes ? t->n_bytes : 1);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    oi_status s = codes && v ? params_alloc(q, &p, err) : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    if (s == OI_OK && (s = oi_quant_read_params(m, q, p.scale, p.zero, err)) == OI_OK)
        s = oi_model_read(m, t, codes, err);
    for (uint64_t i = 0; s == OI_OK && i < n; i++)
        v[i] = (float)oi_quant_value(q, oi_code_get(q->codes, codes, i), i, p.scale, p.zero,
                                     NULL);
    free(codes);
    qparams_free(&p);
    if (s != OI_OK)
        free(v);
    *out = s == OI_OK ? v : NULL;
    return s;
}

/* The weight's floats: its decision's draw over its logical elements (row padding 0);
 * a tied copy's are its source's; a folded table's keep the pattern of its old values. */
static oi_status draw(oi_model *m, const oi_plan *plan, const oi_decision *d, const oi_tensor *t,
                      oi_seed seed, float **out, uint64_t *count, oi_error *err)
{
    uint64_t n = logical_count(d->q, t);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    oi_decision fd = *d;
    oi_tensor ft = *t;
    fd.kind = d->draw;
    ft.n_elems = n;
    float *orig = NULL;
    oi_status s = fd.kind == OI_FILL_DISTINCT ? stored_floats(m, d->q, t, &orig, err) : OI_OK;
    if (s == OI_OK)
        s = orig ? oi_fill_distinct_values(&fd, &ft, seed, orig, v, err)
                 : oi_fill_whole_values(&fd, &ft, seed, v, m, plan, err);
    free(orig);
    if (s) {
        free(v);
        return s;
    }
    for (uint64_t i = 0; d->q->packed && i < n; i++)
        if ((int64_t)(i % (uint64_t)d->q->len) >= d->q->valid)
            v[i] = 0;
    *out = v;
    *count = n;
    return OI_OK;
}

/* The parameters of the weight the decision's q describes (tensor wi): fit
 * to its new draw when it is redrawn with scales of its own, else as stored.
 * floats (or NULL) receives the draw. */
static oi_status weight_params(oi_model *m, const oi_plan *plan, const oi_quant *q, size_t wi,
                               oi_seed seed, qparams *p, float **floats, uint64_t *count,
                               oi_error *err)
{
    const oi_decision *wd = oi_plan_get(plan, wi);
    const oi_tensor *t = oi_model_tensor(m, wi);
    int fresh = wd->kind == OI_FILL_QUANT && !q->keep_scale;
    float *v = NULL;
    uint64_t n = 0;
    if (params_alloc(q, p, err))
        return err->status;
    oi_status s = OI_OK;
    if (wd->kind == OI_FILL_QUANT && (fresh || floats))
        s = draw(m, plan, wd, t, seed, &v, &n, err);
    int32_t zdt = q->zero >= 0 ? oi_model_tensor(m, (size_t)q->zero)->dtype : 0;
    if (s == OI_OK)
        s = fresh ? fit(q, oi_model_tensor(m, (size_t)q->scale)->dtype, zdt, v, n, p, err)
                  : oi_quant_read_params(m, q, p->scale, p->zero, err);
    if (s == OI_OK && floats) {
        *floats = v;
        *count = n;
        v = NULL;
    }
    free(v);
    return s;
}

static int64_t clamp_code(double x, int64_t lo, int64_t hi)
{
    return x < (double)lo ? lo : x > (double)hi ? hi : (int64_t)x;
}

/* A quantized weight (or a QDQ bias, which keeps its scale): codes of the draw. */
static oi_status quantize(oi_model *m, const oi_plan *plan, const oi_decision *d,
                          const oi_tensor *t, size_t ti, oi_seed seed, uint8_t *dst,
                          oi_error *err)
{
    const oi_quant *q = d->q;
    qparams p = {0};
    float *v = NULL;
    uint64_t n = 0;
    oi_status s = weight_params(m, plan, q, ti, seed, &p, &v, &n, err);
    if (s == OI_OK && oi_dtype_is_float8(q->codes)) {
        group_walk w = group_walk_start(q);
        for (uint64_t i = 0; i < n; i++)
            v[i] /= p.scale[group_next(&w)];
        oi_f32_to_f8_n(q->codes, v, (size_t)n, dst);
    } else if (s == OI_OK) {
        int64_t lo, hi;
        oi_dtype_int_range(q->codes, &lo, &hi);
        memset(dst, 0, (size_t)t->n_bytes);
        group_walk w = group_walk_start(q);
        int bytes = q->codes == DT(UINT8) || q->codes == DT(INT8);   /* one code a byte */
        for (uint64_t i = 0; i < n; i++) {
            uint64_t g = group_next(&w);
            double x = (double)v[i] / p.scale[g];   /* ONNX rounds before the zero point */
            x = q->zero_float ? rint(x + p.zero[g]) : rint(x) + p.zero[g];
            if (bytes)
                dst[i] = (uint8_t)clamp_code(x, lo, hi);
            else
                oi_code_set(q->codes, dst, i, clamp_code(x, lo, hi));
        }
    }
    free(v);
    qparams_free(&p);
    return s;
}

/* QLinearConv's int32 bias: in the scale of input x weight, per output channel. */
static oi_status qlinear_bias(oi_model *m, const oi_plan *plan, const oi_decision *d,
                              const oi_tensor *t, oi_seed seed, uint8_t *dst, oi_error *err)
{
    const oi_quant *q = d->q;
    qparams p = {0};
    float *b = NULL, *in = NULL;
    uint64_t n = 0;
    oi_status s = draw(m, plan, d, t, seed, &b, &n, err);
    if (s == OI_OK)
        s = weight_params(m, plan, q, (size_t)q->weight, seed, &p, NULL, NULL, err);
    if (s == OI_OK && !(in = oi_model_read_floats(m, oi_model_tensor(m, (size_t)q->in_scale), err)))
        s = err ? err->status : OI_ERR_NOMEM;
    for (uint64_t c = 0; s == OI_OK && c < n; c++) {
        double scale = (double)in[0] * p.scale[p.groups == 1 ? 0 : c % p.groups];
        oi_code_set(DT(INT32), dst, c, clamp_code(rint(b[c] / scale), INT32_MIN, INT32_MAX));
    }
    free(b);
    free(in);
    qparams_free(&p);
    return s;
}

/* A scale or zero-point tensor refit to weight d->source. */
static oi_status companion(oi_model *m, const oi_plan *plan, const oi_decision *d,
                           const oi_tensor *t, oi_seed seed, uint8_t *dst, oi_error *err)
{
    const oi_quant *q = d->q;
    qparams p = {0};
    oi_status s = weight_params(m, plan, q, (size_t)d->source, seed, &p, NULL, NULL, err);
    if (s == OI_OK && d->kind == OI_FILL_QUANT_SCALE) {
        oi_fill_encode(t->dtype, p.scale, (size_t)p.groups, dst);
    } else if (s == OI_OK && q->zero_float) {
        oi_fill_encode(t->dtype, p.zero, (size_t)p.groups, dst);
    } else if (s == OI_OK && (s = oi_model_read(m, t, dst, err)) == OI_OK &&
               !oi_dtype_is_float8(t->dtype)) {   /* padding codes stay as they were */
        for (uint64_t g = 0; g < p.groups; g++)
            oi_code_set(q->codes, dst, oi_quant_zero_index(q, g), (int64_t)p.zero[g]);
    }
    qparams_free(&p);
    return s;
}

oi_status oi_fill_quant_bytes(oi_model *m, const oi_plan *plan, size_t ti, oi_seed seed,
                              uint8_t *dst, oi_error *err)
{
    const oi_decision *d = oi_plan_get(plan, ti);
    const oi_tensor *t = oi_model_tensor(m, ti);
    if (d->kind == OI_FILL_QUANT)
        return d->q->in_scale >= 0 ? qlinear_bias(m, plan, d, t, seed, dst, err)
                                  : quantize(m, plan, d, t, ti, seed, dst, err);
    return companion(m, plan, d, t, seed, dst, err);
}
