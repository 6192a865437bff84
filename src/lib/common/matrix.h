/* matrix — a tensor seen as a matrix, and its transpose (for tied copies). */
#ifndef OI_MATRIX_H
#define OI_MATRIX_H

#include <stddef.h>
#include <stdint.h>

/* Rows and columns from the dims that are not 1: [V, D] and [1, V, D] are V x D;
 * more than two such dims is one long row of n_elems (cols 1). */
void oi_matrix_dims(const int64_t *dims, size_t n_dims, uint64_t n_elems, int64_t *rows,
                    int64_t *cols);
/* dst = srcᵀ for a rows x cols matrix of elem_size-byte elements. */
void oi_matrix_transpose(const void *src, void *dst, int64_t rows, int64_t cols,
                         size_t elem_size);

#endif
