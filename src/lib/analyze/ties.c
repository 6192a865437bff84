/* Tied weights: a learned tensor stored twice, as an identical or transposed
 * copy (torch's exporter folds lm_head = wteᵀ into a second constant).  Each
 * copy is marked tied to one source so the plan fills it once.  Candidates are
 * bucketed by a signature read from the diagonal (which a transpose keeps),
 * and only tensors in the same bucket are compared in full: near-linear. */
#include "analyze/analyze_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/matrix.h"

#define SAMPLE 64

typedef struct {
    size_t tensor;
    int64_t rows, cols;       /* as a matrix (1-dims dropped); cols 1 when not 2-D */
    uint64_t sig;
} candidate;

int oi_tie_role(oi_role role)
{
    switch (role) {
    case OI_ROLE_WEIGHT: case OI_ROLE_EMBEDDING: case OI_ROLE_POSITION: case OI_ROLE_RNN_W:
    case OI_ROLE_RNN_R: case OI_ROLE_REL_POS_BIAS: case OI_ROLE_TOKEN:
        return 1;
    default:
        return 0;
    }
}

/* Exact copies only: a quantized twin holds other codes (ties_quant.c). */
static int may_be_tied(const oi_weight *w)
{
    return w->quant->form == OI_QUANT_NONE && oi_tie_role(w->role);
}

/* Bytes of the whole tensor (caller frees), or NULL. */
static uint8_t *read_all(const oi_actx *x, const oi_tensor *t)
{
    uint8_t *b = malloc(t->n_bytes ? t->n_bytes : 1);
    if (b && oi_model_read_elems(x->model, t, 0, t->n_elems, b, NULL)) {
        free(b);
        return NULL;
    }
    return b;
}

/* Signature from diagonal elements (k, k): equal for a copy and its transpose.
 * Sampled with small reads, so a large weight is not brought into memory.
 * 0 when unreadable or the sample is constant (ones, zeros): nothing to tie. */
static uint64_t signature(const oi_actx *x, const oi_tensor *t, const candidate *c)
{
    int64_t n = c->cols > 1 ? (c->rows < c->cols ? c->rows : c->cols) : c->rows;
    int64_t step = n > SAMPLE ? n / SAMPLE : 1;
    size_t es = t->elem_size;
    uint8_t first[16], e[16];
    uint64_t h = OI_FNV_OFFSET;
    int varied = 0;
    for (int64_t k = 0; k < n; k += step) {
        uint64_t at = (uint64_t)(c->cols > 1 ? k * c->cols + k : k);
        if (oi_model_read_elems(x->model, t, at, 1, e, NULL))
            return 0;
        if (k == 0)
            memcpy(first, e, es);
        varied |= memcmp(e, first, es) != 0;
        for (size_t b = 0; b < es; b++)
            h = oi_fnv1a_byte(h, e[b]);
    }
    return varied ? h ^ (uint64_t)(c->rows * c->cols) : 0;   /* the same for a transpose */
}

static int by_sig(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->sig != y->sig)
        return x->sig < y->sig ? -1 : 1;
    return (x->tensor > y->tensor) - (x->tensor < y->tensor);
}

static int transposed_equal(const uint8_t *a, const uint8_t *b, int64_t rows, int64_t cols,
                            size_t es)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            if (memcmp(a + (size_t)(i * cols + j) * es, b + (size_t)(j * rows + i) * es, es))
                return 0;
    return 1;
}

/* Is c a copy of s?  1 identical, 2 transposed, 0 no.  Only tensors whose
 * signatures agree get here (true copies, nearly always). */
static int copy_of(const oi_actx *x, const candidate *s, const candidate *c)
{
    const oi_tensor *ts = oi_model_tensor(x->model, s->tensor);
    const oi_tensor *tc = oi_model_tensor(x->model, c->tensor);
    if (ts->dtype != tc->dtype || ts->n_elems != tc->n_elems)
        return 0;
    uint8_t *a = read_all(x, ts), *b = a ? read_all(x, tc) : NULL;
    int r = 0;
    if (a && b) {
        if (s->rows == c->rows && s->cols == c->cols && memcmp(a, b, ts->n_bytes) == 0)
            r = 1;
        else if (s->cols > 1 && s->rows == c->cols && s->cols == c->rows &&
                 transposed_equal(a, b, s->rows, s->cols, ts->elem_size))
            r = 2;
    }
    free(a);
    free(b);
    return r;
}

/* A name the exporter made ("onnx::MatMul_374", "/lm_head/Constant_output_0"),
 * not a parameter's: only such a tensor can be a copy.  Two parameters that
 * merely hold equal values (cloned layers of an untrained model) are not tied. */
/* The source of a tie: a parameter-named embedding table if there is one, else
 * the first parameter-named tensor, else the first. */
static size_t pick_source(const oi_actx *x, const oi_analysis *a, const candidate *c, size_t n)
{
    size_t named = n;
    for (size_t i = 0; i < n; i++) {
        int param = !oi_exporter_named(oi_model_tensor(x->model, c[i].tensor)->name);
        if (param && a->items[c[i].tensor].role == OI_ROLE_EMBEDDING)
            return i;
        if (param && named == n)
            named = i;
    }
    return named < n ? named : 0;
}

void oi_find_ties(const oi_actx *x, oi_analysis *a)
{
    candidate *c = malloc((a->n ? a->n : 1) * sizeof *c);
    size_t n = 0;
    for (size_t i = 0; c && i < a->n; i++) {
        oi_weight *w = &a->items[i];
        w->tied_to = -1;
        const oi_tensor *t = oi_model_tensor(x->model, i);
        if (!may_be_tied(w) || t->n_elems < 16 || !t->elem_size)
            continue;
        candidate k = {.tensor = i};
        oi_matrix_dims(t->proto->dims, t->proto->n_dims, t->n_elems, &k.rows, &k.cols);
        if (t->elem_size > 16 || t->storage == OI_STORE_NONE)
            continue;
        k.sig = signature(x, t, &k);
        if (k.sig)
            c[n++] = k;
    }
    if (c)
        qsort(c, n, sizeof *c, by_sig);
    for (size_t lo = 0, hi; c && lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && c[hi].sig == c[lo].sig; hi++)
            ;
        if (hi - lo < 2)
            continue;
        size_t s = lo + pick_source(x, a, c + lo, hi - lo);
        for (size_t i = lo; i < hi; i++) {
            int copy = i != s && oi_exporter_named(oi_model_tensor(x->model, c[i].tensor)->name);
            int how = copy ? copy_of(x, &c[s], &c[i]) : 0;
            if (how) {
                a->items[c[i].tensor].tied_to = (long)c[s].tensor;
                a->items[c[i].tensor].tied_transposed = how == 2;
            }
        }
    }
    free(c);
}
