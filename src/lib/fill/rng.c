/* Counter-based draws and the elementwise distributions.
 *
 * The stream is Random123's Philox4x32-10.  For speed it is evaluated here
 * OI_PHILOX_BATCH counters at a time in structure-of-arrays form, built from
 * Random123's own constants, so the compiler vectorizes it; tests check it
 * bit for bit against philox4x32().  Box-Muller uses plain arithmetic (log
 * by the atanh series, sin/cos by Taylor series on [-pi/4, pi/4]) for the
 * same reason: no per-element library calls, and the same bits whether a
 * lane is computed in a vector or alone. */
#include "fill/fill_internal.h"

#include <Random123/philox.h>
#include <Random123/u01fixedpt.h>
#include <math.h>
#include <string.h>

#define BATCH OI_PHILOX_BATCH
#define ELEMS (4 * BATCH)

/* Built twice, for AVX2 and for any x86-64, chosen when the program starts.
 * Both do the same IEEE operations (ISO C: no FP contraction), so the bytes
 * do not depend on the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OI_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OI_KERNEL
#endif

static void philox_batch_word3(uint64_t key, uint32_t stream, uint32_t word3, uint64_t first,
                               uint32_t out[4][OI_PHILOX_BATCH]);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OI_PHILOX_AVX2 1

/* The same ten rounds on eight counters at once, in 32-bit lanes: the
 * 32x32->64 products of even lanes and (shifted down) odd lanes, their high
 * and low halves blended back into place.  Bit-identical to the portable
 * loop below (tested against Random123). */
__attribute__((target("avx2")))
static void philox_batch_avx2(uint64_t key, uint32_t stream, uint32_t word3, uint64_t first,
                              uint32_t out[4][OI_PHILOX_BATCH])
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M4x32_0), m1 = _mm256_set1_epi64x(PHILOX_M4x32_1);
    const __m256i w0 = _mm256_set1_epi32((int)PHILOX_W32_0), w1 = _mm256_set1_epi32((int)PHILOX_W32_1);
    for (int j = 0; j < BATCH; j += 8) {
        uint32_t lo[8], hi[8];
        for (int i = 0; i < 8; i++) {
            uint64_t b = first + (uint64_t)(j + i);
            lo[i] = (uint32_t)b;
            hi[i] = (uint32_t)(b >> 32);
        }
        __m256i c0 = _mm256_loadu_si256((const __m256i *)lo);
        __m256i c1 = _mm256_loadu_si256((const __m256i *)hi);
        __m256i c2 = _mm256_set1_epi32((int)stream), c3 = _mm256_set1_epi32((int)word3);
        __m256i a0 = _mm256_set1_epi32((int)(uint32_t)key);
        __m256i a1 = _mm256_set1_epi32((int)(uint32_t)(key >> 32));
        for (int round = 0; round < 10; round++) {
            __m256i e0 = _mm256_mul_epu32(c0, m0), o0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
            __m256i e1 = _mm256_mul_epu32(c2, m1), o1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
            __m256i lo0 = _mm256_blend_epi32(e0, _mm256_slli_epi64(o0, 32), 0xAA);
            __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(e0, 32), o0, 0xAA);
            __m256i lo1 = _mm256_blend_epi32(e1, _mm256_slli_epi64(o1, 32), 0xAA);
            __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(e1, 32), o1, 0xAA);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), a0);
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), a1);
            c1 = lo1;
            c3 = lo0;
            a0 = _mm256_add_epi32(a0, w0);
            a1 = _mm256_add_epi32(a1, w1);
        }
        _mm256_storeu_si256((__m256i *)&out[0][j], c0);
        _mm256_storeu_si256((__m256i *)&out[1][j], c1);
        _mm256_storeu_si256((__m256i *)&out[2][j], c2);
        _mm256_storeu_si256((__m256i *)&out[3][j], c3);
    }
}
#endif

/* Sixteen counters at once with AVX-512: the same scheme in 512-bit lanes. */
__attribute__((target("avx512f")))
static void philox_batch_avx512(uint64_t key, uint32_t stream, uint32_t word3, uint64_t first,
                                uint32_t out[4][OI_PHILOX_BATCH])
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M4x32_0), m1 = _mm512_set1_epi64(PHILOX_M4x32_1);
    const __m512i w0 = _mm512_set1_epi32((int)PHILOX_W32_0), w1 = _mm512_set1_epi32((int)PHILOX_W32_1);
    const __m512i step = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int j = 0; j < BATCH; j += 16) {
        uint64_t b = first + (uint64_t)j;
        __m512i c0, c1;
        if ((uint32_t)b <= UINT32_MAX - 15) {   /* no carry into the high word in this group */
            c0 = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)b), step);
            c1 = _mm512_set1_epi32((int)(uint32_t)(b >> 32));
        } else {
            uint32_t lo[16], hi[16];
            for (int i = 0; i < 16; i++) {
                lo[i] = (uint32_t)(b + (uint64_t)i);
                hi[i] = (uint32_t)((b + (uint64_t)i) >> 32);
            }
            c0 = _mm512_loadu_si512(lo);
            c1 = _mm512_loadu_si512(hi);
        }
        __m512i c2 = _mm512_set1_epi32((int)stream), c3 = _mm512_set1_epi32((int)word3);
        __m512i a0 = _mm512_set1_epi32((int)(uint32_t)key);
        __m512i a1 = _mm512_set1_epi32((int)(uint32_t)(key >> 32));
        for (int round = 0; round < 10; round++) {
            __m512i e0 = _mm512_mul_epu32(c0, m0), o0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
            __m512i e1 = _mm512_mul_epu32(c2, m1), o1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
            __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, e0, _mm512_slli_epi64(o0, 32));
            __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e0, 32), o0);
            __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, e1, _mm512_slli_epi64(o1, 32));
            __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e1, 32), o1);
            c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), a0);
            c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), a1);
            c1 = lo1;
            c3 = lo0;
            a0 = _mm512_add_epi32(a0, w0);
            a1 = _mm512_add_epi32(a1, w1);
        }
        _mm512_storeu_si512(&out[0][j], c0);
        _mm512_storeu_si512(&out[1][j], c1);
        _mm512_storeu_si512(&out[2][j], c2);
        _mm512_storeu_si512(&out[3][j], c3);
    }
}

/* The portable loop or, where the CPU has them, AVX-512 / AVX2: the same bits either way. */
static void philox_batch(uint64_t key, uint32_t stream, uint32_t word3, uint64_t first,
                         uint32_t out[4][OI_PHILOX_BATCH])
{
#ifdef OI_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        philox_batch_avx512(key, stream, word3, first, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        philox_batch_avx2(key, stream, word3, first, out);
        return;
    }
#endif
    philox_batch_word3(key, stream, word3, first, out);
}

void oi_philox_batch(uint64_t key, uint32_t stream, uint64_t first,
                     uint32_t out[4][OI_PHILOX_BATCH])
{
    philox_batch(key, stream, 0, first, out);
}

int oi_philox_batch_isa(int isa, uint64_t key, uint32_t stream, uint64_t first,
                        uint32_t out[4][OI_PHILOX_BATCH])
{
    switch (isa) {
    case 0: philox_batch_word3(key, stream, 0, first, out); return 1;
#ifdef OI_PHILOX_AVX2
    case 1:
        if (!__builtin_cpu_supports("avx2"))
            return 0;
        philox_batch_avx2(key, stream, 0, first, out);
        return 1;
    case 2:
        if (!__builtin_cpu_supports("avx512f"))
            return 0;
        philox_batch_avx512(key, stream, 0, first, out);
        return 1;
#endif
    default: return 0;
    }
}

/* Counters (first+j, stream, word3) for j < BATCH. */
OI_KERNEL
static void philox_batch_word3(uint64_t key, uint32_t stream, uint32_t word3, uint64_t first,
                               uint32_t out[4][OI_PHILOX_BATCH])
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    /* one counter per iteration, its ten rounds in registers: the compiler
     * unrolls the rounds and runs the iterations side by side in vectors */
    for (int j = 0; j < BATCH; j++) {
        uint64_t b = first + (uint64_t)j;
        uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = stream, c3 = word3;
        uint32_t a0 = k0, a1 = k1;
        for (int round = 0; round < 10; round++) {
            uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c0, p1 = (uint64_t)PHILOX_M4x32_1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ a0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ a1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            a0 += PHILOX_W32_0;
            a1 += PHILOX_W32_1;
        }
        out[0][j] = c0;
        out[1][j] = c1;
        out[2][j] = c2;
        out[3][j] = c3;
    }
}

/* ln(u) for u in (0, 1]: u = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172 (series to s^13). */
static inline float ln_unit(float u)
{
    uint32_t i;
    memcpy(&i, &u, 4);
    int32_t e = (int32_t)(i - 0x3f3504f3u) >> 23;   /* 0x3f3504f3: sqrt(1/2) */
    uint32_t mi = i - ((uint32_t)e << 23);
    float m;
    memcpy(&m, &mi, 4);
    float s = (m - 1.0f) / (m + 1.0f), z = s * s;
    float p = z * (1.0f / 3 + z * (1.0f / 5 + z * (1.0f / 7 + z * (1.0f / 9 +
              z * (1.0f / 11 + z * (1.0f / 13))))));
    return 2.0f * s + 2.0f * s * p + (float)e * 0.693147180559945f;
}

/* sin and cos of 2*pi*u, u in (0, 1): nearest quarter turn q, then Taylor on
 * the rest (|t| <= pi/4, error < 2e-9), rotated by q quarter turns. */
static inline void sincos_turn(float u, float *sn, float *cs)
{
    float x = 4.0f * u;
    int32_t qi = (int32_t)(x + 0.5f);
    float t = (x - (float)qi) * 1.5707963267948966f, z = t * t;
    float s = t * (1 - z / 6 * (1 - z / 20 * (1 - z / 42 * (1 - z / 72))));
    float c = 1 - z / 2 * (1 - z / 12 * (1 - z / 30 * (1 - z / 56 * (1 - z / 90))));
    int q = qi & 3;
    *sn = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
    *cs = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
}

/* Uniforms in (0, 1) of the ELEMS elements from block `first`. */
OI_KERNEL
static void batch_uniforms(uint64_t key, uint32_t stream, uint64_t first, float *out)
{
    uint32_t r[4][BATCH];
    oi_philox_batch(key, stream, first, r);
    for (int j = 0; j < BATCH; j++)
        for (int lane = 0; lane < 4; lane++)
            out[4 * j + lane] = u01fixedpt_open_open_32_float(r[lane][j]);
}

/* Box-Muller over one batch: lanes u1[j], u2[j] give zc[j] = r cos, zs[j] = r sin. */
OI_KERNEL
static void box_muller(const uint32_t *u1, const uint32_t *u2, float *zc, float *zs)
{
    for (int j = 0; j < BATCH; j++) {
        float rad = sqrtf(-2.0f * ln_unit(u01fixedpt_open_open_32_float(u1[j]))), s, c;
        sincos_turn(u01fixedpt_open_open_32_float(u2[j]), &s, &c);
        zc[j] = rad * c;
        zs[j] = rad * s;
    }
}

/* Standard normals of the ELEMS elements from block `first`: lanes (0,1) and
 * (2,3) of each block are one Box-Muller pair. */
static void batch_normals(uint64_t key, uint32_t stream, uint64_t first, float *out)
{
    uint32_t r[4][BATCH];
    float z[4][BATCH];
    oi_philox_batch(key, stream, first, r);
    box_muller(r[0], r[1], z[0], z[1]);
    box_muller(r[2], r[3], z[2], z[3]);
    for (int j = 0; j < BATCH; j++)
        for (int lane = 0; lane < 4; lane++)
            out[4 * j + lane] = z[lane][j];
}

typedef void batch_fn(uint64_t key, uint32_t stream, uint64_t first, float *out);

/* Elements [start, start+n) of a stream, batch by batch (unaligned ends copied). */
static void stream_range(batch_fn *fn, uint64_t key, uint32_t stream, uint64_t start, size_t n,
                         float *out)
{
    float tmp[ELEMS];
    while (n > 0) {
        uint64_t base = start - start % ELEMS;
        size_t skip = (size_t)(start - base), take = ELEMS - skip < n ? ELEMS - skip : n;
        if (skip == 0 && take == ELEMS) {
            fn(key, stream, base / 4, out);
        } else {
            fn(key, stream, base / 4, tmp);
            memcpy(out, tmp + skip, take * sizeof *out);
        }
        out += take;
        start += take;
        n -= take;
    }
}

void oi_fill_normals(uint64_t key, uint32_t stream, uint64_t start, size_t n, float *out)
{
    stream_range(batch_normals, key, stream, start, n, out);
}

/* N(0,1) restricted to [-2, 2]: element i draws from counter (i, TRUNC,
 * attempt) — lanes (0,1) then (2,3) as Box-Muller cosines — until one falls
 * inside, so the result is a function of i alone. */
static float trunc_normal_from(uint64_t key, uint64_t i, uint32_t attempt)
{
    philox4x32_key_t k = {{(uint32_t)key, (uint32_t)(key >> 32)}};
    for (;; attempt++) {
        philox4x32_ctr_t c = {{(uint32_t)i, (uint32_t)(i >> 32), OI_STREAM_TRUNC, attempt}};
        philox4x32_ctr_t r = philox4x32(c, k);
        for (int pair = 0; pair < 2; pair++) {
            float rad = sqrtf(-2.0f * ln_unit(u01fixedpt_open_open_32_float(r.v[2 * pair]))), s, co;
            sincos_turn(u01fixedpt_open_open_32_float(r.v[2 * pair + 1]), &s, &co);
            float z = rad * co;
            if (z >= -2.0f && z <= 2.0f)
                return z;
        }
    }
}

/* One Box-Muller cosine: a truncated normal's candidate (the same operations
 * as box_muller's zc, so the same bytes whether vectorized or not). */
static inline float bm_cos(uint32_t u1, uint32_t u2)
{
    float rad = sqrtf(-2.0f * ln_unit(u01fixedpt_open_open_32_float(u1))), s, c;
    sincos_turn(u01fixedpt_open_open_32_float(u2), &s, &c);
    return rad * c;
}

OI_KERNEL
static void box_muller_cos(const uint32_t *u1, const uint32_t *u2, float *zc)
{
    for (int j = 0; j < BATCH; j++)
        zc[j] = bm_cos(u1[j], u2[j]);
}

/* BATCH elements from `first` at once: the first candidate of all of them in
 * vectors; the ~4.6% outside [-2, 2] take the second (lanes 2, 3) alone, and
 * the ~0.2% whose both fall outside continue with the next attempt. */
static void batch_trunc_normals(uint64_t key, uint64_t first, float *out)
{
    uint32_t r[4][BATCH];
    float a[BATCH];
    philox_batch(key, OI_STREAM_TRUNC, 0, first, r);
    box_muller_cos(r[0], r[1], a);
    for (int j = 0; j < BATCH; j++) {
        float b = a[j] >= -2.0f && a[j] <= 2.0f ? a[j] : bm_cos(r[2][j], r[3][j]);
        out[j] = b >= -2.0f && b <= 2.0f ? b : trunc_normal_from(key, first + (uint64_t)j, 1);
    }
}

static void trunc_normals(uint64_t key, uint64_t start, size_t n, float *out)
{
    size_t i = 0;
    for (; i < n && (start + i) % BATCH; i++)
        out[i] = trunc_normal_from(key, start + i, 0);
    for (; i + BATCH <= n; i += BATCH)
        batch_trunc_normals(key, start + i, out + i);
    for (; i < n; i++)
        out[i] = trunc_normal_from(key, start + i, 0);
}

static void gate_bias(const oi_decision *d, uint64_t start, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        int64_t idx = (int64_t)(start + i);
        float v = (float)d->p1;
        for (int r = 0; r < d->n_ranges; r++)
            if (idx >= d->range_start[r] && idx < d->range_start[r] + d->range_len[r])
                v = (float)d->p2;
        out[i] = v;
    }
}

void oi_fill_elementwise(const oi_decision *d, uint64_t key, uint64_t start, size_t n,
                         float *out)
{
    float a = (float)d->p1, b = (float)d->p2;
    switch (d->kind) {
    case OI_FILL_CONSTANT:
        for (size_t i = 0; i < n; i++)
            out[i] = a;
        break;
    case OI_FILL_UNIFORM:
        stream_range(batch_uniforms, key, OI_STREAM_MAIN, start, n, out);
        for (size_t i = 0; i < n; i++)
            out[i] = a + (b - a) * out[i];
        break;
    case OI_FILL_NORMAL:
        oi_fill_normals(key, OI_STREAM_MAIN, start, n, out);
        for (size_t i = 0; i < n; i++)
            out[i] = a + b * out[i];
        break;
    case OI_FILL_TRUNC_NORMAL:
        trunc_normals(key, start, n, out);
        for (size_t i = 0; i < n; i++)
            out[i] = a + b * out[i];
        break;
    case OI_FILL_GATE_BIAS:
        gate_bias(d, start, n, out);
        break;
    default:
        break;
    }
}
