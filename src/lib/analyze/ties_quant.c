/* Tied weights stored quantized: a tied head folded into its own constant and
 * quantized apart from the embedding holds the same values only up to each
 * copy's rounding.  Such twins are compared dequantized, every element within
 * half a step of each copy; a diagonal sample (which a transpose keeps) rules
 * out other pairs of the same shape before any full read. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/matrix.h"

#define SAMPLE 64
/* Whole-tensor comparisons one model may cost: a tied head is one or two
 * pairs; many same-sized weights agreeing on the diagonal sample (a hostile
 * file) would otherwise read every ordered pair whole. */
#define FULL_COMPARES 64
#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

typedef struct {
    size_t tensor;
    const oi_tensor *t;
    const oi_quant *q;        /* NULL: float values */
    int64_t rows, cols;
    float *scale, *zero;      /* per group (quantized) */
    int n_diag;
    double diag[SAMPLE], half[SAMPLE];   /* value and half its step at (k, k) */
} twin;

/* Element i of c, whose stored bytes are buf (buf_index: i's place in buf). */
static double value_at(const twin *c, const uint8_t *buf, uint64_t buf_index, uint64_t i,
                       double *half)
{
    if (!c->q) {
        *half = 0;
        return oi_float_get(c->t->dtype, buf, buf_index);
    }
    double step, v = oi_quant_value(c->q, oi_code_get(c->t->dtype, buf, buf_index), i, c->scale,
                                    c->zero, &step);
    *half = 0.5 * step;
    return v;
}

static int readable(const oi_weight *w, const oi_tensor *t)
{
    const oi_quant *q = w->quant;
    if (!oi_tie_role(w->role) || t->n_elems < 16 || t->storage == OI_STORE_NONE)
        return 0;
    if (q->form == OI_QUANT_NONE)
        return t->elem_size > 0 && oi_dtype_is_float(t->dtype);
    return !q->packed && q->weight < 0 && q->scale >= 0 && t->elem_size > 0 &&
           t->elem_size <= 2 && !oi_dtype_is_float8(t->dtype) && !q->zero_float;
}

/* Scales and zero points per group, then the diagonal sample. */
static int load(const oi_actx *x, twin *c)
{
    if (c->q) {
        uint64_t g = oi_quant_groups(c->q);
        c->scale = malloc((size_t)(g ? g : 1) * sizeof *c->scale);
        c->zero = malloc((size_t)(g ? g : 1) * sizeof *c->zero);
        if (!c->scale || !c->zero ||
            oi_quant_read_params(x->model, c->q, c->scale, c->zero, NULL) != OI_OK)
            return -1;
    }
    int64_t n = c->cols > 1 ? (c->rows < c->cols ? c->rows : c->cols) : c->rows;
    int64_t step = n > SAMPLE ? n / SAMPLE : 1;
    uint8_t e[8];
    for (int64_t k = 0; k < n && c->n_diag < SAMPLE; k += step) {
        uint64_t at = (uint64_t)(c->cols > 1 ? k * c->cols + k : k);
        if (oi_model_read_elems(x->model, c->t, at, 1, e, NULL))
            return -1;
        c->diag[c->n_diag] = value_at(c, e, 0, at, &c->half[c->n_diag]);
        c->n_diag++;
    }
    return 0;
}

static int close_enough(double a, double ha, double b, double hb)
{
    return fabs(a - b) <= 1.02 * (ha + hb) + 1e-6 * fmax(fabs(a), fabs(b));
}

/* Do the samples agree, and does the sample vary (no tie among constants)? */
static int sample_agrees(const twin *a, const twin *b)
{
    int varied = 0;
    for (int k = 0; k < a->n_diag; k++) {
        if (!close_enough(a->diag[k], a->half[k], b->diag[k], b->half[k]))
            return 0;
        varied |= !close_enough(a->diag[k], a->half[k], a->diag[0], a->half[0]);
    }
    return a->n_diag == b->n_diag && varied;
}

/* Every element: 1 equal, 2 transposed (as 2-D), 0 no. */
static int all_agree(const oi_actx *x, const twin *a, const twin *b, int transposed)
{
    uint8_t *ba = malloc(a->t->n_bytes ? a->t->n_bytes : 1);
    uint8_t *bb = malloc(b->t->n_bytes ? b->t->n_bytes : 1);
    int ok = ba && bb && !oi_model_read(x->model, a->t, ba, NULL) &&
             !oi_model_read(x->model, b->t, bb, NULL);
    for (uint64_t i = 0; ok && i < a->t->n_elems; i++) {
        uint64_t j = transposed ? (i % (uint64_t)a->cols) * (uint64_t)a->rows +
                                      i / (uint64_t)a->cols : i;
        double ha, hb, va = value_at(a, ba, i, i, &ha), vb = value_at(b, bb, j, j, &hb);
        ok = close_enough(va, ha, vb, hb);
    }
    free(ba);
    free(bb);
    return ok ? 1 + transposed : 0;
}

static int twins(const oi_actx *x, const twin *a, const twin *b, size_t *full)
{
    if ((!a->q && !b->q) || a->t->n_elems != b->t->n_elems || !sample_agrees(a, b) ||
        *full >= FULL_COMPARES)
        return 0;
    ++*full;
    if (a->rows == b->rows && a->cols == b->cols && all_agree(x, a, b, 0))
        return 1;
    return a->cols > 1 && a->rows == b->cols && a->cols == b->rows ? all_agree(x, a, b, 1) : 0;
}

static int by_size(const void *pa, const void *pb)
{
    const twin *a = pa, *b = pb;
    if (a->t->n_elems != b->t->n_elems)
        return a->t->n_elems < b->t->n_elems ? -1 : 1;
    return (a->tensor > b->tensor) - (a->tensor < b->tensor);
}

/* Mark c tied to s when they are twins and c is the exporter's copy. */
static void tie_pair(const oi_actx *x, oi_analysis *a, const twin *s, const twin *c,
                     size_t *full)
{
    oi_weight *w = &a->items[c->tensor];
    if (w->tied_to >= 0 || a->items[s->tensor].tied_to >= 0 || !oi_exporter_named(c->t->name))
        return;
    int how = twins(x, s, c, full);
    if (how) {
        w->tied_to = (long)s->tensor;
        w->tied_transposed = how == 2;
    }
}

void oi_find_quant_ties(const oi_actx *x, oi_analysis *a)
{
    /* the candidates' table (a KB each) only for a model that has a quantized one */
    int any_quant = 0;
    for (size_t i = 0; !any_quant && i < a->n; i++)
        any_quant = a->items[i].quant->form != OI_QUANT_NONE &&
                    readable(&a->items[i], oi_model_tensor(x->model, i));
    twin *c = any_quant ? calloc(a->n ? a->n : 1, sizeof *c) : NULL;
    size_t n = 0;
    size_t full = 0;
    for (size_t i = 0; c && i < a->n; i++) {
        const oi_tensor *t = oi_model_tensor(x->model, i);
        const oi_weight *w = &a->items[i];
        if (w->tied_to >= 0 || !readable(w, t))
            continue;
        c[n] = (twin){.tensor = i, .t = t, .q = w->quant->form ? w->quant : NULL};
        oi_matrix_dims(t->proto->dims, t->proto->n_dims, t->n_elems, &c[n].rows, &c[n].cols);
        n++;
    }
    if (c) {
        qsort(c, n, sizeof *c, by_size);
        for (size_t lo = 0, hi; lo < n; lo = hi) {
            for (hi = lo + 1; hi < n && c[hi].t->n_elems == c[lo].t->n_elems; hi++)
                ;
            int loaded = 1;
            for (size_t i = lo; hi - lo > 1 && i < hi; i++)
                loaded &= load(x, &c[i]) == 0;
            for (size_t i = lo; loaded && hi - lo > 1 && i < hi; i++)
                for (size_t j = lo; j < hi; j++)
                    if (i != j)
                        tie_pair(x, a, &c[i], &c[j], &full);
        }
    }
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].scale);
        free(c[i].zero);
    }
    free(c);
}
