/* The published random streams, bit for bit and by their statistics:
 * golden bytes per stream version, Philox-R against Random123, each
 * vectorized batch against its scalar transform (so the bytes cannot depend
 * on the CPU), stream 2's polynomials against libm in double, and stream 2's
 * distributions across seeds (KS, tails, serial correlation). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fill/fill.h"
#include "fill/fill_internal.h"

#include <Random123/philox.h>
#include <Random123/u01fixedpt.h>
#include "oitest.h"

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

typedef struct {
    oi_fill_kind kind;
    double a, b;   /* the kind's two numbers (oi_test_decision) */
    int32_t dtype;
    uint64_t fnv;
} golden_row;

/* Stream 1 is 0.1's bytes; stream 2 is 0.2's.  Taken from this code, they
 * must never change: a change breaks "same seed, same bytes" for every user
 * (a new generator needs a new stream version). */
static const golden_row golden1[] = {
#include "golden_stream1.inc"
};
static const golden_row golden2[] = {
#include "golden_stream2.inc"
};

/* FNV-1a of the bytes of a 64-element tensor "golden.w" (8x8) at seed 2026. */
static void check_golden(int version, const golden_row *rows, size_t n)
{
    int64_t dims[2] = {8, 8};
    int printed = 0;
    for (size_t i = 0; i < n; i++) {
        Onnx__TensorProto proto = ONNX__TENSOR_PROTO__INIT;
        proto.n_dims = 2;
        proto.dims = dims;
        size_t es = oi_dtype_size(rows[i].dtype);
        oi_tensor t = {.proto = &proto, .name = "golden.w", .scope = "", .kind = "initializer",
                       .dtype = rows[i].dtype, .elem_size = es, .n_elems = 64, .n_bytes = 64 * es,
                       .storage = OI_STORE_RAW};
        /* The stream is the raw draws: a truncated normal's rows give its
         * scale, which the scheme's std (std / OI_TRUNC_SD) reaches from b. */
        double b = rows[i].kind == OI_FILL_TRUNC_NORMAL ? rows[i].b * OI_TRUNC_SD : rows[i].b;
        oi_decision d = oi_test_decision(rows[i].kind, rows[i].a, b);
        d.rows = d.cols = 8;
        uint8_t bytes[64 * 8];
        oi_error err;
        CU_ASSERT_EQUAL_FATAL(oi_fill_tensor(&d, &t, (oi_seed){2026, version}, bytes, &err), OI_OK);
        uint64_t h = 1469598103934665603ULL;
        for (size_t k = 0; k < t.n_bytes; k++)
            h = (h ^ bytes[k]) * 1099511628211ULL;
        if (h != rows[i].fnv) {
            CU_FAIL("published stream changed");
            if (!printed++)
                fprintf(stderr, "  stream %d: golden bytes differ; this code gives:\n", version);
            fprintf(stderr, "        {%d, %g, %g, %d, 0x%016llxULL},\n", (int)rows[i].kind,
                    rows[i].a, rows[i].b, (int)rows[i].dtype, (unsigned long long)h);
        }
    }
}

static void test_golden_bytes(void)
{
    check_golden(OI_STREAM_V1, golden1, sizeof golden1 / sizeof *golden1);
    check_golden(OI_STREAM_V2, golden2, sizeof golden2 / sizeof *golden2);
    /* stream 3 is stream 2's draws (it differs in how orthogonal matrices are formed) */
    check_golden(OI_STREAM_V3, golden2, sizeof golden2 / sizeof *golden2);
}

/* The two versions are different streams of the same seed and name. */
static void test_versions_differ(void)
{
    float a[256], b[256];
    oi_fill_normals((oi_rng){42, OI_STREAM_V1}, OI_STREAM_MAIN, 0, 256, a);
    oi_fill_normals((oi_rng){42, OI_STREAM_V2}, OI_STREAM_MAIN, 0, 256, b);
    int same = 0;
    for (int i = 0; i < 256; i++)
        same += a[i] == b[i];
    CU_ASSERT_TRUE(same < 4);
}

/* The batched Philox-R (R = 10, 7) is Random123's philox4x32_R, bit for bit,
 * in every implementation this CPU runs. */
static void test_batched_philox_matches_random123(void)
{
    uint64_t keys[] = {0, 1, 0xdeadbeefcafef00dULL, UINT64_MAX};
    uint64_t firsts[] = {0, 3, 1000003, (UINT64_C(1) << 32) - 5, UINT64_C(1) << 40};
    int rounds[] = {10, 7}, mismatches = 0, ran = 0, vector = 0;
    for (size_t ri = 0; ri < 2; ri++)
        for (size_t k = 0; k < 4; k++)
            for (size_t f = 0; f < 5; f++)
                for (uint32_t space = 0; space < 3; space++) {
                    uint32_t out[4][OI_PHILOX_BATCH], other[3][4][OI_PHILOX_BATCH];
                    oi_philox_batch(rounds[ri], keys[k], space, firsts[f], out);
                    for (int isa = 0; isa < 3; isa++)   /* three batches: out is the first */
                        if (oi_philox_batch_isa(isa, rounds[ri], keys[k], space, firsts[f], 3,
                                                other)) {
                            mismatches += memcmp(out, other[0], sizeof out) != 0;
                            for (int b = 1; b < 3; b++) {
                                uint32_t one[4][OI_PHILOX_BATCH];
                                oi_philox_batch(rounds[ri], keys[k], space,
                                                firsts[f] + (uint64_t)b * OI_PHILOX_BATCH, one);
                                mismatches += memcmp(one, other[b], sizeof one) != 0;
                            }
                            ran++;
                            vector += isa > 0;
                        }
                    philox4x32_key_t key = {{(uint32_t)keys[k], (uint32_t)(keys[k] >> 32)}};
                    for (int j = 0; j < OI_PHILOX_BATCH; j++) {
                        uint64_t b = firsts[f] + (uint64_t)j;
                        philox4x32_ctr_t c = {{(uint32_t)b, (uint32_t)(b >> 32), space, 0}};
                        philox4x32_ctr_t r = philox4x32_R((unsigned)rounds[ri], c, key);
                        for (int lane = 0; lane < 4; lane++)
                            mismatches += out[lane][j] != r.v[lane];
                    }
                }
    fprintf(stderr, "  %d implementation runs compared\n", ran);
    CU_ASSERT_TRUE(ran >= 2 * 4 * 5 * 3);   /* at least the portable one, always */
    if (!vector)
        oi_test_skip("no vectorized Philox build runs on this CPU: only the portable one compared");
    CU_ASSERT_EQUAL(mismatches, 0);
}

/* Stream 1's arithmetic Box-Muller agrees with one built on libm in double. */
static void test_stream1_box_muller_matches_libm(void)
{
    enum { COUNT = 1 << 16 };
    float *z = malloc(COUNT * sizeof *z);
    oi_fill_normals((oi_rng){77, OI_STREAM_V1}, 0, 0, COUNT, z);
    double worst = 0;
    philox4x32_key_t key = {{77, 0}};
    for (uint32_t b = 0; b < COUNT / 4; b++) {
        philox4x32_ctr_t c = {{b, 0, 0, 0}};
        philox4x32_ctr_t r = philox4x32_R(10, c, key);
        for (int pair = 0; pair < 2; pair++) {
            double u1 = u01fixedpt_open_open_32_float(r.v[2 * pair]);
            double u2 = u01fixedpt_open_open_32_float(r.v[2 * pair + 1]);
            double rad = sqrt(-2 * log(u1)), t = 2 * M_PI * u2;
            worst = fmax(worst, fabs(z[4 * b + 2 * pair] - rad * cos(t)));
            worst = fmax(worst, fabs(z[4 * b + 2 * pair + 1] - rad * sin(t)));
        }
    }
    fprintf(stderr, "  stream 1 Box-Muller: max |ours - libm double| = %.2e\n", worst);
    CU_ASSERT_TRUE(worst < 2e-5);
    free(z);
}

/* 32-bit words to test transforms on: a Philox stream plus the extremes. */
static uint32_t word(uint32_t i)
{
    static const uint32_t edge[] = {0, 1, 2, 0x7fffffffu, 0x80000000u, 0x80000001u,
                                    0xfffffffeu, 0xffffffffu, 0x3f800000u, 0x00800000u};
    if (i < sizeof edge / sizeof *edge)
        return edge[i];
    philox4x32_key_t key = {{5, 6}};
    philox4x32_ctr_t c = {{i, 0, 0, 0}};
    return philox4x32_R(7, c, key).v[0];
}

/* Stream 2's polynomials against libm in double over 2^20 inputs and the extremes. */
static void test_stream2_transforms_match_libm(void)
{
    double ln_rel = 0, bm = 0, tr = 0, lo = 0, hi = 0;
    for (uint32_t i = 0; i < (1u << 20); i++) {
        float u = u01fixedpt_open_open_32_float(word(i));
        double l = log((double)u), ours = oi_stream2_ln(u);
        ln_rel = fmax(ln_rel, fabs(ours - l) / fmax(fabs(l), 1e-30));
        uint32_t w2 = word(i ^ 0x5555u);
        float zc, zs;
        oi_stream2_box_muller(word(i), w2, &zc, &zs);
        double rad = sqrt(-2 * l), t = 2 * M_PI * (double)u01fixedpt_open_open_32_float(w2);
        bm = fmax(bm, fmax(fabs(zc - rad * cos(t)), fabs(zs - rad * sin(t))));
        /* truncated normal: erf(z / sqrt 2) must be y = erf(sqrt 2) v */
        float z = oi_stream2_trunc(word(i));
        double v = (2.0 * (double)((int32_t)word(i) >> 8) + 1) / 16777216.0;
        double y = erf(sqrt(2.0)) * v, zt = z;
        for (int k = 0; k < 3; k++)   /* Newton on erf(zt / sqrt 2) = y, in double */
            zt -= (erf(zt / sqrt(2.0)) - y) / (sqrt(2 / M_PI) * exp(-zt * zt / 2));
        tr = fmax(tr, fabs(z - zt));
        lo = fmin(lo, z);
        hi = fmax(hi, z);
    }
    fprintf(stderr, "  stream 2: ln max rel err %.2e, Box-Muller max abs err %.2e, "
            "truncated inverse CDF max abs err %.2e, range [%.7f, %.7f]\n", ln_rel, bm, tr, lo, hi);
    CU_ASSERT_TRUE(ln_rel < 4e-7);
    CU_ASSERT_TRUE(bm < 4e-6);
    CU_ASSERT_TRUE(tr < 1e-6);
    CU_ASSERT_TRUE(lo >= -2.0 && hi <= 2.0 && lo < -1.999 && hi > 1.999);
}

/* Each vectorized batch of stream 2 gives, byte for byte, the scalar
 * transform of Random123's Philox4x32-7 words: what any CPU computes. */
static void test_stream2_batches_equal_scalar(void)
{
    enum { COUNT = 12 * OI_BATCH_ELEMS + 37 };   /* past a group of 8 batches */
    static float u[COUNT], z[COUNT], t[COUNT];
    uint64_t start = 3 * OI_BATCH_ELEMS - 5;   /* unaligned both ends */
    oi_rng rng = {0x0123456789abcdefULL, OI_STREAM_V2};
    oi_decision du = {.kind = OI_FILL_UNIFORM, .uniform = {0, 1}};
    /* std OI_TRUNC_SD: the raw truncated draw times exactly 1 */
    oi_decision dt = {.kind = OI_FILL_TRUNC_NORMAL, .normal = {0, OI_TRUNC_SD}};
    oi_fill_elementwise(&du, rng, start, COUNT, u);
    oi_fill_normals(rng, OI_STREAM_MAIN, start, COUNT, z);
    oi_fill_elementwise(&dt, rng, start, COUNT, t);
    philox4x32_key_t key = {{(uint32_t)rng.key, (uint32_t)(rng.key >> 32)}};
    int bad = 0;
    for (uint64_t e = start; e < start + COUNT; e++) {
        /* element e: lane k / 64 of block 64 (e / 256) + k % 64, k = e % 256 */
        uint64_t k = e % OI_BATCH_ELEMS;
        uint64_t block = e / OI_BATCH_ELEMS * OI_PHILOX_BATCH + k % OI_PHILOX_BATCH;
        philox4x32_ctr_t c = {{(uint32_t)block, (uint32_t)(block >> 32), OI_STREAM_MAIN, 0}};
        philox4x32_ctr_t r = philox4x32_R(7, c, key);
        c.v[2] = OI_STREAM_TRUNC;
        philox4x32_ctr_t rt = philox4x32_R(7, c, key);
        int lane = (int)(k / OI_PHILOX_BATCH), pair = lane / 2;
        float zc, zs, su = u01fixedpt_open_open_32_float(r.v[lane]);   /* raw: (0, 1) adds nothing */
        oi_stream2_box_muller(r.v[2 * pair], r.v[2 * pair + 1], &zc, &zs);
        float sz = lane % 2 ? zs : zc, st = oi_stream2_trunc(rt.v[lane]);
        size_t i = (size_t)(e - start);
        bad += memcmp(&u[i], &su, 4) != 0 || memcmp(&z[i], &sz, 4) != 0 ||
               memcmp(&t[i], &st, 4) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Each build of each stream-2 kernel this CPU runs gives the same bytes, of
 * the draws and of an affine step fused in. */
static void test_stream2_builds_agree(void)
{
    static const float steps[][2] = {{0, 1}, {-0.1f, 0.2f}, {0.5f, -3.0f}};
    enum { BATCHES = 11 };   /* more than one group of words */
    static float want[BATCHES * OI_BATCH_ELEMS], got[BATCHES * OI_BATCH_ELEMS];
    int ran = 0, bad = 0;
    for (int kind = 0; kind < 3; kind++)
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
            for (uint64_t first = 0; first < 64 * 40; first += 64 * 7) {
                float a = steps[s][0], b = steps[s][1];
                CU_ASSERT_FATAL(oi_stream2_batch_isa(0, kind, 99, 0, first, BATCHES, a, b, want));
                for (int isa = 1; isa < 3; isa++)
                    if (oi_stream2_batch_isa(isa, kind, 99, 0, first, BATCHES, a, b, got)) {
                        ran++;
                        bad += memcmp(want, got, sizeof want) != 0;
                    }
            }
    fprintf(stderr, "  %d vector batches compared with the baseline build\n", ran);
    CU_ASSERT_EQUAL(bad, 0);
    if (!ran)
        oi_test_skip("no vectorized stream 2 build runs on this CPU: nothing compared");
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* KS p-value of x (sorted here) against cdf 0 = N(0,1), 1 = U(0,1), 2 = N(0,1) on [-2, 2]. */
static double ks_p(double *x, size_t n, int cdf)
{
    qsort(x, n, sizeof *x, by_double);
    double d = 0, lo = phi(-2), width = phi(2) - phi(-2);
    for (size_t i = 0; i < n; i++) {
        double f = cdf == 1 ? x[i] : cdf == 0 ? phi(x[i]) : (phi(x[i]) - lo) / width;
        d = fmax(d, fmax(fabs(f - (double)i / n), fabs(f - (double)(i + 1) / n)));
    }
    return oi_test_ks_pvalue(d, n);
}

/* Stream 2 for eight fixed seeds: each KS p > 1e-4 (chance of a false alarm
 * over the 24 tests ~0.2%), Fisher's combination of all 24 > 1e-4, the
 * normal tails beyond 3 and 4 within 5 sd of their expected counts, and
 * lag-1/2/4 serial correlation within 5/sqrt(n). */
static void test_stream2_statistics_across_seeds(void)
{
    enum { SAMPLES = 1 << 18, SEEDS = 8 };
    float *v = malloc(SAMPLES * sizeof *v);
    double *x = malloc(SAMPLES * sizeof *x), fisher = 0, worst_p = 1, worst_r = 0;
    long beyond3 = 0, beyond4 = 0;
    oi_decision kinds[3] = {{.kind = OI_FILL_NORMAL, .normal = {0, 1}},
                            {.kind = OI_FILL_UNIFORM, .uniform = {0, 1}},
                            {.kind = OI_FILL_TRUNC_NORMAL, .normal = {0, OI_TRUNC_SD}}};
    for (uint64_t seed = 0; seed < SEEDS; seed++)
        for (int k = 0; k < 3; k++) {
            oi_rng rng = {oi_fill_key(seed, "", "stats.w"), OI_STREAM_V2};
            oi_fill_elementwise(&kinds[k], rng, 0, SAMPLES, v);
            double mean = 0, var = 0;
            for (size_t i = 0; i < SAMPLES; i++) {
                x[i] = v[i];
                mean += x[i] / SAMPLES;
                if (k == 0) {
                    beyond3 += fabs(x[i]) > 3;
                    beyond4 += fabs(x[i]) > 4;
                }
            }
            for (size_t i = 0; i < SAMPLES; i++)
                var += (x[i] - mean) * (x[i] - mean);
            for (int lag = 1; lag <= 4; lag *= 2) {
                double c = 0;
                for (size_t i = 0; i + (size_t)lag < SAMPLES; i++)
                    c += (x[i] - mean) * (x[i + (size_t)lag] - mean);
                worst_r = fmax(worst_r, fabs(c / var));
            }
            double p = ks_p(x, SAMPLES, k);
            worst_p = fmin(worst_p, p);
            fisher += -2 * log(fmax(p, 1e-300));
            CU_ASSERT_TRUE(p > 1e-4);
        }
    /* chi-square with 48 degrees of freedom: P(X > 98.8) ~ 2e-5 */
    double n = (double)SAMPLES * SEEDS, e3 = n * 2 * phi(-3), e4 = n * 2 * phi(-4);
    fprintf(stderr, "  stream 2 over %d seeds: worst KS p %.4f, Fisher chi2(48) %.1f, "
            "|z|>3 %ld (want %.0f), |z|>4 %ld (want %.0f), worst serial r %.5f\n", SEEDS, worst_p,
            fisher, beyond3, e3, beyond4, e4, worst_r);
    CU_ASSERT_TRUE(fisher < 98.8);
    CU_ASSERT_TRUE(fabs((double)beyond3 - e3) < 5 * sqrt(e3));
    CU_ASSERT_TRUE(fabs((double)beyond4 - e4) < 5 * sqrt(e4));
    CU_ASSERT_TRUE(worst_r < 5 / sqrt((double)SAMPLES));
    free(v);
    free(x);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"golden bytes per stream, scheme and dtype", test_golden_bytes},
        {"stream versions differ", test_versions_differ},
        {"batched Philox-10 and -7 equal Random123", test_batched_philox_matches_random123},
        {"stream 1 Box-Muller equals libm", test_stream1_box_muller_matches_libm},
        {"stream 2 transforms equal libm", test_stream2_transforms_match_libm},
        {"stream 2 batches equal the scalar transforms", test_stream2_batches_equal_scalar},
        {"stream 2 builds (baseline, AVX2+FMA, AVX-512) agree", test_stream2_builds_agree},
        {"stream 2 statistics across seeds", test_stream2_statistics_across_seeds},
        {NULL, NULL},
    };
    return oi_test_run("stream", tests);
}
