/* Shared by the fill_*.c files; not a public contract. */
#ifndef OI_FILL_INTERNAL_H
#define OI_FILL_INTERNAL_H

#include "fill/fill.h"

/* Counter spaces of one key, so schemes never share draws. */
enum { OI_STREAM_MAIN = 0, OI_STREAM_ORTHO = 1, OI_STREAM_TRUNC = 2, OI_STREAM_SPARSE = 3 };

/* OI_KERNEL(name, (params), (args)) { body }: a static void function whose
 * body is built three times, for AVX-512, AVX2+FMA and any x86-64, the best
 * this CPU runs chosen at each call by feature (not by CPU model, as
 * target_clones' arch= would).  All do the same IEEE operations (ISO C: no
 * contraction; fused multiply-adds only where written, as fmaf, which is
 * exact everywhere), so the bytes do not depend on the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OI_KERNEL(name, params, args)                                                          \
    static inline __attribute__((always_inline)) void name##_body params;                      \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; }  \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; }   \
    static void name params                                                                    \
    {                                                                                          \
        if (__builtin_cpu_supports("avx512f"))                                                 \
            name##_avx512 args;                                                                \
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))              \
            name##_avx2 args;                                                                  \
        else                                                                                   \
            name##_body args;                                                                  \
    }                                                                                          \
    static inline __attribute__((always_inline)) void name##_body params
#else
#define OI_KERNEL(name, params, args) static void name params
#endif

/* One tensor's draws: its key and the published stream version. */
typedef struct oi_rng {
    uint64_t key;
    int version;
} oi_rng;

/* ---- philox.c ---- */
/* Random123's Philox4x32-R (R = 10 or 7) of counters (first+j, space, 0) for
 * j < OI_PHILOX_BATCH, lane-major: out[lane][j] is lane `lane` of block first+j. */
#define OI_PHILOX_BATCH 64
void oi_philox_batch(int rounds, uint64_t key, uint32_t space, uint64_t first,
                     uint32_t out[4][OI_PHILOX_BATCH]);
/* `batches` such batches at once, out[b] from block first + b * OI_PHILOX_BATCH. */
void oi_philox_batches(int rounds, uint64_t key, uint32_t space, uint64_t first, size_t batches,
                       uint32_t (*out)[4][OI_PHILOX_BATCH]);
/* One implementation by name, for tests: 0 portable, 1 AVX2, 2 AVX-512;
 * returns 0 when this CPU lacks it. */
int oi_philox_batch_isa(int isa, int rounds, uint64_t key, uint32_t space, uint64_t first,
                        size_t batches, uint32_t (*out)[4][OI_PHILOX_BATCH]);

/* ---- stream1.c (stream 1, 0.1's bytes): raw draws, a and b ignored (its affine
 * step is a pass of its own); truncated normals one counter per element ---- */
#define OI_BATCH_ELEMS (4 * OI_PHILOX_BATCH)
typedef void oi_batch_fn(uint64_t key, uint32_t space, uint64_t first, size_t batches, float a,
                         float b, float *out);
oi_batch_fn oi_stream1_uniforms, oi_stream1_normals;
void oi_stream1_trunc_normals(uint64_t key, uint32_t space, uint64_t start, size_t n, float *out);

/* ---- stream2.c (stream 2): a + b x of the values x of `batches` batches of
 * OI_BATCH_ELEMS, from counter block `first` of a key's counter space ---- */
oi_batch_fn oi_stream2_uniforms, oi_stream2_normals, oi_stream2_trunc_normals;
/* For tests: batches (kind 0 uniform, 1 normal, 2 truncated normal) by one
 * build of the kernel (0 any x86-64, 1 AVX2+FMA, 2 AVX-512); 0 when this CPU lacks it. */
int oi_stream2_batch_isa(int isa, int kind, uint64_t key, uint32_t space, uint64_t first,
                      size_t batches, float a, float b, float *out);
/* For tests: stream 2's transforms of one element (the kernels' exact operations). */
float oi_stream2_ln(float u);
void oi_stream2_box_muller(uint32_t u1, uint32_t u2, float *zc, float *zs);
float oi_stream2_trunc(uint32_t r);

/* Elementwise schemes: values of elements [start, start + n) into out. */
void oi_fill_elementwise(const oi_decision *d, oi_rng rng, uint64_t start, size_t n, float *out);
/* n standard normals of elements [start, start+n) of a counter space. */
void oi_fill_normals(oi_rng rng, uint32_t space, uint64_t start, size_t n, float *out);
/* Whether an OpenBLAS the host process brought in (numpy's) runs each call on
 * several threads: then orthogonal matrices are formed one at a time, each on
 * its threads (several at once, each on all cores, ran 3x slower). */
int oi_fill_hosts_threaded_blas(void);
/* Orthogonal matrix `m` of the decision into out (rows*cols floats, row-major). */
oi_status oi_fill_orthogonal_matrix(const oi_decision *d, oi_rng rng, int64_t m, float *out,
                                    oi_error *err);
/* Identity/dirac and sparse: the whole tensor at once. */
void oi_fill_identity(const oi_decision *d, const oi_tensor *t, float *out);
oi_status oi_fill_sparse(const oi_decision *d, oi_rng rng, float *out, oi_error *err);

/* ---- values.c: one decision's values ---- */
oi_rng oi_fill_tensor_rng(const oi_tensor *t, oi_seed seed);
/* Elements [start, start+count) (or orthogonal matrix `matrix`) into scratch. */
oi_status oi_fill_job_values(const oi_decision *d, const oi_tensor *t, oi_rng rng,
                             uint64_t start, uint64_t count, int64_t matrix, float *scratch,
                             oi_error *err);
/* A whole tensor's values; model and plan are needed for DISTINCT, COPY and NORMS. */
oi_status oi_fill_whole_values(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                               float *out, oi_model *model, const oi_plan *plan, oi_error *err);
/* A folded table's new values (one per distinct value of orig, same pattern). */
oi_status oi_fill_distinct_values(const oi_decision *d, const oi_tensor *t, oi_seed seed,
                                  const float *orig, float *out, oi_error *err);

/* ---- qkernels.c: the quantizer's loops ---- */
/* The group (scale index) of each element in storage order, without
 * oi_quant_group_of's divisions per element: element (o * len + a) * inner + r
 * is in group a per axis, (o * blocks + a / block) * inner + r blockwise, 0 per
 * tensor. */
typedef struct {
    const oi_quant *q;
    uint64_t a, r, base, blocks, row;   /* row: o * blocks */
} oi_group_walk;
oi_group_walk oi_group_walk_start(const oi_quant *q);
uint64_t oi_group_next(oi_group_walk *w);
/* Widen each group's [lo, hi] by the walk's next n elements (v). */
void oi_quant_range_piece(oi_group_walk *w, const float *v, uint64_t n, float *lo, float *hi);
/* The codes of the walk's next n elements (v, overwritten for float8) into
 * dst's codes [at, at + n): v / scale, rounded to even, plus the zero point,
 * clamped to the code type's range. */
void oi_quant_codes_piece(oi_group_walk *w, const float *scale, const float *zero, float *v,
                          uint64_t at, uint64_t n, uint8_t *dst);

/* ---- quant.c ---- */
/* The scales and zero points of a run's quantized weights, each fit once and
 * shared by the jobs of its codes, its scale and its zero point (any worker,
 * any order). */
typedef struct oi_quant_cache oi_quant_cache;
oi_quant_cache *oi_quant_cache_new(size_t tensors);   /* NULL when out of memory */
void oi_quant_cache_free(oi_quant_cache *c);
/* Tensor ti's bytes (n_bytes) for a QUANT, QUANT_SCALE or QUANT_ZERO decision. */
oi_status oi_fill_quant_bytes(oi_model *model, const oi_plan *plan, oi_quant_cache *cache,
                              size_t ti, oi_seed seed, uint8_t *dst, oi_error *err);

#endif
