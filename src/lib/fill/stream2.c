/* Stream 2: Random123's Philox4x32-7 and division-free transforms.
 *
 * Every transform is a fixed sequence of IEEE single-precision operations
 * (fused multiply-adds by fmaf, one square root, conversions, bit moves),
 * with no branch and no division: the compiler runs a batch in vectors (FMA
 * instructions where the CPU has them, libm's exact fmaf where not), and each
 * lane's bytes are those of the scalar functions below on every CPU.
 * Polynomials are evaluated in Estrin's order: short dependency chains.
 *
 * Element k of a batch is lane k / 64 of counter block first + k % 64, so a
 * batch is written in place with no transpose.  Uniforms: 32 bits to (0,1)
 * as in stream 1.  Normals: Box-Muller, lanes (0,1) and (2,3) of a block one
 * pair (r cos to the first lane's element, r sin to the second's).  Normals
 * on [-2, 2]: one word each through the inverse CDF, no rejection.  The
 * coefficients come from scripts/fit_stream2.py and, like the rounds and
 * the layout, define the published bytes: they must never change. */
#include "fill/fill_internal.h"

#include <math.h>
#include <string.h>

#define BATCH OI_PHILOX_BATCH
#define ROUNDS 7

/* LN_Q: max error 7.4e-08 in float32 */
static const float LN_Q[9] = {
    -0.49999997f, 0.333333224f, -0.250007719f, 0.200019687f, -0.166275993f, 0.141890004f,
    -0.131016344f, 0.128217489f, -0.0786666796f
};
/* SIN_S: max error 8.3e-08 in float32 */
static const float SIN_S[4] = {
    1.57079637f, -0.64596349f, 0.0796802193f, -0.0046021631f
};
/* COS_C: max error 5.7e-08 in float32 */
static const float COS_C[5] = {
    1.0f, -1.23370051f, 0.253669202f, -0.0208600704f, 0.000903629872f
};
/* TRUNC_R: max error 2.6e-07 in float32 */
static const float TRUNC_R[7] = {
    1.25331414f, 0.328118384f, 0.0163225979f, -0.00327387452f, -0.000218196554f,
    9.16664212e-05f, -6.50003085e-06f
};
/* erf(sqrt 2): y in (-erf(sqrt 2), erf(sqrt 2)) gives z in (-2, 2) */
#define TRUNC_ERF2 0.954499736f
#define LN2 0.693147181f

static inline __attribute__((always_inline)) float as_float(uint32_t i)
{
    float f;
    memcpy(&f, &i, 4);
    return f;
}

static inline __attribute__((always_inline)) uint32_t as_bits(float f)
{
    uint32_t i;
    memcpy(&i, &f, 4);
    return i;
}

/* (0.5 + (w >> 9)) / 2^23, Random123's u01fixedpt_open_open_32_float, as one
 * exact fused multiply-add (the product is exact): a shorter chain. */
static inline __attribute__((always_inline)) float unit(uint32_t w)
{
    return fmaf((float)(w >> 9), 0x1p-23f, 0x1p-24f);
}

/* s * ln u for u in (0, 1], s = 1 or -2 (exact scalings): u = m 2^e, m in
 * [sqrt(1/2), sqrt(2)), ln m = f + f^2 Q(f), f = m - 1; Q is scaled by s so
 * s ln m = s f + f^2 (s Q) is one multiply-add. */
static inline __attribute__((always_inline)) float scaled_ln(float u, float s)
{
    uint32_t i = as_bits(u);
    int32_t e = (int32_t)(i - 0x3f3504f3u) >> 23;   /* 0x3f3504f3: sqrt(1/2) */
    float f = as_float(i - ((uint32_t)e << 23)) - 1.0f;
    float f2 = f * f, f4 = f2 * f2;
    float q01 = fmaf(s * LN_Q[1], f, s * LN_Q[0]), q23 = fmaf(s * LN_Q[3], f, s * LN_Q[2]);
    float q45 = fmaf(s * LN_Q[5], f, s * LN_Q[4]), q67 = fmaf(s * LN_Q[7], f, s * LN_Q[6]);
    float q03 = fmaf(q23, f2, q01), q47 = fmaf(q67, f2, q45);
    float q = fmaf(fmaf(s * LN_Q[8], f4, q47), f4, q03);
    return fmaf((float)e, s * LN2, fmaf(f2, q, s * f));
}

static inline __attribute__((always_inline)) float ln2(float u) { return scaled_ln(u, 1.0f); }

/* r cos and r sin of 2 pi u2, r = sqrt(-2 ln u1): the angle's nearest quarter
 * turn q and the rest t (|t| <= 1/2 quarter turn) by polynomials, then sin
 * and cos swapped (q odd) and negated (by sign bits) into place. */
static inline __attribute__((always_inline)) void box_muller2(uint32_t w1, uint32_t w2, float *zc,
                                                              float *zs)
{
    float r = sqrtf(scaled_ln(unit(w1), -2.0f));
    float x = fmaf((float)(w2 >> 9), 0x1p-21f, 0x1p-22f);   /* 4 unit(w2), exactly */
    int32_t q = (int32_t)(x + 0.5f);
    float t = x - (float)q, z = t * t, z2 = z * z;
    float s = t * fmaf(fmaf(SIN_S[3], z, SIN_S[2]), z2, fmaf(SIN_S[1], z, SIN_S[0]));
    float c = fmaf(fmaf(COS_C[4], z, COS_C[3]), z * z2,
                   fmaf(fmaf(COS_C[2], z, COS_C[1]), z, COS_C[0]));
    int odd = q & 1;
    uint32_t sin_bits = as_bits(odd ? c : s), cos_bits = as_bits(odd ? s : c);
    sin_bits ^= ((uint32_t)q << 30) & 0x80000000u;         /* q = 2, 3: -sin */
    cos_bits ^= ((uint32_t)(q + 1) << 30) & 0x80000000u;   /* q = 1, 2: -cos */
    *zc = r * as_float(cos_bits);
    *zs = r * as_float(sin_bits);
}

/* N(0,1) on [-2, 2] from 32 bits: v = (2k+1)/2^24 in (-1, 1) (exact, symmetric),
 * y = erf(sqrt 2) v, z = sqrt(2) erfinv(y) = y R(w) with w = -ln((1-y)(1+y)). */
static inline __attribute__((always_inline)) float trunc2(uint32_t bits)
{
    float v = (float)(2 * ((int32_t)bits >> 8) + 1) * 0x1p-24f;
    float y = TRUNC_ERF2 * v;
    float w = -ln2((1.0f - y) * (1.0f + y)), w2 = w * w;
    float r01 = fmaf(TRUNC_R[1], w, TRUNC_R[0]), r23 = fmaf(TRUNC_R[3], w, TRUNC_R[2]);
    float r45 = fmaf(TRUNC_R[5], w, TRUNC_R[4]);
    float r = fmaf(fmaf(TRUNC_R[6], w2, r45), w2 * w2, fmaf(r23, w2, r01));
    return y * r;
}

float oi_stream2_ln(float u) { return ln2(u); }
void oi_stream2_box_muller(uint32_t u1, uint32_t u2, float *zc, float *zs)
{
    box_muller2(u1, u2, zc, zs);
}
float oi_stream2_trunc(uint32_t r) { return trunc2(r); }

/* Each kernel writes a + b x of its values x for `batches` batches from
 * block `first`: the affine step of the fill fused into the pass that makes
 * them (one pass over the output, not two); a + b x is a product then a sum,
 * as the separate step was.  (a, b) = (0, 1) gives the values themselves:
 * stream 2 never draws -0, the one value 0 + x would change.  Words are made
 * GROUP batches at a time (8 KiB, in L1): one call per job, not per batch. */
#define GROUP 8
#define ELEMS OI_BATCH_ELEMS

/* Kernels of one value per word (uniforms, truncated normals), the transform
 * chosen by a constant so each build inlines only its own. */
static inline __attribute__((always_inline)) void
per_word(int truncated, uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
         float b, float *out)
{
    uint32_t w[GROUP][4][BATCH];   /* lane-major: element k of the group is (&w[0][0][0])[k] */
    for (size_t done = 0; done < batches; done += GROUP) {
        size_t n = batches - done < GROUP ? batches - done : GROUP;
        oi_philox_batches(ROUNDS, key, space, first + done * BATCH, n, w);
        const uint32_t *words = &w[0][0][0];
        float *o = out + done * ELEMS;
        for (size_t k = 0; k < n * ELEMS; k++)
            o[k] = a + b * (truncated ? trunc2(words[k]) : unit(words[k]));
    }
}

OI_KERNEL(batch_uniforms, (uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                           float b, float *out),
          (key, space, first, batches, a, b, out))
{
    per_word(0, key, space, first, batches, a, b, out);
}

OI_KERNEL(batch_normals, (uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                          float b, float *out),
          (key, space, first, batches, a, b, out))
{
    uint32_t w[GROUP][4][BATCH];
    for (size_t done = 0; done < batches; done += GROUP) {
        size_t n = batches - done < GROUP ? batches - done : GROUP;
        oi_philox_batches(ROUNDS, key, space, first + done * BATCH, n, w);
        for (size_t g = 0; g < n; g++) {
            uint32_t(*r)[BATCH] = w[g];
            float *o = out + (done + g) * ELEMS;
            for (int j = 0; j < BATCH; j++) {   /* both pairs in one pass: independent chains */
                float z[4];
                box_muller2(r[0][j], r[1][j], &z[0], &z[1]);
                box_muller2(r[2][j], r[3][j], &z[2], &z[3]);
                for (int lane = 0; lane < 4; lane++)
                    o[lane * BATCH + j] = a + b * z[lane];
            }
        }
    }
}

OI_KERNEL(batch_trunc_normals, (uint64_t key, uint32_t space, uint64_t first, size_t batches,
                                float a, float b, float *out),
          (key, space, first, batches, a, b, out))
{
    per_word(1, key, space, first, batches, a, b, out);
}

/* The kernels are static; these are their names for distributions.c and the tests. */
void oi_stream2_uniforms(uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                      float b, float *out)
{
    batch_uniforms(key, space, first, batches, a, b, out);
}

void oi_stream2_normals(uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                     float b, float *out)
{
    batch_normals(key, space, first, batches, a, b, out);
}

void oi_stream2_trunc_normals(uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                           float b, float *out)
{
    batch_trunc_normals(key, space, first, batches, a, b, out);
}

int oi_stream2_batch_isa(int isa, int kind, uint64_t key, uint32_t space, uint64_t first,
                      size_t batches, float a, float b, float *out)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    static oi_batch_fn *const by_isa[3][3] = {
        {batch_uniforms_body, batch_normals_body, batch_trunc_normals_body},
        {batch_uniforms_avx2, batch_normals_avx2, batch_trunc_normals_avx2},
        {batch_uniforms_avx512, batch_normals_avx512, batch_trunc_normals_avx512},
    };
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int ok = isa == 0 || (isa == 1 && avx2) || (isa == 2 && __builtin_cpu_supports("avx512f"));
    if (!ok || kind < 0 || kind > 2)
        return 0;
    by_isa[isa][kind](key, space, first, batches, a, b, out);
    return 1;
#else
    static oi_batch_fn *const by_kind[3] = {batch_uniforms, batch_normals, batch_trunc_normals};
    if (isa != 0 || kind < 0 || kind > 2)
        return 0;
    by_kind[kind](key, space, first, batches, a, b, out);
    return 1;
#endif
}
