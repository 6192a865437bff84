#include "oitest.h"

#include "model/model.h"
#include "plan/plan.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *oi_test_fixture(const char *sub, const char *name)
{
    static char buf[4096];
    const char *root = getenv("OI_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s/%s", root ? root : "fixtures", sub, name);
    return buf;
}

char *oi_test_tmpdir(void)
{
    char tmpl[] = "/tmp/oitest-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void oi_test_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

uint8_t *oi_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *len = (size_t)n;
    return buf;
}

int oi_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

int oi_test_same_file(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *da = oi_test_slurp(a, &la), *db = oi_test_slurp(b, &lb);
    int same = da && db && la == lb && memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

int oi_test_count_names(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, needle) != NULL;
    closedir(d);
    return n;
}

static const char *skipped;   /* the first reason a check could not be made */

void oi_test_skip(const char *why)
{
    fprintf(stderr, "  SKIP: %s\n", why);
    if (!skipped)
        skipped = why;
}

int oi_test_run(const char *name, const oi_test_case *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    for (const oi_test_case *t = tests; t->name; t++)
        CU_add_test(s, t->name, t->fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    if (!failed && skipped)
        fprintf(stderr, "%s: skipped (%s)\n", name, skipped);
    return failed ? 1 : skipped ? 77 : 0;
}

long oi_test_tensor_index(struct oi_model *m, const char *name)
{
    for (size_t i = 0; i < oi_model_tensor_count(m); i++)
        if (strcmp(oi_model_tensor(m, i)->name, name) == 0)
            return (long)i;
    return -1;
}

double oi_test_ks_pvalue(double d, size_t n)
{
    double sn = sqrt((double)n), l = (sn + 0.12 + 0.11 / sn) * d, sum = 0;
    if (l < 0.2)
        return 1.0;
    for (int k = 1; k <= 100; k++)
        sum += 2 * ((k & 1) ? 1 : -1) * exp(-2.0 * k * k * l * l);
    return sum < 0 ? 0 : sum > 1 ? 1 : sum;
}

double oi_test_fisher(const double *p, size_t k)
{
    double x = 0;
    for (size_t i = 0; i < k; i++)
        x += -2 * log(p[i] > 1e-300 ? p[i] : 1e-300);
    /* chi-square survival with even degrees 2k: exp(-x/2) sum_{i<k} (x/2)^i / i! */
    double term = 1, sum = 0, h = x / 2;
    for (size_t i = 0; i < k; i++) {
        sum += term;
        term *= h / (double)(i + 1);
    }
    return exp(-h) * sum;
}

void oi_test_fake_tensor(oi_test_tensor *f, const char *name, int32_t dtype, int rank,
                         const int64_t *dims)
{
    Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT;
    f->proto = init;
    memcpy(f->dims, dims, (size_t)rank * sizeof *dims);
    f->proto.n_dims = (size_t)rank;
    f->proto.dims = f->dims;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (uint64_t)dims[i];
    f->t = (oi_tensor){.proto = &f->proto, .name = name, .scope = "", .kind = "initializer",
                       .dtype = dtype, .elem_size = oi_dtype_size(dtype), .n_elems = n,
                       .n_bytes = n * oi_dtype_size(dtype), .storage = OI_STORE_RAW};
}

int oi_test_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

oi_decision oi_test_decision(int kind, double a, double b)
{
    oi_decision d = {.kind = (oi_fill_kind)kind};
    switch (d.kind) {
    case OI_FILL_CONSTANT: d.constant.value = a; break;
    case OI_FILL_UNIFORM: d.uniform.low = a; d.uniform.high = b; break;
    case OI_FILL_ORTHOGONAL: case OI_FILL_IDENTITY: d.matrix.gain = a; break;
    case OI_FILL_SPARSE: d.sparse.sparsity = a; d.sparse.std = b; break;
    case OI_FILL_GATE_BIAS: d.gate_bias.value = a; d.gate_bias.gate = b; break;
    default: d.normal.mean = a; d.normal.std = b; break;
    }
    return d;
}

void oi_test_decision_numbers(const oi_decision *d, double *a, double *b)
{
    *b = 0;
    switch (d->kind == OI_FILL_QUANT ? d->draw : d->kind) {
    case OI_FILL_CONSTANT: *a = d->constant.value; break;
    case OI_FILL_UNIFORM: *a = d->uniform.low; *b = d->uniform.high; break;
    case OI_FILL_ORTHOGONAL: case OI_FILL_IDENTITY: *a = d->matrix.gain; break;
    case OI_FILL_SPARSE: *a = d->sparse.sparsity; *b = d->sparse.std; break;
    case OI_FILL_GATE_BIAS: *a = d->gate_bias.value; *b = d->gate_bias.gate; break;
    default: *a = d->normal.mean; *b = d->normal.std; break;
    }
}
