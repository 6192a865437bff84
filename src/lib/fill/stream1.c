/* Stream 1's draws.
 *
 * Stream 1 (0.1's bytes, kept reproducible) is Random123's Philox4x32-10
 * (philox.c).  Its Box-Muller uses plain arithmetic (log by the atanh series,
 * sin/cos by Taylor series on [-pi/4, pi/4]): no per-element library calls,
 * and the same bits whether a lane is computed in a vector or alone.  Its
 * truncated normal rejects, one counter per element.  Stream 2 is stream2.c;
 * distributions.c turns either into the schemes' values. */
#include "fill/fill_internal.h"

#include <Random123/philox.h>
#include <Random123/u01fixedpt.h>
#include <math.h>
#include <string.h>

#define BATCH OI_PHILOX_BATCH
#define ELEMS OI_BATCH_ELEMS
#define ROUNDS 10

/* ln(u) for u in (0, 1]: u = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172 (series to s^13). */
static inline __attribute__((always_inline)) float ln_unit(float u)
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
static inline __attribute__((always_inline)) void sincos_turn(float u, float *sn, float *cs)
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
OI_KERNEL(batch_uniform, (uint64_t key, uint32_t stream, uint64_t first, float *out),
          (key, stream, first, out))
{
    uint32_t r[4][BATCH];
    oi_philox_batch(ROUNDS, key, stream, first, r);
    for (int j = 0; j < BATCH; j++)
        for (int lane = 0; lane < 4; lane++)
            out[4 * j + lane] = u01fixedpt_open_open_32_float(r[lane][j]);
}

/* Stream 1's runs of batches have stream 2's signature but ignore a and b:
 * its affine step is a pass of its own, after (as in 0.1), so raw draws stay raw. */
void oi_stream1_uniforms(uint64_t key, uint32_t stream, uint64_t first, size_t batches, float a,
                         float b, float *out)
{
    (void)a, (void)b;
    for (size_t i = 0; i < batches; i++)
        batch_uniform(key, stream, first + i * BATCH, out + i * ELEMS);
}

/* Box-Muller over one batch: lanes u1[j], u2[j] give zc[j] = r cos, zs[j] = r sin. */
OI_KERNEL(box_muller, (const uint32_t *u1, const uint32_t *u2, float *zc, float *zs),
          (u1, u2, zc, zs))
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
static void batch_normal(uint64_t key, uint32_t stream, uint64_t first, float *out)
{
    uint32_t r[4][BATCH];
    float z[4][BATCH];
    oi_philox_batch(ROUNDS, key, stream, first, r);
    box_muller(r[0], r[1], z[0], z[1]);
    box_muller(r[2], r[3], z[2], z[3]);
    for (int j = 0; j < BATCH; j++)
        for (int lane = 0; lane < 4; lane++)
            out[4 * j + lane] = z[lane][j];
}

void oi_stream1_normals(uint64_t key, uint32_t stream, uint64_t first, size_t batches, float a,
                        float b, float *out)
{
    (void)a, (void)b;
    for (size_t i = 0; i < batches; i++)
        batch_normal(key, stream, first + i * BATCH, out + i * ELEMS);
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
static inline __attribute__((always_inline)) float bm_cos(uint32_t u1, uint32_t u2)
{
    float rad = sqrtf(-2.0f * ln_unit(u01fixedpt_open_open_32_float(u1))), s, c;
    sincos_turn(u01fixedpt_open_open_32_float(u2), &s, &c);
    return rad * c;
}

OI_KERNEL(box_muller_cos, (const uint32_t *u1, const uint32_t *u2, float *zc), (u1, u2, zc))
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
    oi_philox_batch(ROUNDS, key, OI_STREAM_TRUNC, first, r);
    box_muller_cos(r[0], r[1], a);
    for (int j = 0; j < BATCH; j++) {
        float b = a[j] >= -2.0f && a[j] <= 2.0f ? a[j] : bm_cos(r[2][j], r[3][j]);
        out[j] = b >= -2.0f && b <= 2.0f ? b : trunc_normal_from(key, first + (uint64_t)j, 1);
    }
}

void oi_stream1_trunc_normals(uint64_t key, uint32_t space, uint64_t start, size_t n, float *out)
{
    (void)space;   /* always OI_STREAM_TRUNC: counter (i, TRUNC, attempt) */
    size_t i = 0;
    for (; i < n && (start + i) % BATCH; i++)
        out[i] = trunc_normal_from(key, start + i, 0);
    for (; i + BATCH <= n; i += BATCH)
        batch_trunc_normals(key, start + i, out + i);
    for (; i < n; i++)
        out[i] = trunc_normal_from(key, start + i, 0);
}

