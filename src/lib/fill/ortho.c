/* Structured schemes: orthogonal (LAPACK QR), identity/dirac, sparse. */
#include "fill/fill_internal.h"
#include "fill/householder.h"

#include <Random123/philox.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK is loaded when an orthogonal fill needs it, not with the library:
 * OpenBLAS starts a thread pool as it loads, and the pool's idle threads spin
 * for ~0.1 s on the cores every other fill wants (5% of a 1 GB run's CPU).
 * RTLD_NODELETE keeps it loaded once closed, so each later matrix only looks
 * it up; the handle is per call, so there is no global state. */
#define LAPACKE_SONAME "liblapacke.so.3"

typedef struct {
    void *handle;
    __typeof__(&LAPACKE_sgeqrf) geqrf;
    __typeof__(&LAPACKE_sorgqr_work) orgqr;   /* (_work: the drawn values need no NaN scan) */
    __typeof__(&LAPACKE_slarfg_work) larfg;
    oi_blas blas;   /* stream 3's Q (householder.c) */
} lapack_fns;

/* A function of an OpenBLAS already in this process (numpy's, loaded locally
 * by Python), or NULL.  The library stays loaded: its host holds it. */
static void *loaded_openblas(const char *symbol)
{
    static const char *const names[] = {"libopenblas.so.0", "libblas.so.3", "liblapack.so.3",
                                        NULL};
    void *fn = dlsym(RTLD_DEFAULT, symbol);
    for (size_t i = 0; !fn && names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
        fn = h ? dlsym(h, symbol) : NULL;
        if (h)
            dlclose(h);
    }
    return fn;
}

int oi_fill_hosts_threaded_blas(void)
{
    int (*threads)(void) = (int (*)(void))loaded_openblas("openblas_get_num_threads");
    return threads && threads() > 1;
}

static oi_status lapack_open(lapack_fns *l, oi_error *err)
{
    /* An OpenBLAS the host process already uses is the host's: its thread
     * count is never touched (a numpy beside us keeps its threads). */
    int hosts_blas = loaded_openblas("openblas_set_num_threads") != NULL;
    *l = (lapack_fns){.handle = dlopen(LAPACKE_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)};
    if (l->handle) {
        l->geqrf = (__typeof__(&LAPACKE_sgeqrf))dlsym(l->handle, "LAPACKE_sgeqrf");
        l->orgqr = (__typeof__(&LAPACKE_sorgqr_work))dlsym(l->handle, "LAPACKE_sorgqr_work");
        l->larfg = (__typeof__(&LAPACKE_slarfg_work))dlsym(l->handle, "LAPACKE_slarfg_work");
        /* (the CBLAS LAPACKE's own BLAS carries, found through its dependencies) */
        l->blas.sgemm = (__typeof__(&cblas_sgemm))dlsym(l->handle, "cblas_sgemm");
        l->blas.ssyrk = (__typeof__(&cblas_ssyrk))dlsym(l->handle, "cblas_ssyrk");
        l->blas.strmm = (__typeof__(&cblas_strmm))dlsym(l->handle, "cblas_strmm");
        l->blas.strtri = (__typeof__(&LAPACKE_strtri_work))dlsym(l->handle, "LAPACKE_strtri_work");
        /* The OpenBLAS this library brought in (if that is the LAPACK): one
         * thread per call, as the fill's workers already spread the matrices
         * over the cores and its spinning threads on top of them cost 3-4x. */
        void (*set_threads)(int) = (void (*)(int))dlsym(l->handle, "openblas_set_num_threads");
        if (set_threads && !hosts_blas)
            set_threads(1);
    }
    if (l->handle && l->geqrf && l->orgqr && l->larfg && l->blas.sgemm && l->blas.ssyrk &&
        l->blas.strmm && l->blas.strtri)
        return OI_OK;
    const char *why = dlerror();
    if (l->handle)
        dlclose(l->handle);
    return oi_fail(err, OI_ERR_UNSUPPORTED, "orthogonal fills need LAPACKE (" LAPACKE_SONAME "): %s",
                   why ? why : "a LAPACKE or CBLAS function is missing");
}

/* The Householder vectors of the QR of a Gaussian big x small matrix, in
 * geqrf's layout (a and tau), and sign(diag R).  Streams 1 and 2 factorize
 * the drawn matrix.  Stream 3 uses Stewart's theorem (1980): those vectors are
 * distributed as the ones made from fresh Gaussian vectors, so column k's draw
 * below its diagonal is made into reflector k directly (larfg): Q is then
 * formed as before, with half the work and the same (Haar) distribution. */
static lapack_int reflectors(const lapack_fns *lapack, int stream, int64_t big, int64_t small,
                             float *a, float *tau, float *signs)
{
    lapack_int info = 0;
    if (stream < OI_STREAM_V3)
        info = lapack->geqrf(LAPACK_COL_MAJOR, (lapack_int)big, (lapack_int)small, a,
                             (lapack_int)big, tau);
    for (int64_t k = 0; info == 0 && stream >= OI_STREAM_V3 && k < small; k++) {
        float *x = a + k + k * big;
        info = lapack->larfg((lapack_int)(big - k), x, x + 1, 1, &tau[k]);
    }
    for (int64_t j = 0; info == 0 && j < small; j++)
        signs[j] = a[j + j * big] < 0 ? -1.0f : 1.0f;   /* sign(diag R) */
    return info;
}

/* The Gaussian matrix a (big x small, column-major) of counters first.. of
 * the orthogonal space.  Stream 3 reads each column from its diagonal down,
 * so whole batches of draws above the diagonal are left out (up to a third
 * of a square matrix's); the values drawn are the same. */
static void draw(oi_rng rng, uint64_t first, int64_t big, int64_t small, float *a)
{
    if (rng.version < OI_STREAM_V3) {
        oi_fill_normals(rng, OI_STREAM_ORTHO, first, (size_t)(big * small), a);
        return;
    }
    uint64_t from = 0, to = 0;   /* the run of elements of a not yet drawn */
    for (int64_t k = 0; k < small; k++) {
        uint64_t diagonal = first + (uint64_t)(k * big + k);
        uint64_t start = diagonal - diagonal % OI_BATCH_ELEMS;   /* its batch's first */
        start = start < first ? 0 : start - first;
        if (start > to) {
            oi_fill_normals(rng, OI_STREAM_ORTHO, first + from, (size_t)(to - from), a + from);
            from = start;
        }
        to = (uint64_t)((k + 1) * big);
    }
    oi_fill_normals(rng, OI_STREAM_ORTHO, first + from, (size_t)(to - from), a + from);
}

/* Q from the reflectors in a (geqrf's layout), in place: orgqr (streams 1
 * and 2, whose bytes are kept) or its blocked equivalent (householder.c), with
 * the workspace each asks for.  0, or LAPACK's info; -1 when out of memory. */
static lapack_int form_q(const lapack_fns *lapack, int stream, int64_t big, int64_t small,
                         float *a, const float *tau)
{
    size_t lwork = oi_householder_work(big, small);
    lapack_int info = 0;
    if (stream < OI_STREAM_V3) {
        float size = 0;
        info = lapack->orgqr(LAPACK_COL_MAJOR, (lapack_int)big, (lapack_int)small,
                             (lapack_int)small, a, (lapack_int)big, tau, &size, -1);
        lwork = size >= 1 ? (size_t)size : (size_t)small;
    }
    float *work = info == 0 ? malloc(lwork * sizeof *work) : NULL;
    if (info == 0 && !work)
        return -1;
    if (info == 0 && stream >= OI_STREAM_V3)
        info = oi_householder_q(&lapack->blas, big, small, a, tau, work);
    else if (info == 0)
        info = lapack->orgqr(LAPACK_COL_MAJOR, (lapack_int)big, (lapack_int)small,
                             (lapack_int)small, a, (lapack_int)big, tau, work, (lapack_int)lwork);
    free(work);
    return info;
}

/* Whether out can hold a while Q is formed: out is gain diag(signs) Q^T when
 * Q is wide, and stream 3 takes that form for a square Q too (the transpose
 * of a Haar matrix is Haar), so only a tall Q needs a copy. */
static int formed_in_place(int stream, int64_t rows, int64_t cols)
{
    return rows < cols || (rows == cols && stream >= OI_STREAM_V3);
}

/* out (rows x cols, row-major) = gain x Q x diag(signs) from column-major a.
 * Formed in place: each column of a is a row of out, scaled.  Otherwise Q is
 * transposed in 32 x 32 tiles, so neither side is read with a stride across
 * the whole matrix. */
static void copy_out(const float *a, const float *signs, float gain, int64_t rows, int64_t cols,
                     int64_t big, int64_t small, float *out)
{
    enum { TILE = 32 };
    if (a == out) {
        for (int64_t i = 0; i < small; i++)
            for (int64_t j = 0; j < big; j++)
                out[i * big + j] *= gain * signs[i];
        return;
    }
    for (int64_t i0 = 0; i0 < rows; i0 += TILE)
        for (int64_t j0 = 0; j0 < cols; j0 += TILE)
            for (int64_t j = j0; j < j0 + TILE && j < cols; j++)
                for (int64_t i = i0; i < i0 + TILE && i < rows; i++)
                    out[i * cols + j] = gain * signs[j] * a[i + j * big];
}

/* Q of the QR of a Gaussian matrix, columns times sign(diag R) so Q is Haar
 * distributed (as torch.nn.init.orthogonal_); wide shapes use the transpose. */
oi_status oi_fill_orthogonal_matrix(const oi_decision *d, oi_rng rng, int64_t m, float *out,
                                    oi_error *err)
{
    int64_t rows = d->rows, cols = d->cols;
    int64_t big = rows >= cols ? rows : cols, small = rows >= cols ? cols : rows;
    if (big > INT_MAX)   /* LAPACK's and BLAS's sizes are 32-bit */
        return oi_fail(err, OI_ERR_UNSUPPORTED, "a %lldx%lld orthogonal matrix is beyond LAPACK's "
                       "sizes (at most %d rows or columns)", (long long)rows, (long long)cols,
                       INT_MAX);
    lapack_fns lapack;
    oi_status opened = lapack_open(&lapack, err);
    if (opened)
        return opened;
    int in_place = formed_in_place(rng.version, rows, cols);
    float *a = in_place ? out : malloc((size_t)(big * small) * sizeof *a);
    float *tau = malloc((size_t)small * sizeof *tau);
    float *signs = malloc((size_t)small * sizeof *signs);
    oi_status s = OI_OK;
    lapack_int info = -1;
    if (a && tau && signs) {
        draw(rng, (uint64_t)(m * rows * cols), big, small, a);
        info = reflectors(&lapack, rng.version, big, small, a, tau, signs);
        if (info == 0)
            info = form_q(&lapack, rng.version, big, small, a, tau);
    }
    if (info == -1)
        s = oi_fail(err, OI_ERR_NOMEM, "out of memory for a %lldx%lld orthogonal matrix",
                    (long long)rows, (long long)cols);
    else if (info != 0)
        s = oi_fail(err, OI_ERR_INTERNAL, "LAPACK QR of a %lldx%lld matrix failed (info %d)",
                    (long long)big, (long long)small, (int)info);
    else
        copy_out(a, signs, (float)d->matrix.gain, rows, cols, big, small, out);
    free(signs);
    if (!in_place)
        free(a);
    free(tau);
    dlclose(lapack.handle);
    return s;
}

/* Identity for matrices; dirac (centre tap of channel i -> output i) for conv kernels. */
void oi_fill_identity(const oi_decision *d, const oi_tensor *t, float *out)
{
    const Onnx__TensorProto *p = t->proto;
    if (t->n_elems == 0)
        return;   /* nothing to write: a zero-sized dim */
    memset(out, 0, (size_t)t->n_elems * sizeof *out);
    if (p->n_dims < 2)
        return;
    int64_t o = p->dims[0], in = p->dims[1], spatial = 1, centre = 0;
    for (size_t k = 2; k < p->n_dims; k++) {
        centre = centre * p->dims[k] + p->dims[k] / 2;
        spatial *= p->dims[k];
    }
    for (int64_t i = 0; i < o && i < in; i++)
        out[(i * in + i) * spatial + centre] = (float)d->matrix.gain;
}

/* torch.nn.init.sparse_: N(0, std^2), then in each column ceil(sparsity*rows)
 * entries, chosen by a seeded partial shuffle, set to 0 (the shuffle's
 * Philox has the stream's rounds). */
oi_status oi_fill_sparse(const oi_decision *d, oi_rng rng, float *out, oi_error *err)
{
    int64_t rows = d->rows, cols = d->cols;
    oi_fill_normals(rng, OI_STREAM_MAIN, 0, (size_t)(rows * cols), out);
    for (int64_t i = 0; i < rows * cols; i++)
        out[i] *= (float)d->sparse.std;
    int64_t zeros = (int64_t)ceil(d->sparse.sparsity * (double)rows);
    int64_t *perm = malloc((size_t)rows * sizeof *perm);
    if (!perm)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory for a sparse fill");
    philox4x32_key_t k = {{(uint32_t)rng.key, (uint32_t)(rng.key >> 32)}};
    for (int64_t c = 0; c < cols; c++) {
        for (int64_t r = 0; r < rows; r++)
            perm[r] = r;
        for (int64_t s = 0; s < zeros && s < rows; s++) {
            philox4x32_ctr_t ctr = {{(uint32_t)c, (uint32_t)s, OI_STREAM_SPARSE, (uint32_t)(c >> 32)}};
            uint64_t r = (rng.version == OI_STREAM_V1 ? philox4x32_R(10, ctr, k)
                                                      : philox4x32_R(7, ctr, k)).v[0];
            int64_t j = s + (int64_t)(r % (uint64_t)(rows - s));
            int64_t tmp = perm[s];
            perm[s] = perm[j];
            perm[j] = tmp;
            out[perm[s] * cols + c] = 0.0f;
        }
    }
    free(perm);
    return OI_OK;
}
