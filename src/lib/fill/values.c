/* A tensor's values, one decision at a time: the stream key, elementwise and
 * structured schemes, folded tables drawn per distinct value, tied copies, and
 * the encoding into the tensor's dtype.  The pool in fill.c calls these. */
#include "fill/fill_internal.h"

#include "common/hash.h"
#include "common/matrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

int oi_fill_is_quant(oi_fill_kind k)
{
    return k == OI_FILL_QUANT || k == OI_FILL_QUANT_SCALE || k == OI_FILL_QUANT_ZERO;
}

uint64_t oi_fill_key(uint64_t seed, const char *scope, const char *name)
{
    /* FNV-1a over "scope/name" */
    uint64_t h = oi_fnv1a_str(oi_fnv1a_byte(oi_fnv1a_str(OI_FNV_OFFSET, scope), '/'), name);
    uint64_t z = seed ^ h;                 /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


void oi_fill_encode(int32_t dtype, const float *v, size_t n, uint8_t *dst)
{
    if (dtype == DT(FLOAT)) {
        memcpy(dst, v, n * sizeof *v);
    } else if (dtype == DT(DOUBLE)) {
        for (size_t i = 0; i < n; i++) {
            double d = v[i];
            memcpy(dst + 8 * i, &d, 8);
        }
    } else if ((uintptr_t)dst % 2 == 0) {
        if (dtype == DT(BFLOAT16))
            oi_f32_to_bf16_n(v, n, (uint16_t *)(void *)dst);
        else
            oi_f32_to_f16_n(v, n, (uint16_t *)(void *)dst);
    } else {
        int bf = dtype == DT(BFLOAT16);
        for (size_t i = 0; i < n; i++) {
            uint16_t h = bf ? oi_f32_to_bf16(v[i]) : oi_f32_to_f16(v[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
    }
}

oi_rng oi_fill_tensor_rng(const oi_tensor *t, oi_seed seed)
{
    return (oi_rng){oi_fill_key(seed.value, t->scope, t->name), seed.version};
}

static int by_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* One fresh draw per distinct original value: a folded relative position bias
 * stays a relative position bias (entries that were equal stay equal). */
static oi_status fill_distinct(const oi_decision *d, const oi_tensor *t, oi_rng rng,
                               const float *orig, float *out, oi_error *err)
{
    size_t n = (size_t)t->n_elems, k = 0;
    float *u = malloc((n ? n : 1) * sizeof *u), *draw = malloc((n ? n : 1) * sizeof *draw);
    if (!u || !draw) {
        free(u);
        free(draw);
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    }
    memcpy(u, orig, n * sizeof *u);
    qsort(u, n, sizeof *u, by_float);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || by_float(&u[k - 1], &u[i]) != 0)
            u[k++] = u[i];
    oi_decision tn = *d;
    tn.kind = OI_FILL_TRUNC_NORMAL;
    oi_fill_elementwise(&tn, rng, 0, k, draw);
    for (size_t i = 0; i < n; i++) {
        const float *at = bsearch(&orig[i], u, k, sizeof *u, by_float);
        out[i] = at ? draw[at - u] : draw[0];   /* NaNs (unordered) share the first draw */
    }
    free(u);
    free(draw);
    return OI_OK;
}


/* The tensor a COPY or NORMS decision reads (what: the error's words), and its decision. */
static oi_status source_of(const oi_decision *d, const oi_tensor *t, oi_model *model,
                           const oi_plan *plan, const char *what, const oi_tensor **s,
                           const oi_decision **sd, oi_error *err)
{
    if (!model || !plan || d->source < 0 || (size_t)d->source >= oi_model_tensor_count(model))
        return oi_fail(err, OI_ERR_UNSUPPORTED, "tensor '%s' is %s", t->name, what);
    *s = oi_model_tensor(model, (size_t)d->source);
    *sd = oi_plan_get(plan, (size_t)d->source);
    return OI_OK;
}

void oi_fill_norms_of(const float *v, const int64_t *v_dims, int rank, const int64_t *g_dims,
                      uint64_t n_g, float *out)
{
    double *sum = calloc(n_g ? n_g : 1, sizeof *sum);
    int64_t at[OI_MAX_RANK] = {0}, step[OI_MAX_RANK];
    uint64_t n = 1, g = 0;
    int64_t s = 1;
    for (int k = rank - 1; k >= 0; s *= g_dims[k], k--) {
        step[k] = g_dims[k] == 1 ? 0 : s;   /* g's stride; 0 on the axes it reduces */
        n *= (uint64_t)v_dims[k];
    }
    for (uint64_t i = 0; sum && i < n; i++) {
        sum[g] += (double)v[i] * v[i];
        for (int k = rank - 1; k >= 0; k--) {   /* next index of v, odometer-wise */
            g += (uint64_t)step[k];
            if (++at[k] < v_dims[k])
                break;
            g -= (uint64_t)(step[k] * at[k]);
            at[k] = 0;
        }
    }
    for (uint64_t j = 0; j < n_g; j++)
        out[j] = sum ? (float)sqrt(sum[j]) : NAN;
    free(sum);
}

oi_status oi_fill_derive(const oi_decision *d, oi_fill_shape t, oi_fill_shape src,
                         oi_fill_kind src_kind, float *src_values, float *out, oi_error *err)
{
    if (d->kind == OI_FILL_COPY) {
        if (src.n != t.n || src_kind == OI_FILL_COPY)
            return oi_fail(err, OI_ERR_FORMAT, "tensor '%s': tie with '%s' does not fit", t.name,
                           src.name);
    } else {
        int fits = d->kind == OI_FILL_NORMS && t.rank == src.rank && t.rank >= 0 &&
                   t.rank <= OI_MAX_RANK && src_kind != OI_FILL_NORMS;
        for (int k = 0; fits && k < t.rank; k++)
            fits = t.dims[k] == 1 || t.dims[k] == src.dims[k];
        if (!fits)
            return oi_fail(err, OI_ERR_FORMAT, "tensor '%s': weight norm of '%s' does not fit",
                           t.name, src.name);
    }
    /* the source as stored: a copy is then its bytes exactly, and g * v / ||v|| = v */
    for (uint64_t i = 0; src.dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && i < src.n; i++)
        src_values[i] = oi_float_stored(src.dtype, src_values[i]);
    if (d->kind == OI_FILL_NORMS) {
        oi_fill_norms_of(src_values, src.dims, src.rank, t.dims, t.n, out);
    } else if (d->transposed) {
        int64_t rows, cols;
        oi_matrix_dims(src.dims, (size_t)(src.rank > 0 ? src.rank : 0), src.n, &rows, &cols);
        oi_matrix_transpose(src_values, out, rows, cols, sizeof *out);
    } else if (out != src_values) {
        memcpy(out, src_values, (size_t)t.n * sizeof *out);
    }
    return OI_OK;
}

static oi_fill_shape shape_of(const oi_tensor *t)
{
    return (oi_fill_shape){t->name, t->proto->dims, (int)t->proto->n_dims, t->n_elems, t->dtype};
}

/* A tied copy or weight norm's g: its source's values, then the shared derivation. */
static oi_status fill_derived(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                              oi_model *model, const oi_plan *plan, float *out, oi_error *err)
{
    const oi_tensor *s = NULL;
    const oi_decision *sd = NULL;
    oi_status found = source_of(d, t, model, plan, d->kind == OI_FILL_COPY
                                ? "a tied copy: fill its source" : "weight norm's g: fill its v",
                                &s, &sd, err);
    if (found != OI_OK)
        return found;
    oi_decision source = *sd;
    oi_fill_shape src = shape_of(s);
    if (oi_fill_is_quant(sd->kind)) {
        source.kind = sd->draw;   /* a quantized source: the floats it was drawn from */
        src.dtype = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    }
    float *v = malloc((size_t)(s->n_elems ? s->n_elems : 1) * sizeof *v);
    if (!v)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    oi_status st = sd->kind == OI_FILL_COPY || sd->kind == OI_FILL_NORMS
                       ? OI_OK : oi_fill_whole_values(&source, s, seed, v, model, plan, err);
    if (st == OI_OK)
        st = oi_fill_derive(d, shape_of(t), src, sd->kind, v, out, err);
    free(v);
    return st;
}

/* Matrix m of an orthogonal tensor, its errors naming the tensor. */
static oi_status orthogonal_matrix(const oi_decision *d, const oi_tensor *t, oi_rng rng,
                                   int64_t m, float *out, oi_error *err)
{
    oi_status s = oi_fill_orthogonal_matrix(d, rng, m, out, err);
    if (s)
        oi_fail_prefix(err, "tensor '%s': ", t->name);
    return s;
}

/* Values of one job into scratch (count floats). */
oi_status oi_fill_job_values(const oi_decision *d, const oi_tensor *t, oi_rng rng,
                             uint64_t start, uint64_t count, int64_t matrix, float *scratch,
                             oi_error *err)
{
    switch (d->kind) {
    case OI_FILL_ORTHOGONAL: return orthogonal_matrix(d, t, rng, matrix, scratch, err);
    case OI_FILL_IDENTITY: oi_fill_identity(d, t, scratch); return OI_OK;
    case OI_FILL_SPARSE: return oi_fill_sparse(d, rng, scratch, err);
    default: oi_fill_elementwise(d, rng, start, (size_t)count, scratch); return OI_OK;
    }
}

/* A whole tensor's values; model and plan are needed for DISTINCT and COPY. */
oi_status oi_fill_whole_values(const oi_decision *d, const oi_tensor *t, oi_seed seed, float *out,
                              oi_model *model, const oi_plan *plan, oi_error *err)
{
    if (d->kind == OI_FILL_COPY || d->kind == OI_FILL_NORMS)
        return fill_derived(d, t, seed, model, plan, out, err);
    if (d->kind == OI_FILL_DISTINCT) {
        if (!model)
            return oi_fail(err, OI_ERR_UNSUPPORTED,
                           "tensor '%s': a folded table is filled from its current values",
                           t->name);
        float *orig = oi_model_read_floats(model, t, err);
        if (!orig)
            return err ? err->status : OI_ERR_NOMEM;
        oi_status s = fill_distinct(d, t, oi_fill_tensor_rng(t, seed), orig, out, err);
        free(orig);
        return s;
    }
    return oi_fill_values(d, t, seed, out, err);
}

oi_status oi_fill_values(const oi_decision *d, const oi_tensor *t, oi_seed seed, float *out,
                         oi_error *err)
{
    if (d->kind == OI_FILL_COPY || d->kind == OI_FILL_DISTINCT || d->kind == OI_FILL_NORMS)
        return oi_fill_whole_values(d, t, seed, out, NULL, NULL, err);
    if (oi_fill_is_quant(d->kind))
        return oi_fail(err, OI_ERR_UNSUPPORTED, "tensor '%s' is quantized: it is filled with "
                       "its model (its scales depend on its layer's draw)", t->name);
    oi_rng rng = oi_fill_tensor_rng(t, seed);
    if (d->kind == OI_FILL_ORTHOGONAL) {
        oi_status s = OI_OK;
        for (int64_t m = 0; s == OI_OK && m < d->matrices; m++)
            s = orthogonal_matrix(d, t, rng, m, out + m * d->rows * d->cols, err);
        return s;
    }
    return oi_fill_job_values(d, t, rng, 0, t->n_elems, -1, out, err);
}

oi_status oi_fill_distinct_values(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                                  const float *orig, float *out, oi_error *err)
{
    return fill_distinct(d, t, oi_fill_tensor_rng(t, seed), orig, out, err);
}

oi_status oi_fill_tensor_distinct(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                                  const float *orig, void *dst, oi_error *err)
{
    float *v = malloc((size_t)(t->n_elems ? t->n_elems : 1) * sizeof *v);
    if (!v)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    oi_status s = fill_distinct(d, t, oi_fill_tensor_rng(t, seed), orig, v, err);
    if (s == OI_OK)
        oi_fill_encode(t->dtype, v, (size_t)t->n_elems, dst);
    free(v);
    return s;
}

oi_status oi_fill_tensor(const oi_decision *d, const oi_tensor *t, oi_seed seed, void *dst,
                         oi_error *err)
{
    float *v = malloc((size_t)(t->n_elems ? t->n_elems : 1) * sizeof *v);
    if (!v)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    oi_status s = oi_fill_values(d, t, seed, v, err);
    if (s == OI_OK)
        oi_fill_encode(t->dtype, v, (size_t)t->n_elems, dst);
    free(v);
    return s;
}
