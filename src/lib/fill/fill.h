/* fill — carry out a plan: new values for every tensor it touches.
 *
 * Randomness is counter-based (Random123 Philox4x32-R).  Each tensor has its
 * own key, derived from the seed and a stable hash of its scope path and
 * name; each element has its own counter.  So a tensor's bytes depend only on
 * seed, stream version, scope+name, shape, dtype and scheme — never on thread
 * count, traversal order, the CPU or the other tensors — and large tensors are
 * filled in parallel chunks of one stream.  Values are computed in float32
 * (float64 tensors: widened) and stored in the tensor's own dtype (fp16/bf16
 * round to nearest even). */
#ifndef OI_FILL_H
#define OI_FILL_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/model.h"
#include "plan/plan.h"

/* A run's randomness: the seed and the published stream version.  Stream 1:
 * Philox4x32-10, Box-Muller by series with divisions, truncated normals by
 * rejection (0.1's bytes).  Stream 2: Philox4x32-7, division-free polynomial
 * Box-Muller, truncated normals by inverse CDF.  Stream 3 (default): stream 2's
 * draws, orthogonal matrices formed from Householder vectors drawn directly
 * (Stewart's method) instead of factorizing a drawn matrix. */
typedef struct oi_seed {
    uint64_t value;
    int version;   /* OI_STREAM_V1 .. OI_STREAM_LATEST */
} oi_seed;
enum { OI_STREAM_V1 = 1, OI_STREAM_V2 = 2, OI_STREAM_V3 = 3, OI_STREAM_LATEST = OI_STREAM_V3 };

typedef struct oi_fill_stats {
    size_t tensors;          /* tensors rewritten */
    uint64_t elements;       /* values written */
    double seconds;
} oi_fill_stats;

/* Which tensors the plan rewrites (1 per catalogue index); malloc'd. */
unsigned char *oi_fill_selection(oi_model *model, const oi_plan *plan);

/* Where finished payloads go.  locate() returns 1 and (fd, offset) for a
 * tensor written straight into a file (the patch save), or 0: into the model.
 * A NULL locate writes every tensor into the model. */
typedef struct oi_fill_target {
    int (*takes)(void *ctx, const oi_tensor *t);   /* 1: t's bytes go to write, 0: into the model */
    /* Bytes [at, at + len) of t's payload, finished; called by one worker at a time. */
    oi_status (*write)(void *ctx, const oi_tensor *t, uint64_t at, const void *bytes, size_t len,
                       oi_error *err);
    void *ctx;
} oi_fill_target;

/* Rewrite every tensor the plan touches, with `threads` workers (>= 1).
 * cancel (or NULL) set non-zero stops the work with OI_ERR_IO. */
oi_status oi_fill_model(oi_model *model, const oi_plan *plan, oi_seed seed, int threads,
                        oi_fill_target target, const oi_cancel *cancel, oi_fill_stats *stats,
                        oi_error *err);

/* One tensor's values as float32 (n elements, dims as in the tensor); for
 * tests and for callers with their own storage.  Same values as the model path. */
oi_status oi_fill_values(const oi_decision *d, const oi_tensor *t, oi_seed seed, float *out,
                         oi_error *err);

/* A DISTINCT tensor's bytes from its original values (t->n_elems floats). */
oi_status oi_fill_tensor_distinct(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                                  const float *orig, void *dst, oi_error *err);

/* One tensor's bytes (t->n_bytes, its dtype): exactly what the model path writes. */
oi_status oi_fill_tensor(const oi_decision *d, const oi_tensor *t, oi_seed seed, void *dst,
                         oi_error *err);

/* Floats to a float tensor's bytes (float32/64 as is, float16/bfloat16 RNE). */
void oi_fill_encode(int32_t dtype, const float *v, size_t n, uint8_t *dst);

/* Weight norm's g from its v: out[j] = L2 norm of v's elements that map to
 * g's element j (g_dims equal v_dims or 1, axis by axis; n_g elements). */
void oi_fill_norms_of(const float *v, const int64_t *v_dims, int rank, const int64_t *g_dims,
                      uint64_t n_g, float *out);

/* A tensor's name, dims and dtype, as the derived fills see it. */
typedef struct oi_fill_shape {
    const char *name;
    const int64_t *dims;
    int rank;
    uint64_t n;
    int32_t dtype;
} oi_fill_shape;

/* The one implementation of the fills derived from another tensor, used by the
 * model path and by oi_fill_record alike: a tied COPY (transposed where asked)
 * or weight norm's g (NORMS) of `t`, from its source's values as the source
 * stores them (src_values, src.n floats of source kind src_kind: rounded here to
 * src.dtype, in place), into out (t.n floats). */
oi_status oi_fill_derive(const oi_decision *d, oi_fill_shape t, oi_fill_shape src,
                         oi_fill_kind src_kind, float *src_values, float *out, oi_error *err);

/* QUANT, QUANT_SCALE or QUANT_ZERO: codes, scales and zero points made
 * together from the model (not by oi_fill_values / oi_fill_tensor). */
int oi_fill_is_quant(oi_fill_kind kind);

/* The stream key of a tensor (seed, scope, name): exposed so tests can check its stability. */
uint64_t oi_fill_key(uint64_t seed, const char *scope, const char *name);


#endif
