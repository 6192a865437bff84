/* fill, orthogonal matrices: orthogonality of every shape and stream, stream
 * 3's blocked Q against LAPACK's orgqr, sizes LAPACK cannot take, and the Haar
 * distribution (entries, trace, diagonal, sign) over several seeds. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fill/fill.h"
#include "fill/fill_internal.h"
#include "fill/householder.h"
#include "oitest.h"

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x
#define SEED(v) ((oi_seed){(v), OI_STREAM_LATEST})

/* max |Q^T Q - I| (tall) or |Q Q^T - I| (wide) per matrix, in double. */
static double ortho_error(const float *q, int64_t matrices, int64_t rows, int64_t cols)
{
    double worst = 0;
    int64_t k = rows >= cols ? cols : rows;
    for (int64_t m = 0; m < matrices; m++) {
        const float *a = q + m * rows * cols;
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) {
                double s = 0;
                for (int64_t r = 0; r < (rows >= cols ? rows : cols); r++)
                    s += rows >= cols ? (double)a[r * cols + i] * a[r * cols + j]
                                      : (double)a[i * cols + r] * a[j * cols + r];
                worst = fmax(worst, fabs(s - (i == j)));
            }
    }
    return worst;
}

static void test_orthogonal_shapes(void)
{
    struct { int64_t m, r, c; double gain; } cases[] = {
        {1, 256, 256, 1.0}, {1, 300, 64, 1.0}, {1, 48, 200, 1.0}, {8, 32, 32, 1.0},
        {2, 128, 32, 1.0}, {1, 64, 64, 2.0}, {1, 200, 200, 1.0}, {1, 333, 97, 1.0},
        {1, 70, 150, 0.5}, {3, 1, 1, 1.0}, {1, 65, 65, 1.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oi_test_tensor f;
        int64_t dims[3] = {cases[i].m, cases[i].r, cases[i].c};
        oi_test_fake_tensor(&f, "R", DT(FLOAT), 3, dims);
        oi_decision d = {.kind = OI_FILL_ORTHOGONAL, .matrix = {cases[i].gain}, .matrices = cases[i].m,
                         .rows = cases[i].r, .cols = cases[i].c};
        float *q = malloc(f.t.n_elems * sizeof *q);
        oi_error err;
        for (int stream = OI_STREAM_V1; stream <= OI_STREAM_LATEST; stream++) {
            CU_ASSERT_EQUAL_FATAL(oi_fill_values(&d, &f.t, (oi_seed){7, stream}, q, &err), OI_OK);
            for (size_t e = 0; e < f.t.n_elems; e++)
                q[e] /= (float)cases[i].gain;
            double e = ortho_error(q, cases[i].m, cases[i].r, cases[i].c);
            fprintf(stderr, "  orthogonal %lldx[%lldx%lld], stream %d: max |QtQ-I| = %.2e\n",
                    (long long)cases[i].m, (long long)cases[i].r, (long long)cases[i].c, stream, e);
            CU_ASSERT_TRUE(e <= 1e-5);
        }
        free(q);
    }
}

/* Stream 3's Q in blocks of products against LAPACK's orgqr on the same
 * reflectors: square, tall, one block, a block and one, a partial last block,
 * 1 x 1, and reflectors with tau 0 (a column below its diagonal all zero)
 * first, in the middle and last. */
static void test_householder_matches_orgqr(void)
{
    void *h = dlopen("liblapacke.so.3", RTLD_NOW | RTLD_LOCAL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    oi_blas blas = {(__typeof__(&cblas_sgemm))dlsym(h, "cblas_sgemm"),
                    (__typeof__(&cblas_ssyrk))dlsym(h, "cblas_ssyrk"),
                    (__typeof__(&cblas_strmm))dlsym(h, "cblas_strmm"),
                    (__typeof__(&LAPACKE_strtri_work))dlsym(h, "LAPACKE_strtri_work")};
    __typeof__(&LAPACKE_sorgqr) orgqr = (__typeof__(&LAPACKE_sorgqr))dlsym(h, "LAPACKE_sorgqr");
    __typeof__(&LAPACKE_slarfg_work) larfg =
        (__typeof__(&LAPACKE_slarfg_work))dlsym(h, "LAPACKE_slarfg_work");
    CU_ASSERT_FATAL(blas.sgemm && blas.ssyrk && blas.strmm && blas.strtri && orgqr && larfg);
    struct { int64_t big, small, zero_col; } cases[] = {
        {200, 200, -1}, {333, 97, -1}, {64, 64, -1}, {65, 65, 0}, {129, 128, 70},
        {1, 1, -1}, {5, 3, -1}, {150, 130, 129}, {300, 250, 64}, {4000, 2, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t big = cases[i].big, small = cases[i].small, z = cases[i].zero_col;
        size_t n = (size_t)(big * small);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *tau = malloc((size_t)small * 4);
        float *work = malloc(oi_householder_work(big, small) * sizeof *work);
        oi_fill_normals((oi_rng){(uint64_t)(40 + i), OI_STREAM_V3}, OI_STREAM_ORTHO, 0, n, a);
        if (z >= 0)
            for (int64_t r = z + 1; r < big; r++)
                a[r + z * big] = 0.0f;
        for (int64_t k = 0; k < small; k++)
            larfg((lapack_int)(big - k), a + k + k * big, a + k + 1 + k * big, 1, &tau[k]);
        CU_ASSERT_TRUE(z < 0 || tau[z] == 0.0f);
        memcpy(b, a, n * sizeof *a);
        CU_ASSERT_EQUAL_FATAL(orgqr(LAPACK_COL_MAJOR, (lapack_int)big, (lapack_int)small,
                                    (lapack_int)small, a, (lapack_int)big, tau), 0);
        CU_ASSERT_EQUAL_FATAL(oi_householder_q(&blas, big, small, b, tau, work), 0);
        double worst = 0;
        for (size_t e = 0; e < n; e++)
            worst = fmax(worst, fabs((double)a[e] - b[e]));
        fprintf(stderr, "  %lldx%lld (tau 0 at %lld): max |blocked - orgqr| = %.2e\n",
                (long long)big, (long long)small, (long long)z, worst);
        CU_ASSERT_TRUE(worst < 1e-5);
        free(a), free(b), free(tau), free(work);
    }
    dlclose(h);
}

/* A matrix beyond LAPACK's 32-bit sizes is refused before anything is drawn. */
static void test_orthogonal_too_large(void)
{
    oi_decision d = {.kind = OI_FILL_ORTHOGONAL, .matrix = {1}, .matrices = 1,
                     .rows = (int64_t)1 << 31, .cols = 1};
    oi_error err;
    float one;
    CU_ASSERT_EQUAL(oi_fill_orthogonal_matrix(&d, (oi_rng){1, OI_STREAM_LATEST}, 0, &one, &err),
                    OI_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2147483648x1"));
}

/* Haar on O(3), in every stream (stream 3 forms Q from reflectors drawn
 * directly, not from a factorized matrix): each of the 9 entries is uniform on
 * [-1, 1] (a coordinate of a uniform point on the sphere S^2), by KS over
 * 4000 matrices, Fisher-combined over 3 seeds (independent), the entries'
 * smallest p against 0.001 / 9 (they share matrices); and E[tr(Q)^2] = 1. */
static void test_orthogonal_haar_entries(void)
{
    enum { HAAR_N = 4000, HAAR_SEEDS = 3 };
    oi_test_tensor f;
    int64_t dims[3] = {HAAR_N, 3, 3};
    oi_test_fake_tensor(&f, "haar", DT(FLOAT), 3, dims);
    oi_decision d = {.kind = OI_FILL_ORTHOGONAL, .matrix = {1}, .matrices = HAAR_N, .rows = 3, .cols = 3};
    float *q = malloc(f.t.n_elems * sizeof *q);
    double *x = malloc(HAAR_N * sizeof *x);
    oi_error err;
    for (int stream = OI_STREAM_V1; stream <= OI_STREAM_LATEST; stream++) {
        double p[9 * HAAR_SEEDS], tr2 = 0;
        for (int s = 0; s < HAAR_SEEDS; s++) {
            CU_ASSERT_EQUAL_FATAL(oi_fill_values(&d, &f.t, (oi_seed){(uint64_t)(11 + s), stream}, q,
                                                 &err), OI_OK);
            for (int e = 0; e < 9; e++) {
                for (int m = 0; m < HAAR_N; m++)
                    x[m] = q[m * 9 + e];
                qsort(x, HAAR_N, sizeof *x, oi_test_cmp_double);
                double ks = 0;
                for (int m = 0; m < HAAR_N; m++) {   /* U(-1, 1)'s CDF: (x + 1) / 2 */
                    double c = (x[m] + 1) / 2;
                    ks = fmax(ks, fmax(fabs(c - (double)m / HAAR_N), fabs(c - (double)(m + 1) / HAAR_N)));
                }
                p[s * 9 + e] = oi_test_ks_pvalue(ks, HAAR_N);
            }
            for (int m = 0; m < HAAR_N; m++) {
                double t = (double)q[m * 9] + q[m * 9 + 4] + q[m * 9 + 8];
                tr2 += t * t / (HAAR_N * HAAR_SEEDS);
            }
        }
        double worst = 1;
        for (int e = 0; e < 9; e++) {
            double per_seed[HAAR_SEEDS];
            for (int s = 0; s < HAAR_SEEDS; s++)
                per_seed[s] = p[s * 9 + e];
            worst = fmin(worst, oi_test_fisher(per_seed, HAAR_SEEDS));
        }
        fprintf(stderr, "  Haar, stream %d: entries uniform on [-1,1], smallest Fisher p %.3f; "
                "E[tr^2] = %.3f (want 1)\n", stream, worst, tr2);
        CU_ASSERT_TRUE(worst > 1e-3 / 9);
        CU_ASSERT_TRUE(fabs(tr2 - 1) < 0.05);
    }
    free(x);
    free(q);
}

/* Haar on O(130), several blocks of stream 3's products: tr(Q) is N(0, 1) to
 * far below what a test sees (its moments are the normal's up to order 130;
 * Diaconis and Shahshahani, 1994), by KS over 300 matrices, Fisher over 3
 * seeds; E[tr(Q^2)] = 1; and each diagonal entry has mean 0 (sd 1/sqrt(130)
 * per matrix; 4.5 sd of the mean over 900, Bonferroni over 130 at 1e-3): one
 * column whose sign is not fixed would move it by 9 sd. */
static void test_orthogonal_haar_trace(void)
{
    enum { HN = 130, HM = 300, HSEEDS = 3 };
    oi_test_tensor f;
    int64_t dims[3] = {HM, HN, HN};
    oi_test_fake_tensor(&f, "haar", DT(FLOAT), 3, dims);
    oi_decision d = {.kind = OI_FILL_ORTHOGONAL, .matrix = {1}, .matrices = HM, .rows = HN, .cols = HN};
    float *q = malloc(f.t.n_elems * sizeof *q);
    double tr[HM];
    oi_error err;
    for (int stream = OI_STREAM_V1; stream <= OI_STREAM_LATEST; stream++) {
        double p[HSEEDS], tr2 = 0, diag[HN] = {0};
        for (int s = 0; s < HSEEDS; s++) {
            CU_ASSERT_EQUAL_FATAL(oi_fill_values(&d, &f.t, (oi_seed){(uint64_t)(21 + s), stream}, q,
                                                 &err), OI_OK);
            for (int m = 0; m < HM; m++) {
                const float *a = q + (size_t)m * HN * HN;
                double t = 0, t2 = 0;
                for (int i = 0; i < HN; i++) {
                    t += a[i * HN + i];
                    diag[i] += a[i * HN + i] / (HM * HSEEDS);
                    for (int j = 0; j < HN; j++)
                        t2 += (double)a[i * HN + j] * a[j * HN + i];
                }
                tr[m] = t;
                tr2 += t2 / (HM * HSEEDS);
            }
            qsort(tr, HM, sizeof *tr, oi_test_cmp_double);
            double ks = 0;
            for (int m = 0; m < HM; m++) {
                double c = 0.5 * erfc(-tr[m] / sqrt(2.0));
                ks = fmax(ks, fmax(fabs(c - (double)m / HM), fabs(c - (double)(m + 1) / HM)));
            }
            p[s] = oi_test_ks_pvalue(ks, HM);
        }
        double fisher = oi_test_fisher(p, HSEEDS), worst_z = 0;
        for (int i = 0; i < HN; i++)
            worst_z = fmax(worst_z, fabs(diag[i]) * sqrt((double)HN * HM * HSEEDS));
        fprintf(stderr, "  Haar %dx%d, stream %d: tr(Q) ~ N(0,1), Fisher p %.3f; E[tr(Q^2)] = %.3f "
                "(want 1); largest |mean Q_ii| %.1f sd\n", HN, HN, stream, fisher, tr2, worst_z);
        CU_ASSERT_TRUE(fisher > 1e-3);
        CU_ASSERT_TRUE(worst_z < 4.5);
        CU_ASSERT_TRUE(fabs(tr2 - 1) < 0.25);
    }
    free(q);
}

/* With the sign correction Q is Haar: Q[0][0] has mean 0 (LAPACK's raw Q
 * would have it always negative). */
static void test_orthogonal_haar_sign(void)
{
    oi_test_tensor f;
    int64_t dims[3] = {4000, 3, 3};
    oi_test_fake_tensor(&f, "haar", DT(FLOAT), 3, dims);
    oi_decision d = {.kind = OI_FILL_ORTHOGONAL, .matrix = {1}, .matrices = 4000, .rows = 3, .cols = 3};
    float *q = malloc(f.t.n_elems * sizeof *q);
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_fill_values(&d, &f.t, SEED(3), q, &err), OI_OK);
    double s = 0, s2 = 0;
    for (int m = 0; m < 4000; m++) {
        s += q[m * 9];
        s2 += (double)q[m * 9] * q[m * 9];
    }
    fprintf(stderr, "  Haar: mean Q00 %.4f (sd of mean %.4f), E[Q00^2] %.4f (want 1/3)\n",
            s / 4000, sqrt(1.0 / 3 / 4000), s2 / 4000);
    CU_ASSERT_TRUE(fabs(s / 4000) < 5 * sqrt(1.0 / 3 / 4000));
    CU_ASSERT_TRUE(fabs(s2 / 4000 - 1.0 / 3) < 0.03);
    free(q);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"orthogonal: square, tall, wide, gate blocks", test_orthogonal_shapes},
        {"orthogonal: blocked Q equals LAPACK's orgqr", test_householder_matches_orgqr},
        {"orthogonal: beyond LAPACK's sizes, refused", test_orthogonal_too_large},
        {"orthogonal is Haar (sign fix)", test_orthogonal_haar_sign},
        {"orthogonal is Haar: entries and trace, every stream", test_orthogonal_haar_entries},
        {"orthogonal is Haar: trace of 130 x 130, every stream", test_orthogonal_haar_trace},
        {NULL, NULL},
    };
    return oi_test_run("ortho", tests);
}
