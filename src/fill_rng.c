/* Counter-based draws and the elementwise distributions. */
#include "fill_internal.h"

#include <Random123/philox.h>
#include <Random123/u01fixedpt.h>
#include <math.h>
#include <string.h>

#define BLOCK 256   /* elements per inner batch: small enough for the stack */

static philox4x32_key_t make_key(uint64_t key)
{
    philox4x32_key_t k = {{(uint32_t)key, (uint32_t)(key >> 32)}};
    return k;
}

/* Uniforms in (0, 1) of elements [start, start+n), start a multiple of 4 or not. */
static void uniforms(uint64_t key, uint32_t stream, uint64_t start, size_t n, float *out)
{
    philox4x32_key_t k = make_key(key);
    uint64_t first = start / 4, last = (start + n + 3) / 4;
    size_t o = 0;
    for (uint64_t b = first; b < last; b++) {
        philox4x32_ctr_t c = {{(uint32_t)b, (uint32_t)(b >> 32), stream, 0}};
        philox4x32_ctr_t r = philox4x32(c, k);
        for (unsigned lane = 0; lane < 4; lane++) {
            uint64_t idx = 4 * b + lane;
            if (idx >= start && idx < start + n)
                out[o++] = u01fixedpt_open_open_32_float(r.v[lane]);
        }
    }
}

/* Box-Muller on lanes (0,1) and (2,3) of each block: element i is lane i%4 of block i/4. */
void oi_fill_normals(uint64_t key, uint32_t stream, uint64_t start, size_t n, float *out)
{
    uint64_t a = start & ~(uint64_t)3;
    float u[BLOCK + 8], z[BLOCK + 8];
    while (n > 0) {
        size_t skip = (size_t)(start - a);
        size_t take = n < BLOCK - skip ? n : BLOCK - skip;
        size_t span = (skip + take + 3) & ~(size_t)3;
        uniforms(key, stream, a, span, u);
        for (size_t i = 0; i < span; i += 2) {
            float r = sqrtf(-2.0f * logf(u[i]));
            float t = 6.28318530717958647692f * u[i + 1];
            z[i] = r * cosf(t);
            z[i + 1] = r * sinf(t);
        }
        memcpy(out, z + skip, take * sizeof *out);
        out += take;
        n -= take;
        start += take;
        a = start & ~(uint64_t)3;
    }
}

/* N(0,1) restricted to [-2, 2]: element i retries on its own sub-stream
 * (attempt number in the counter), so the result is still a function of i. */
static float trunc_normal_one(uint64_t key, uint64_t i)
{
    philox4x32_key_t k = make_key(key);
    for (uint32_t attempt = 0;; attempt++) {
        philox4x32_ctr_t c = {{(uint32_t)i, (uint32_t)(i >> 32), OI_STREAM_TRUNC, attempt}};
        philox4x32_ctr_t r = philox4x32(c, k);
        for (int pair = 0; pair < 2; pair++) {
            float u1 = u01fixedpt_open_open_32_float(r.v[2 * pair]);
            float u2 = u01fixedpt_open_open_32_float(r.v[2 * pair + 1]);
            float z = sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
            if (z >= -2.0f && z <= 2.0f)
                return z;
        }
    }
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
        for (size_t done = 0; done < n; done += BLOCK) {
            size_t m = n - done < BLOCK ? n - done : BLOCK;
            uniforms(key, OI_STREAM_MAIN, start + done, m, out + done);
            for (size_t i = 0; i < m; i++)
                out[done + i] = a + (b - a) * out[done + i];
        }
        break;
    case OI_FILL_NORMAL:
        oi_fill_normals(key, OI_STREAM_MAIN, start, n, out);
        for (size_t i = 0; i < n; i++)
            out[i] = a + b * out[i];
        break;
    case OI_FILL_TRUNC_NORMAL:
        for (size_t i = 0; i < n; i++)
            out[i] = a + b * trunc_normal_one(key, start + i);
        break;
    case OI_FILL_GATE_BIAS:
        gate_bias(d, start, n, out);
        break;
    default:
        break;
    }
}
