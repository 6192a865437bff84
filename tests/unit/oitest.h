/* Helpers shared by the CUnit tests: fixture paths, temp folders, file bytes. */
#ifndef OI_TEST_H
#define OI_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* $OI_FIXTURES/<sub>/<name> in a static buffer (one at a time). */
const char *oi_test_fixture(const char *sub, const char *name);
/* A fresh empty folder under /tmp; removed by oi_test_rmtree. */
char *oi_test_tmpdir(void);
void oi_test_rmtree(const char *dir);
/* Whole file into memory (malloc'd); NULL if it cannot be read. */
uint8_t *oi_test_slurp(const char *path, size_t *len);
int oi_test_write_file(const char *path, const void *data, size_t len);
int oi_test_same_file(const char *a, const char *b);
/* How many entries of dir contain `needle` in their name. */
int oi_test_count_names(const char *dir, const char *needle);
/* Index of the tensor named `name` in a loaded model, or -1. */
struct oi_model;
long oi_test_tensor_index(struct oi_model *m, const char *name);

/* A tensor without data, for the fill's functions: a name, dtype and shape
 * (up to 4 dims), stored raw. */
typedef struct {
    Onnx__TensorProto proto;
    int64_t dims[4];
    oi_tensor t;
} oi_test_tensor;
void oi_test_fake_tensor(oi_test_tensor *f, const char *name, int32_t dtype, int rank,
                         const int64_t *dims);
/* qsort's comparison of doubles. */
int oi_test_cmp_double(const void *a, const void *b);

/* Kolmogorov's asymptotic p-value of a KS distance d over n samples. */
double oi_test_ks_pvalue(double d, size_t n);
/* Fisher's combination of k independent p-values: its own p-value (the chance that
 * k uniform p-values give -2 sum log p this large; chi-square with 2k degrees). */
double oi_test_fisher(const double *p, size_t k);

/* A decision of kind with its two numbers in the kind's own fields (a: mean,
 * low, value, gain, sparsity; b: std, high, gate), and those numbers read back. */
struct oi_decision oi_test_decision(int kind, double a, double b);
void oi_test_decision_numbers(const struct oi_decision *d, double *a, double *b);

/* Register `tests` in a suite named `name` and run; returns the exit code. */
typedef struct { const char *name; void (*fn)(void); } oi_test_case;
/* Runs the cases; exits 1 if any failed, else 77 (meson: SKIP) if a case called
 * oi_test_skip (a check this machine cannot make must not pass as made), else 0. */
int oi_test_run(const char *name, const oi_test_case *tests);
void oi_test_skip(const char *why);

#endif
