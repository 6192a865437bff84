/* Forming Q from Householder reflectors with matrix products (householder.c). */
#ifndef OI_FILL_HOUSEHOLDER_H
#define OI_FILL_HOUSEHOLDER_H

#include <cblas.h>
#include <lapacke.h>
#include <stddef.h>
#include <stdint.h>

/* The BLAS and LAPACK routines it calls, looked up where LAPACK was opened. */
typedef struct oi_blas {
    __typeof__(&cblas_sgemm) sgemm;
    __typeof__(&cblas_ssyrk) ssyrk;
    __typeof__(&cblas_strmm) strmm;
    __typeof__(&LAPACKE_strtri_work) strtri;
} oi_blas;

/* Reflectors per block: large enough for fast products, small enough that
 * the extra work of each block's T and panel stays a few percent. */
#define OI_HH_BLOCK 64

/* Floats of workspace oi_householder_q needs for a big x small Q. */
size_t oi_householder_work(int64_t big, int64_t small);

/* a (big x small, column-major, big >= small): the reflectors below its
 * diagonal and tau (geqrf's layout) in, Q's first `small` columns out, as
 * orgqr.  0, or LAPACK's info from inverting a block's T. */
int oi_householder_q(const oi_blas *blas, int64_t big, int64_t small, float *a, const float *tau,
                     float *work);

#endif
