#include "common/matrix.h"

#include <string.h>

void oi_matrix_dims(const int64_t *dims, size_t n_dims, uint64_t n_elems, int64_t *rows,
                    int64_t *cols)
{
    int64_t d[2] = {1, 1};
    int k = 0, more = 0;
    for (size_t i = 0; i < n_dims; i++)
        if (dims[i] != 1) {
            if (k < 2)
                d[k++] = dims[i];
            else
                more = 1;
        }
    *rows = more ? (int64_t)n_elems : d[0];
    *cols = more ? 1 : d[1];
}

void oi_matrix_transpose(const void *src, void *dst, int64_t rows, int64_t cols,
                         size_t elem_size)
{
    const uint8_t *s = src;
    uint8_t *o = dst;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            memcpy(o + (size_t)(j * rows + i) * elem_size, s + (size_t)(i * cols + j) * elem_size,
                   elem_size);
}
