/* Shared by the fill_*.c files; not a public contract. */
#ifndef OI_FILL_INTERNAL_H
#define OI_FILL_INTERNAL_H

#include "fill/fill.h"

/* Streams of one key: separate counter spaces so schemes never share draws. */
enum { OI_STREAM_MAIN = 0, OI_STREAM_ORTHO = 1, OI_STREAM_TRUNC = 2, OI_STREAM_SPARSE = 3 };

/* Random123's Philox4x32-10 of blocks [first, first+OI_PHILOX_BATCH) of a
 * stream, lane-major: out[lane][j] is lane `lane` of block first+j. */
#define OI_PHILOX_BATCH 64
/* One implementation by name, for tests: 0 portable, 1 AVX2, 2 AVX-512;
 * returns 0 when this CPU lacks it. */
int oi_philox_batch_isa(int isa, uint64_t key, uint32_t stream, uint64_t first,
                        uint32_t out[4][OI_PHILOX_BATCH]);
void oi_philox_batch(uint64_t key, uint32_t stream, uint64_t first,
                     uint32_t out[4][OI_PHILOX_BATCH]);

/* Elementwise schemes: values of elements [start, start + n) into out. */
void oi_fill_elementwise(const oi_decision *d, uint64_t key, uint64_t start, size_t n,
                         float *out);
/* n standard normals of elements [start, start+n) of a stream. */
void oi_fill_normals(uint64_t key, uint32_t stream, uint64_t start, size_t n, float *out);
/* Orthogonal matrix `m` of the decision into out (rows*cols floats, row-major). */
oi_status oi_fill_orthogonal_matrix(const oi_decision *d, uint64_t key, int64_t m, float *out,
                                    oi_error *err);
/* Identity/dirac and sparse: the whole tensor at once. */
void oi_fill_identity(const oi_decision *d, const oi_tensor *t, float *out);
oi_status oi_fill_sparse(const oi_decision *d, uint64_t key, float *out, oi_error *err);

/* ---- values.c: one decision's values ---- */
uint64_t oi_fill_tensor_key(const oi_tensor *t, uint64_t seed);
/* Elements [start, start+count) (or orthogonal matrix `matrix`) into scratch. */
oi_status oi_fill_job_values(const oi_decision *d, const oi_tensor *t, uint64_t key,
                             uint64_t start, uint64_t count, int64_t matrix, float *scratch,
                             oi_error *err);
/* A whole tensor's values; model and plan are needed for DISTINCT and COPY. */
oi_status oi_fill_whole_values(const oi_decision *d, const oi_tensor *t, uint64_t seed,
                               float *out, oi_model *model, const oi_plan *plan, oi_error *err);
/* Floats to a float tensor's bytes (float32/64 as is, float16/bfloat16 RNE). */
void oi_fill_encode(int32_t dtype, const float *v, size_t n, uint8_t *dst);
/* A folded table's new values (one per distinct value of orig, same pattern). */
oi_status oi_fill_distinct_values(const oi_decision *d, const oi_tensor *t, uint64_t seed,
                                  const float *orig, float *out, oi_error *err);

/* ---- quant.c ---- */
/* Tensor ti's bytes (n_bytes) for a QUANT, QUANT_SCALE or QUANT_ZERO decision. */
oi_status oi_fill_quant_bytes(oi_model *model, const oi_plan *plan, size_t ti, uint64_t seed,
                              uint8_t *dst, oi_error *err);

#endif
