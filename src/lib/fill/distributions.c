/* The elementwise distributions: the schemes' values (uniform, normal,
 * truncated normal, constants, gate biases) from either published stream's
 * draws (stream1.c, stream2.c), for any range of a tensor's elements. */
#include "fill/fill_internal.h"

#include <string.h>

#define ELEMS OI_BATCH_ELEMS

/* a + b x of elements [start, start+n) of a counter space: the whole
 * batches in one call, a partial batch at either end through a copy. */
static void stream_range(oi_batch_fn *fn, uint64_t key, uint32_t stream, uint64_t start, size_t n,
                         float a, float b, float *out)
{
    float tmp[ELEMS];
    while (n > 0) {
        uint64_t base = start - start % ELEMS;
        size_t skip = (size_t)(start - base), take = ELEMS - skip < n ? ELEMS - skip : n;
        if (skip == 0 && n >= ELEMS) {
            take = n - n % ELEMS;
            fn(key, stream, base / 4, take / ELEMS, a, b, out);
        } else {
            fn(key, stream, base / 4, 1, a, b, tmp);
            memcpy(out, tmp + skip, take * sizeof *out);
        }
        out += take;
        start += take;
        n -= take;
    }
}

static void gate_bias(const oi_decision *d, uint64_t start, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        int64_t idx = (int64_t)(start + i);
        float v = (float)d->gate_bias.value;
        for (int r = 0; r < d->n_ranges; r++)
            if (idx >= d->range_start[r] && idx < d->range_start[r] + d->range_len[r])
                v = (float)d->gate_bias.gate;
        out[i] = v;
    }
}

/* out = a + b out, vectorized (the same bytes: no contraction). */
OI_KERNEL(affine, (float *out, size_t n, float a, float b), (out, n, a, b))
{
    for (size_t i = 0; i < n; i++)
        out[i] = a + b * out[i];
}

/* a + b x of each draw x; ab NULL: the draws themselves. */
typedef struct { float a, b; } affine_step;
typedef void range_fn(uint64_t key, uint32_t space, uint64_t start, size_t n,
                      const affine_step *ab, float *out);

static void uniforms1(uint64_t key, uint32_t space, uint64_t start, size_t n,
                      const affine_step *ab, float *out)
{
    stream_range(oi_stream1_uniforms, key, space, start, n, 0, 1, out);
    if (ab)
        affine(out, n, ab->a, ab->b);
}

static void normals1(uint64_t key, uint32_t space, uint64_t start, size_t n,
                     const affine_step *ab, float *out)
{
    stream_range(oi_stream1_normals, key, space, start, n, 0, 1, out);
    if (ab)
        affine(out, n, ab->a, ab->b);
}

static void trunc_normals1(uint64_t key, uint32_t space, uint64_t start, size_t n,
                           const affine_step *ab, float *out)
{
    oi_stream1_trunc_normals(key, space, start, n, out);
    if (ab)
        affine(out, n, ab->a, ab->b);
}

/* Stream 2 fuses the step into its kernels; (0, 1) leaves its draws as they are. */
static void uniforms2(uint64_t key, uint32_t space, uint64_t start, size_t n,
                      const affine_step *ab, float *out)
{
    stream_range(oi_stream2_uniforms, key, space, start, n, ab ? ab->a : 0, ab ? ab->b : 1, out);
}

static void normals2(uint64_t key, uint32_t space, uint64_t start, size_t n,
                     const affine_step *ab, float *out)
{
    stream_range(oi_stream2_normals, key, space, start, n, ab ? ab->a : 0, ab ? ab->b : 1, out);
}

static void trunc_normals2(uint64_t key, uint32_t space, uint64_t start, size_t n,
                           const affine_step *ab, float *out)
{
    stream_range(oi_stream2_trunc_normals, key, space, start, n, ab ? ab->a : 0, ab ? ab->b : 1,
                 out);
}

/* Each published stream's draws: uniform (0,1), N(0,1), N(0,1) on [-2, 2]. */
static const struct {
    range_fn *uniform, *normal, *trunc_normal;
} STREAMS[] = {
    [OI_STREAM_V1] = {uniforms1, normals1, trunc_normals1},
    [OI_STREAM_V2] = {uniforms2, normals2, trunc_normals2},
    [OI_STREAM_V3] = {uniforms2, normals2, trunc_normals2},   /* (differs in orthogonal fills) */
};

void oi_fill_normals(oi_rng rng, uint32_t space, uint64_t start, size_t n, float *out)
{
    STREAMS[rng.version].normal(rng.key, space, start, n, NULL, out);
}

void oi_fill_elementwise(const oi_decision *d, oi_rng rng, uint64_t start, size_t n, float *out)
{
    float lo = (float)d->uniform.low, hi = (float)d->uniform.high;
    float mean = (float)d->normal.mean, std = (float)d->normal.std;
    switch (d->kind) {
    case OI_FILL_CONSTANT:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)d->constant.value;
        break;
    case OI_FILL_UNIFORM:
        STREAMS[rng.version].uniform(rng.key, OI_STREAM_MAIN, start, n,
                                     &(affine_step){lo, hi - lo}, out);
        break;
    case OI_FILL_NORMAL:
        STREAMS[rng.version].normal(rng.key, OI_STREAM_MAIN, start, n, &(affine_step){mean, std},
                                    out);
        break;
    case OI_FILL_TRUNC_NORMAL:
        STREAMS[rng.version].trunc_normal(rng.key, OI_STREAM_TRUNC, start, n,
                                          &(affine_step){mean, (float)(d->normal.std / OI_TRUNC_SD)},
                                          out);
        break;
    case OI_FILL_GATE_BIAS:
        gate_bias(d, start, n, out);
        break;
    default:
        break;
    }
}
