/* Quantized tensors: floats drawn by the layer's scheme (the same stream a
 * float weight of that name would get), scales and zero points fit to them
 * per tensor / channel / block, then rounded to the stored codes.  Scale,
 * zero point and a QLinear int32 bias are each a pure function of the
 * weight's draw: fit once per run (oi_quant_cache), whichever job needs them
 * first.  An elementwise draw streams: its range is taken a piece at a time,
 * then it is drawn again a piece at a time into codes, never held whole. */
#include "fill/fill_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QPIECE 16384u   /* floats drawn at a time when the draw streams */

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

/* Fresh scales and zero points from each group's [lo, hi]: max |v| to the
 * code range when the zero point is centred, [min, max] (0 included) otherwise. */
static void fit_range(const oi_quant *q, int32_t scale_dtype, int32_t zero_dtype, const float *lo,
                      const float *hi, qparams *p)
{
    int64_t qlo, qhi, c = oi_quant_centre(q->codes);
    oi_dtype_int_range(q->codes, &qlo, &qhi);
    for (uint64_t k = 0; k < p->groups; k++) {
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

/* Can the weight's draw stream (element i's value depends on i alone)? */
static int streams(const oi_decision *wd)
{
    oi_fill_kind k = wd->draw;
    return wd->kind == OI_FILL_QUANT && !wd->q->packed &&
           (k == OI_FILL_CONSTANT || k == OI_FILL_UNIFORM || k == OI_FILL_NORMAL ||
            k == OI_FILL_TRUNC_NORMAL || k == OI_FILL_GATE_BIAS);
}

/* A streamed draw: the weight's floats a piece (QPIECE) at a time. */
typedef struct {
    oi_decision fd;   /* the float scheme */
    oi_tensor ft;
    oi_rng rng;
    float *v;         /* the current piece */
} stream_draw;

static oi_status stream_start(stream_draw *sd, const oi_decision *wd, const oi_tensor *t,
                              oi_seed seed, oi_error *err)
{
    *sd = (stream_draw){*wd, *t, oi_fill_tensor_rng(t, seed), malloc(QPIECE * sizeof(float))};
    sd->fd.kind = wd->draw;
    return sd->v ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
}

/* Elements [at, at + *k) of n into sd->v, *k the piece's length. */
static oi_status stream_piece(stream_draw *sd, uint64_t at, uint64_t n, uint64_t *k,
                              oi_error *err)
{
    *k = n - at < QPIECE ? n - at : QPIECE;
    return oi_fill_job_values(&sd->fd, &sd->ft, sd->rng, at, *k, -1, sd->v, err);
}

/* Fresh parameters for weight wi: its draw's range per group, then the fit. */
static oi_status fit_fresh(oi_model *m, const oi_plan *plan, const oi_quant *q, size_t wi,
                           oi_seed seed, qparams *p, oi_error *err)
{
    const oi_decision *wd = oi_plan_get(plan, wi);
    const oi_tensor *t = oi_model_tensor(m, wi);
    float *lo = calloc(p->groups, sizeof *lo), *hi = calloc(p->groups, sizeof *hi), *v = NULL;
    uint64_t n = logical_count(q, t);
    oi_status s = lo && hi ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    oi_group_walk w = oi_group_walk_start(q);
    if (s == OI_OK && streams(wd)) {
        stream_draw sd;
        s = stream_start(&sd, wd, t, seed, err);
        v = sd.v;
        for (uint64_t at = 0, k = 0; s == OI_OK && at < n; at += k)
            if ((s = stream_piece(&sd, at, n, &k, err)) == OI_OK)
                oi_quant_range_piece(&w, v, k, lo, hi);
    } else if (s == OI_OK && (s = draw(m, plan, wd, t, seed, &v, &n, err)) == OI_OK) {
        oi_quant_range_piece(&w, v, n, lo, hi);
    }
    int32_t zdt = q->zero >= 0 ? oi_model_tensor(m, (size_t)q->zero)->dtype : 0;
    if (s == OI_OK)
        fit_range(q, oi_model_tensor(m, (size_t)q->scale)->dtype, zdt, lo, hi, p);
    free(v);
    free(lo);
    free(hi);
    return s;
}

struct oi_quant_cache {
    pthread_mutex_t lock;
    pthread_cond_t fit;
    size_t n;
    struct {
        int state;    /* 0 not fit, 1 being fit, 2 fit */
        qparams p;
    } *e;
};

oi_quant_cache *oi_quant_cache_new(size_t tensors)
{
    oi_quant_cache *c = calloc(1, sizeof *c);
    if (c && !(c->e = calloc(tensors ? tensors : 1, sizeof *c->e))) {
        free(c);
        return NULL;
    }
    if (c) {
        c->n = tensors;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->fit, NULL);
    }
    return c;
}

void oi_quant_cache_free(oi_quant_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        qparams_free(&c->e[i].p);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->fit);
    free(c->e);
    free(c);
}

/* The parameters of the weight the decision's q describes (tensor wi): fit to
 * its new draw when it is redrawn with scales of its own, else as stored.
 * Fit by the first job that asks; the others wait for it and share them. */
static oi_status params_of(oi_quant_cache *c, oi_model *m, const oi_plan *plan,
                           const oi_quant *q, size_t wi, oi_seed seed, const qparams **out,
                           oi_error *err)
{
    if (wi >= c->n)
        return oi_fail(err, OI_ERR_INTERNAL, "quantized weight %zu is not in the model", wi);
    pthread_mutex_lock(&c->lock);
    while (c->e[wi].state == 1)
        pthread_cond_wait(&c->fit, &c->lock);
    int mine = c->e[wi].state == 0;
    if (mine)
        c->e[wi].state = 1;
    pthread_mutex_unlock(&c->lock);
    oi_status s = OI_OK;
    if (mine) {
        qparams p = {0};
        const oi_decision *wd = oi_plan_get(plan, wi);
        s = params_alloc(q, &p, err);
        if (s == OI_OK)
            s = wd->kind == OI_FILL_QUANT && !q->keep_scale
                    ? fit_fresh(m, plan, q, wi, seed, &p, err)
                    : oi_quant_read_params(m, q, p.scale, p.zero, err);
        pthread_mutex_lock(&c->lock);
        if (s == OI_OK)
            c->e[wi].p = p;
        else
            qparams_free(&p);
        c->e[wi].state = s == OI_OK ? 2 : 0;   /* a failure: the next job tries, and fails too */
        pthread_cond_broadcast(&c->fit);
        pthread_mutex_unlock(&c->lock);
    }
    *out = s == OI_OK ? &c->e[wi].p : NULL;
    return s;
}

static int64_t clamp_code(double x, int64_t lo, int64_t hi)
{
    return x < (double)lo ? lo : x > (double)hi ? hi : (int64_t)x;
}

/* A quantized weight (or a QDQ bias, which keeps its scale): codes of the draw. */
static oi_status quantize(oi_model *m, const oi_plan *plan, oi_quant_cache *c,
                          const oi_decision *d, const oi_tensor *t, size_t ti, oi_seed seed,
                          uint8_t *dst, oi_error *err)
{
    const oi_quant *q = d->q;
    const qparams *p = NULL;
    oi_status s = params_of(c, m, plan, q, ti, seed, &p, err);
    if (s != OI_OK)
        return s;
    if (!oi_dtype_is_float8(q->codes))
        memset(dst, 0, (size_t)t->n_bytes);
    oi_group_walk w = oi_group_walk_start(q);
    float *v = NULL;
    uint64_t n = logical_count(q, t);
    if (streams(d)) {
        stream_draw sd;
        s = stream_start(&sd, d, t, seed, err);
        v = sd.v;
        for (uint64_t at = 0, k = 0; s == OI_OK && at < n; at += k)
            if ((s = stream_piece(&sd, at, n, &k, err)) == OI_OK)
                oi_quant_codes_piece(&w, p->scale, p->zero, v, at, k, dst);
    } else if ((s = draw(m, plan, d, t, seed, &v, &n, err)) == OI_OK) {
        oi_quant_codes_piece(&w, p->scale, p->zero, v, 0, n, dst);
    }
    free(v);
    return s;
}

/* QLinearConv's int32 bias: in the scale of input x weight, per output channel. */
static oi_status qlinear_bias(oi_model *m, const oi_plan *plan, oi_quant_cache *c,
                              const oi_decision *d, const oi_tensor *t, oi_seed seed,
                              uint8_t *dst, oi_error *err)
{
    const oi_quant *q = d->q;
    const qparams *p = NULL;
    float *b = NULL, *in = NULL;
    uint64_t n = 0;
    oi_status s = draw(m, plan, d, t, seed, &b, &n, err);
    if (s == OI_OK)
        s = params_of(c, m, plan, q, (size_t)q->weight, seed, &p, err);
    if (s == OI_OK && !(in = oi_model_read_floats(m, oi_model_tensor(m, (size_t)q->in_scale), err)))
        s = err ? err->status : OI_ERR_NOMEM;
    for (uint64_t k = 0; s == OI_OK && k < n; k++) {
        double scale = (double)in[0] * p->scale[p->groups == 1 ? 0 : k % p->groups];
        oi_code_set(DT(INT32), dst, k, clamp_code(rint(b[k] / scale), INT32_MIN, INT32_MAX));
    }
    free(b);
    free(in);
    return s;
}

/* A scale or zero-point tensor refit to weight d->source. */
static oi_status companion(oi_model *m, const oi_plan *plan, oi_quant_cache *c,
                           const oi_decision *d, const oi_tensor *t, oi_seed seed, uint8_t *dst,
                           oi_error *err)
{
    const oi_quant *q = d->q;
    const qparams *p = NULL;
    oi_status s = params_of(c, m, plan, q, (size_t)d->source, seed, &p, err);
    if (s == OI_OK && d->kind == OI_FILL_QUANT_SCALE) {
        oi_fill_encode(t->dtype, p->scale, (size_t)p->groups, dst);
    } else if (s == OI_OK && q->zero_float) {
        oi_fill_encode(t->dtype, p->zero, (size_t)p->groups, dst);
    } else if (s == OI_OK && (s = oi_model_read(m, t, dst, err)) == OI_OK &&
               !oi_dtype_is_float8(t->dtype)) {   /* padding codes stay as they were */
        for (uint64_t g = 0; g < p->groups; g++)
            oi_code_set(q->codes, dst, oi_quant_zero_index(q, g), (int64_t)p->zero[g]);
    }
    return s;
}

oi_status oi_fill_quant_bytes(oi_model *m, const oi_plan *plan, oi_quant_cache *cache, size_t ti,
                              oi_seed seed, uint8_t *dst, oi_error *err)
{
    const oi_decision *d = oi_plan_get(plan, ti);
    const oi_tensor *t = oi_model_tensor(m, ti);
    if (d->kind == OI_FILL_QUANT)
        return d->q->in_scale >= 0 ? qlinear_bias(m, plan, cache, d, t, seed, dst, err)
                                   : quantize(m, plan, cache, d, t, ti, seed, dst, err);
    return companion(m, plan, cache, d, t, seed, dst, err);
}
