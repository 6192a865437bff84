/* save module and oi_model_save: atomic writes, refusals, external data output. */
#include "model/model.h"
#include "save/save.h"
#include "oitest.h"
#include "save/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static const char *in_dir(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* The fixture's bytes now equal `before` (then freed). */
static void check_unchanged(const char *sub, const char *name, uint8_t *before, size_t len)
{
    size_t now_len;
    uint8_t *now = oi_test_slurp(oi_test_fixture(sub, name), &now_len);
    CU_ASSERT_TRUE(before && now && now_len == len && memcmp(before, now, len) == 0);
    free(now);
    free(before);
}

static oi_model *load(const char *name)
{
    oi_model *m = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(oi_test_fixture("good", name), &m, &err), OI_OK);
    return m;
}

static void test_refuses_existing_output(void)
{
    oi_model *m = load("mlp.onnx");
    oi_error err;
    const char *out = in_dir("exists.onnx");
    CU_ASSERT_EQUAL(oi_test_write_file(out, "keep me", 7), 0);
    CU_ASSERT_EQUAL(oi_model_save(m, out, NULL, &err), OI_ERR_UNSAFE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already exists"));
    size_t len;
    uint8_t *d = oi_test_slurp(out, &len);
    CU_ASSERT_TRUE(d && len == 7 && memcmp(d, "keep me", 7) == 0);
    free(d);
    oi_save_opts o = {.overwrite = 1};
    CU_ASSERT_EQUAL(oi_model_save(m, out, &o, &err), OI_OK);
    CU_ASSERT_TRUE(oi_test_same_file(out, oi_test_fixture("good", "mlp.onnx")));
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
    oi_model_free(m);
}

static void test_refuses_input_and_directory(void)
{
    oi_model *m = load("mlp.onnx");
    oi_error err;
    oi_save_opts force = {.overwrite = 1};
    CU_ASSERT_EQUAL(oi_model_save(m, oi_test_fixture("good", "mlp.onnx"), &force, &err),
                    OI_ERR_UNSAFE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replacing it in place"));
    CU_ASSERT_EQUAL(oi_model_save(m, dir, &force, &err), OI_ERR_UNSAFE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "directory"));
    CU_ASSERT_EQUAL(oi_model_save(m, in_dir("no/such/folder/x.onnx"), NULL, &err), OI_ERR_IO);
    oi_model_free(m);
}

/* An atomic save that fails before commit leaves neither output nor temp file. */
static void test_abort_leaves_nothing(void)
{
    oi_save_file f;
    oi_error err;
    const char *out = in_dir("aborted.onnx");
    CU_ASSERT_EQUAL_FATAL(oi_save_begin(&f, out, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_save_write(&f, "partial", 7, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 1);
    oi_save_abort(&f);
    CU_ASSERT_EQUAL(access(out, F_OK), -1);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
}

/* Commit without overwrite must not replace a file that appeared meanwhile. */
static void test_commit_no_clobber(void)
{
    oi_save_file f;
    oi_error err;
    const char *out = in_dir("raced.onnx");
    CU_ASSERT_EQUAL_FATAL(oi_save_begin(&f, out, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_save_write(&f, "new", 3, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_test_write_file(out, "old", 3), 0);
    CU_ASSERT_EQUAL(oi_save_commit(&f, 0, &err), OI_ERR_UNSAFE);
    oi_save_abort(&f);
    size_t len;
    uint8_t *d = oi_test_slurp(out, &len);
    CU_ASSERT_TRUE(d && len == 3 && memcmp(d, "old", 3) == 0);
    free(d);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
}

/* A model with external data saved elsewhere gets its own new data file. */
static void test_external_saved_beside_output(void)
{
    size_t before_len;
    uint8_t *before = oi_test_slurp(oi_test_fixture("good", "external.onnx.data"), &before_len);
    oi_model *m = load("external.onnx");
    oi_error err;
    CU_ASSERT_EQUAL(oi_model_save(m, in_dir("moved.onnx"), NULL, &err), OI_OK);
    oi_model_free(m);
    struct stat st;
    CU_ASSERT_EQUAL(stat(in_dir("moved.onnx.data"), &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 32 * 64 * 4 + 32 * 4);
    oi_model *back = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(in_dir("moved.onnx"), &back, &err), OI_OK);
    for (size_t i = 0; i < oi_model_tensor_count(back); i++) {
        oi_tensor *t = oi_model_tensor(back, i);
        CU_ASSERT_EQUAL(t->storage, OI_STORE_EXTERNAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(t->ext_path, "moved.onnx.data"));
    }
    oi_model_free(back);
    check_unchanged("good", "external.onnx.data", before, before_len);
}

/* --external-data: tensors above the threshold move out, values unchanged. */
static void test_externalize(void)
{
    oi_model *m = load("mlp.onnx");
    oi_error err;
    oi_save_opts o = {.externalize = 1, .external_threshold = 100, .external_name = "w.bin"};
    CU_ASSERT_EQUAL_FATAL(oi_model_save(m, in_dir("ext.onnx"), &o, &err), OI_OK);
    oi_model *back = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(in_dir("ext.onnx"), &back, &err), OI_OK);
    int moved = 0;
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        oi_tensor *a = oi_model_tensor(m, i), *b = oi_model_tensor(back, i);
        CU_ASSERT_STRING_EQUAL(a->name, b->name);
        CU_ASSERT_EQUAL(a->storage, OI_STORE_RAW);   /* saving did not alter the model */
        CU_ASSERT_EQUAL(b->storage, a->n_bytes >= 100 ? OI_STORE_EXTERNAL : OI_STORE_RAW);
        moved += b->storage == OI_STORE_EXTERNAL;
        uint8_t *x = malloc(a->n_bytes), *y = malloc(b->n_bytes);
        CU_ASSERT_EQUAL(oi_model_read(m, a, x, &err), OI_OK);
        CU_ASSERT_EQUAL(oi_model_read(back, b, y, &err), OI_OK);
        CU_ASSERT_EQUAL(memcmp(x, y, a->n_bytes), 0);
        free(x);
        free(y);
    }
    CU_ASSERT_EQUAL(moved, 3);   /* fc1.weight, fc1.bias, fc2.weight; fc2.bias is 16 bytes */
    /* the model saved again without options is still byte-identical to its input */
    CU_ASSERT_EQUAL(oi_model_save(m, in_dir("plain.onnx"), NULL, &err), OI_OK);
    CU_ASSERT_TRUE(oi_test_same_file(in_dir("plain.onnx"), oi_test_fixture("good", "mlp.onnx")));
    /* a data name with a slash is refused before anything is written */
    oi_save_opts bad = {.externalize = 1, .external_name = "../x.bin"};
    CU_ASSERT_EQUAL(oi_model_save(m, in_dir("bad.onnx"), &bad, &err), OI_ERR_USAGE);
    CU_ASSERT_EQUAL(access(in_dir("bad.onnx"), F_OK), -1);
    oi_model_free(back);
    oi_model_free(m);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
}

/* Writing a data file over the input's own data file is refused. */
static void test_refuses_overwriting_input_data(void)
{
    char *d2 = oi_test_tmpdir(), src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/m.onnx", d2);
    size_t len;
    uint8_t *bytes = oi_test_slurp(oi_test_fixture("good", "external.onnx"), &len);
    CU_ASSERT_EQUAL(oi_test_write_file(src, bytes, len), 0);
    free(bytes);
    bytes = oi_test_slurp(oi_test_fixture("good", "external.onnx.data"), &len);
    snprintf(dst, sizeof dst, "%s/external.onnx.data", d2);
    CU_ASSERT_EQUAL(oi_test_write_file(dst, bytes, len), 0);
    oi_model *m = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(src, &m, &err), OI_OK);
    snprintf(dst, sizeof dst, "%s/external.onnx", d2);   /* its data file would be the input's */
    oi_save_opts o = {.overwrite = 1};
    CU_ASSERT_EQUAL(oi_model_save(m, dst, &o, &err), OI_ERR_UNSAFE);
    CU_ASSERT_EQUAL(access(dst, F_OK), -1);
    snprintf(dst, sizeof dst, "%s/external.onnx.data", d2);
    size_t len2;
    uint8_t *after = oi_test_slurp(dst, &len2);
    CU_ASSERT_TRUE(after && len == len2 && memcmp(bytes, after, len) == 0);
    free(after);
    free(bytes);
    oi_model_free(m);
    oi_test_rmtree(d2);
    free(d2);
}

/* The rewrite flags with only `name` set (free). */
static unsigned char *only(oi_model *m, const char *name)
{
    unsigned char *r = calloc(oi_model_tensor_count(m), 1);
    long i = oi_test_tensor_index(m, name);
    CU_ASSERT_TRUE_FATAL(r && i >= 0);
    r[i] = 1;
    return r;
}

/* A tensor's new payload: 0, 1, 2, ... as bytes, written in two pieces, the
 * second first (the writer gives each piece its place). */
static void write_pattern(oi_patch *p, const oi_tensor *t, uint8_t *want)
{
    oi_error err;
    for (uint64_t k = 0; k < t->n_bytes; k++)
        want[k] = (uint8_t)(k * 7 + 1);
    uint64_t half = t->n_bytes / 2;
    CU_ASSERT_EQUAL(oi_patch_write(p, t, half, want + half, t->n_bytes - half, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_patch_write(p, t, 0, want, half, &err), OI_OK);
}

/* Every tensor of `got` holds the bytes of `ref`'s, except `changed`, which holds want. */
static void check_values(oi_model *ref, oi_model *got, const char *changed, const uint8_t *want)
{
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_model_tensor_count(ref), oi_model_tensor_count(got));
    for (size_t i = 0; i < oi_model_tensor_count(ref); i++) {
        oi_tensor *a = oi_model_tensor(ref, i), *b = oi_model_tensor(got, i);
        CU_ASSERT_STRING_EQUAL(a->name, b->name);
        CU_ASSERT_EQUAL_FATAL(a->n_bytes, b->n_bytes);
        uint8_t *x = malloc(a->n_bytes + 1), *y = malloc(b->n_bytes + 1);
        CU_ASSERT_EQUAL(oi_model_read(ref, a, x, &err), OI_OK);
        CU_ASSERT_EQUAL(oi_model_read(got, b, y, &err), OI_OK);
        int same = memcmp(y, strcmp(a->name, changed) == 0 ? want : x, b->n_bytes) == 0;
        CU_ASSERT_TRUE(same);
        free(x);
        free(y);
    }
}

/* The patch save of an embedded model: the input's bytes with one payload
 * replaced, nothing else moved; the input untouched. */
static void test_patch_embedded(void)
{
    const char *src = oi_test_fixture("good", "mlp.onnx");
    size_t in_len;
    uint8_t *in = oi_test_slurp(src, &in_len);
    oi_model *m = load("mlp.onnx");
    unsigned char *rw = only(m, "fc1.weight");
    oi_save_opts o = {0};
    CU_ASSERT_TRUE_FATAL(oi_patch_possible(m, rw, &o));
    oi_patch *p = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_patch_begin(m, in_dir("patched.onnx"), &o, rw, &p, &err), OI_OK);
    const oi_tensor *t = oi_model_tensor(m, (size_t)oi_test_tensor_index(m, "fc1.weight"));
    CU_ASSERT_TRUE(oi_patch_takes(p, t));
    uint8_t *want = malloc(t->n_bytes);
    write_pattern(p, t, want);
    CU_ASSERT_EQUAL(access(in_dir("patched.onnx"), F_OK), -1);   /* nothing before commit */
    CU_ASSERT_EQUAL(oi_patch_commit(p, &err), OI_OK);
    oi_patch_free(p);
    size_t out_len, differ = 0;
    uint8_t *out = oi_test_slurp(in_dir("patched.onnx"), &out_len);
    CU_ASSERT_TRUE_FATAL(out && out_len == in_len);
    for (size_t k = 0; k < in_len; k++)
        differ += in[k] != out[k];
    CU_ASSERT_TRUE(differ > 0 && differ <= t->n_bytes);   /* only the payload's bytes */
    oi_model *back = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(in_dir("patched.onnx"), &back, &err), OI_OK);
    check_values(m, back, "fc1.weight", want);
    check_unchanged("good", "mlp.onnx", in, in_len);   /* the input untouched */
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
    oi_model_free(back);
    oi_model_free(m);
    free(out);
    free(want);
    free(rw);
}

/* A patch freed before its commit leaves no output and no temporary file. */
static void test_patch_abort(void)
{
    oi_model *m = load("mlp.onnx");
    unsigned char *rw = only(m, "fc2.weight");
    oi_save_opts o = {0};
    oi_patch *p = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_patch_begin(m, in_dir("aborted_patch.onnx"), &o, rw, &p, &err), OI_OK);
    const oi_tensor *t = oi_model_tensor(m, (size_t)oi_test_tensor_index(m, "fc2.weight"));
    uint8_t *want = malloc(t->n_bytes);
    write_pattern(p, t, want);
    oi_patch_free(p);
    CU_ASSERT_EQUAL(access(in_dir("aborted_patch.onnx"), F_OK), -1);
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
    free(want);
    free(rw);
    oi_model_free(m);
}

/* An external-data model: a new model beside a patched copy of its data
 * file; the input's data file untouched.  Asked to move tensors out, the
 * patch declines (the full encode does that). */
static void test_patch_external(void)
{
    size_t before_len;
    uint8_t *before = oi_test_slurp(oi_test_fixture("good", "external.onnx.data"), &before_len);
    oi_model *m = load("external.onnx");
    oi_tensor *t = oi_model_tensor(m, 0);
    unsigned char *rw = only(m, t->name);
    oi_save_opts o = {.externalize = 1};
    CU_ASSERT_FALSE(oi_patch_possible(m, rw, &o));
    o.externalize = 0;
    CU_ASSERT_TRUE_FATAL(oi_patch_possible(m, rw, &o));
    oi_patch *p = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_patch_begin(m, in_dir("pext.onnx"), &o, rw, &p, &err), OI_OK);
    CU_ASSERT_TRUE(oi_patch_takes(p, t));
    uint8_t *want = malloc(t->n_bytes);
    write_pattern(p, t, want);
    CU_ASSERT_EQUAL(oi_patch_commit(p, &err), OI_OK);
    oi_patch_free(p);
    oi_model *back = NULL;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(in_dir("pext.onnx"), &back, &err), OI_OK);
    for (size_t i = 0; i < oi_model_tensor_count(back); i++) {
        CU_ASSERT_EQUAL(oi_model_tensor(back, i)->storage, OI_STORE_EXTERNAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(oi_model_tensor(back, i)->ext_path, "pext.onnx"));
    }
    check_values(m, back, t->name, want);
    check_unchanged("good", "external.onnx.data", before, before_len);
    oi_model_free(back);
    oi_model_free(m);
    free(want);
    free(rw);
}

/* Copied ranges: the bytes land where they belong, from this file system
 * (copy_file_range) and from another (/dev/shm, where the kernel may refuse
 * and the copy reads and writes); a source shorter than the range asked for
 * is a file changed mid-run, named, and nothing is committed. */
static void test_copy_ranges(void)
{
    enum { SIZE = 300000 };
    uint8_t *src = malloc(SIZE);
    for (int i = 0; i < SIZE; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 9));
    char other[64];
    snprintf(other, sizeof other, "/dev/shm/oi-copy-%d", (int)getpid());
    const char *sources[] = {in_dir("copy-src.bin"), other};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", sources[k]);
        if (oi_test_write_file(path, src, SIZE) != 0) {
            CU_ASSERT_EQUAL(k, 1);   /* only /dev/shm may be missing */
            continue;
        }
        oi_save_file f;
        oi_error err;
        const char *out = in_dir("copied.bin");
        CU_ASSERT_EQUAL_FATAL(oi_save_begin(&f, out, &err), OI_OK);
        CU_ASSERT_EQUAL(oi_save_write(&f, "head", 4, &err), OI_OK);
        CU_ASSERT_EQUAL(oi_save_copy_range(&f, path, 1000, 200000, &err), OI_OK);
        CU_ASSERT_EQUAL(oi_save_write(&f, "tail", 4, &err), OI_OK);
        CU_ASSERT_EQUAL_FATAL(oi_save_commit(&f, 1, &err), OI_OK);
        oi_save_abort(&f);   /* after a commit: frees what the file held */
        size_t len;
        uint8_t *d = oi_test_slurp(out, &len);
        CU_ASSERT_TRUE(d && len == 200008 && memcmp(d, "head", 4) == 0 &&
                       memcmp(d + 4, src + 1000, 200000) == 0 && memcmp(d + 200004, "tail", 4) == 0);
        free(d);
        CU_ASSERT_EQUAL_FATAL(oi_save_begin(&f, in_dir("short.bin"), &err), OI_OK);
        CU_ASSERT_EQUAL(oi_save_copy_range(&f, path, SIZE - 100, 4096, &err), OI_ERR_IO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "changed while it was being read"));
        oi_save_abort(&f);
        CU_ASSERT_EQUAL(access(in_dir("short.bin"), F_OK), -1);
        unlink(path);
    }
    free(src);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"existing output refused without -f", test_refuses_existing_output},
        {"output equal to input or a directory refused", test_refuses_input_and_directory},
        {"aborted save leaves nothing", test_abort_leaves_nothing},
        {"commit never clobbers a file that appeared", test_commit_no_clobber},
        {"external data saved beside the output", test_external_saved_beside_output},
        {"--external-data moves big tensors out", test_externalize},
        {"input's data file is never overwritten", test_refuses_overwriting_input_data},
        {"patch save: one payload replaced, nothing else", test_patch_embedded},
        {"patch save: freed before commit leaves nothing", test_patch_abort},
        {"patch save: external data copied and patched", test_patch_external},
        {"copied ranges, across file systems, from a short source", test_copy_ranges},
        {NULL, NULL},
    };
    dir = oi_test_tmpdir();
    int rc = oi_test_run("save", tests);
    oi_test_rmtree(dir);
    free(dir);
    return rc;
}
