/* model module: lossless round trips, the tensor catalogue, payload access,
 * and refusal of malformed models. */
#include "model/model.h"
#include "model/qcodec.h"
#include "save/save.h"
#include "oitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *good_models[] = {
    "mlp.onnx", "mlp_typed.onnx", "mlp_fp64.onnx", "fp16_raw.onnx", "fp16_typed.onnx",
    "bf16_raw.onnx", "bf16_typed.onnx", "constants.onnx", "if_body.onnx", "loop_body.onnx",
    "function.onnx", "external.onnx", "unknown_field.onnx", "resnet18.onnx",
    "mobilenet_v3_small.onnx", "lstm_bidir.onnx", "gru_bidir.onnx", NULL,
};

static const char *bad_models[] = {
    "empty.onnx", "text.onnx", "random.onnx", "dims_overflow.onnx", "negative_dim.onnx",
    "raw_short.onnx", "raw_long.onnx", "typed_count.onnx", "huge_claim.onnx",
    "ext_absolute.onnx", "ext_dotdot.onnx", "ext_missing.onnx", "ext_offset.onnx",
    "ext_length.onnx", "ext_symlink.onnx", "tensor_not_model.onnx", NULL,
};

static oi_model *load_good(const char *name)
{
    oi_model *m = NULL;
    oi_error err;
    oi_error_clear(&err);
    oi_status s = oi_model_load(oi_test_fixture("good", name), &m, &err);
    if (s)
        fprintf(stderr, "load %s: %s\n", name, err.msg);
    CU_ASSERT_EQUAL_FATAL(s, OI_OK);
    return m;
}

static oi_tensor *find(oi_model *m, const char *name)
{
    long i = oi_test_tensor_index(m, name);
    return i < 0 ? NULL : oi_model_tensor(m, (size_t)i);
}

/* Encoding in memory gives back the exact input bytes. */
static void test_roundtrip_buffer(void)
{
    for (const char **n = good_models; *n; n++) {
        size_t in_len, out_len;
        uint8_t *in = oi_test_slurp(oi_test_fixture("good", *n), &in_len), *out = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        oi_model *m = load_good(*n);
        oi_error err;
        CU_ASSERT_EQUAL(oi_model_save_buffer(m, &out, &out_len, &err), OI_OK);
        CU_ASSERT_EQUAL(out_len, in_len);
        if (out_len != in_len || memcmp(in, out, in_len) != 0) {
            fprintf(stderr, "round trip differs: %s\n", *n);
            CU_FAIL("round trip not byte-identical");
        }
        free(in);
        free(out);
        oi_model_free(m);
    }
}

/* Saving to a file (the streaming path) is byte-identical too, data file included. */
static void test_roundtrip_file(void)
{
    char *dir = oi_test_tmpdir();
    char out[4096], data[4096];
    for (const char **n = good_models; *n; n++) {
        oi_model *m = load_good(*n);
        oi_error err;
        snprintf(out, sizeof out, "%s/%s", dir, *n);
        CU_ASSERT_EQUAL(oi_model_save(m, out, NULL, &err), OI_OK);
        CU_ASSERT_TRUE(oi_test_same_file(out, oi_test_fixture("good", *n)));
        oi_model_free(m);
    }
    snprintf(data, sizeof data, "%s/external.onnx.data", dir);
    CU_ASSERT_TRUE(oi_test_same_file(data, oi_test_fixture("good", "external.onnx.data")));
    CU_ASSERT_EQUAL(oi_test_count_names(dir, ".oi-tmp-"), 0);
    oi_test_rmtree(dir);
    free(dir);
}

static void test_catalogue_places(void)
{
    oi_model *m = load_good("constants.onnx");
    oi_tensor *t = find(m, "conv.w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->kind, "Constant");
    CU_ASSERT_EQUAL(t->n_elems, 8 * 3 * 3 * 3);
    CU_ASSERT_EQUAL(t->storage, OI_STORE_RAW);
    CU_ASSERT_EQUAL(oi_model_tensor_count(m), 2);
    oi_model_free(m);

    m = load_good("if_body.onnx");
    t = find(m, "else.w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->kind, "initializer");
    CU_ASSERT_PTR_NOT_NULL(strstr(t->scope, "else_branch"));
    t = find(m, "outer.w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->scope, "");
    oi_model_free(m);

    m = load_good("loop_body.onnx");
    t = find(m, "body.w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->kind, "Constant");
    CU_ASSERT_PTR_NOT_NULL(strstr(t->scope, "Loop 'loop'/body"));
    CU_ASSERT_PTR_NOT_NULL(find(m, "body.b"));
    oi_model_free(m);

    m = load_good("function.onnx");
    t = find(m, "fw");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->scope, "function 'local:Dense'");
    oi_model_free(m);

    m = load_good("external.onnx");
    t = find(m, "ext.w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->storage, OI_STORE_EXTERNAL);
    CU_ASSERT_EQUAL(t->n_bytes, 32 * 64 * 4);
    oi_model_free(m);

    m = load_good("unknown_field.onnx");
    CU_ASSERT_EQUAL(oi_model_proto(m)->base.n_unknown_fields, 1);
    oi_model_free(m);
}

static void test_dtypes_and_storage(void)
{
    struct { const char *file, *tensor; int32_t dtype; oi_storage storage; } cases[] = {
        {"fp16_raw.onnx", "w1", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, OI_STORE_RAW},
        {"fp16_typed.onnx", "w1", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, OI_STORE_TYPED},
        {"bf16_typed.onnx", "w1", ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, OI_STORE_TYPED},
        {"mlp_typed.onnx", "fc1.weight", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, OI_STORE_TYPED},
        {"mlp_fp64.onnx", "fc1.weight", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, OI_STORE_RAW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oi_model *m = load_good(cases[i].file);
        oi_tensor *t = find(m, cases[i].tensor);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->dtype, cases[i].dtype);
        CU_ASSERT_EQUAL(t->storage, cases[i].storage);
        CU_ASSERT_EQUAL(t->n_bytes, t->n_elems * oi_dtype_size(cases[i].dtype));
        oi_model_free(m);
    }
}

/* Writing a payload into each storage form and reading it back, also after a save. */
static void check_write_read(const char *file, const char *name)
{
    size_t in_len;
    uint8_t *in_before = oi_test_slurp(oi_test_fixture("good", file), &in_len);
    oi_model *m = load_good(file);
    oi_tensor *t = find(m, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    size_t n = (size_t)t->n_bytes;
    uint8_t *src = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    if (t->dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
        for (size_t i = 0; i < n / 8; i++)
            ((double *)src)[i] = (double)i * 0.25 - 3.0;  /* keep NaN payloads out */
    oi_error err;
    CU_ASSERT_EQUAL(oi_model_write(m, t, src, &err), OI_OK);
    CU_ASSERT_EQUAL(oi_model_read(m, t, back, &err), OI_OK);
    CU_ASSERT_EQUAL(memcmp(src, back, n), 0);

    char *dir = oi_test_tmpdir(), out[4096];
    snprintf(out, sizeof out, "%s/out.onnx", dir);
    CU_ASSERT_EQUAL_FATAL(oi_model_save(m, out, NULL, &err), OI_OK);
    oi_model_free(m);
    CU_ASSERT_EQUAL_FATAL(oi_model_load(out, &m, &err), OI_OK);
    t = find(m, name);
    memset(back, 0, n);
    CU_ASSERT_EQUAL(oi_model_read(m, t, back, &err), OI_OK);
    CU_ASSERT_EQUAL(memcmp(src, back, n), 0);
    oi_model_free(m);
    /* the input is untouched */
    size_t in_len_after;
    uint8_t *in_after = oi_test_slurp(oi_test_fixture("good", file), &in_len_after);
    CU_ASSERT_TRUE(in_before && in_after && in_len == in_len_after &&
                   memcmp(in_before, in_after, in_len) == 0);
    free(in_before);
    free(in_after);
    oi_test_rmtree(dir);
    free(dir);
    free(src);
    free(back);
}

static void test_write_read_every_storage(void)
{
    check_write_read("mlp.onnx", "fc1.weight");
    check_write_read("mlp_typed.onnx", "fc1.weight");
    check_write_read("fp16_typed.onnx", "w1");
    check_write_read("bf16_raw.onnx", "w1");
    check_write_read("mlp_fp64.onnx", "fc2.weight");
    check_write_read("external.onnx", "ext.w");
    check_write_read("constants.onnx", "conv.w");
}

static void test_bad_models_refused(void)
{
    for (const char **n = bad_models; *n; n++) {
        oi_model *m = NULL;
        oi_error err;
        oi_error_clear(&err);
        const char *path = oi_test_fixture("bad", *n);
        oi_status s = oi_model_load(path, &m, &err);
        CU_ASSERT_NOT_EQUAL(s, OI_OK);
        CU_ASSERT_PTR_NULL(m);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, *n));   /* names the file */
        if (strncmp(*n, "ext_", 4) == 0 || strstr(*n, "raw") || strstr(*n, "dim"))
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tensor 'w'"));   /* and the tensor */
        oi_model_free(m);
    }
}

/* Cut a real model at many offsets and flip bits: never a crash, always a clean answer. */
static void test_truncation_and_bitflips(void)
{
    size_t len;
    uint8_t *buf = oi_test_slurp(oi_test_fixture("good", "lstm_bidir.onnx"), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    int refused = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 4) {
        oi_model *m = NULL;
        oi_error err;
        oi_status s = oi_model_load_buffer(buf, cut, "/tmp", "cut.onnx", &m, &err);
        if (s) {
            refused++;
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cut.onnx"));
        } else {
            CU_ASSERT_PTR_NOT_NULL(oi_model_proto(m)->graph);
        }
        oi_model_free(m);
    }
    CU_ASSERT_TRUE(refused > 10);
    uint8_t *copy = malloc(len);
    unsigned seed = 12345;
    for (int i = 0; i < 300; i++) {
        memcpy(copy, buf, len);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));
        }
        oi_model *m = NULL;
        oi_error err;
        if (oi_model_load_buffer(copy, len, "/tmp", "flip.onnx", &m, &err) == OI_OK) {
            uint8_t *out;
            size_t out_len;
            CU_ASSERT_EQUAL(oi_model_save_buffer(m, &out, &out_len, &err), OI_OK);
            free(out);
        }
        oi_model_free(m);
    }
    free(copy);
    free(buf);
}

/* Every payload offset found by the wire scan points at the tensor's bytes in
 * the file; big raw_data payloads are borrowed from the mapping, not copied. */
static void test_wire_offsets(void)
{
    const char *files[] = {"resnet18.onnx", "mlp.onnx", "mlp_typed.onnx", "constants.onnx",
                           "if_body.onnx", "loop_body.onnx", "function.onnx", NULL};
    for (const char **f = files; *f; f++) {
        size_t len;
        uint8_t *file = oi_test_slurp(oi_test_fixture("good", *f), &len);
        oi_model *m = load_good(*f);
        int located = 0, borrowed = 0;
        for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
            oi_tensor *t = oi_model_tensor(m, i);
            if (!t->file_field || t->file_len != t->n_bytes || !t->n_bytes)
                continue;
            uint8_t *v = malloc(t->n_bytes);
            oi_error err;
            CU_ASSERT_EQUAL(oi_model_read(m, t, v, &err), OI_OK);
            CU_ASSERT_TRUE(t->file_offset + t->n_bytes <= len);
            CU_ASSERT_EQUAL(memcmp(file + t->file_offset, v, t->n_bytes), 0);
            located++;
            borrowed += t->borrowed;
            free(v);
        }
        CU_ASSERT_TRUE(located > 0);
        if (strcmp(*f, "resnet18.onnx") == 0)
            CU_ASSERT_TRUE(borrowed > 10);
        oi_model_free(m);
        free(file);
    }
}

/* A tensor whose raw_data appears twice (last one wins in protobuf) is not
 * something the scan guesses at: the whole file is decoded the usual way. */
static void test_wire_doubled_payload_falls_back(void)
{
    oi_model *m = NULL;
    oi_error err;
    CU_ASSERT_EQUAL_FATAL(oi_model_load(oi_test_fixture("odd", "doubled_raw.onnx"), &m, &err),
                          OI_OK);
    oi_tensor *t = find(m, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_FALSE(t->borrowed);
    float *v = malloc(t->n_bytes);
    CU_ASSERT_EQUAL(oi_model_read(m, t, v, &err), OI_OK);
    int ones = 0;
    for (size_t i = 0; i < t->n_elems; i++)
        ones += v[i] == 1.0f;
    CU_ASSERT_EQUAL(ones, 128 * 128);
    free(v);
    oi_model_free(m);
}

/* The quantized layout's arithmetic: each element's group per tensor, per
 * axis and blockwise (against the layout written out), packed zero-point
 * rows, the centre of each code type, and values of integer and float8 codes. */
static void test_quant_layout_arithmetic(void)
{
    oi_quant q = {.axis = 1, .block = 2, .outer = 2, .len = 5, .inner = 3,
                  .codes = ONNX__TENSOR_PROTO__DATA_TYPE__INT8};
    CU_ASSERT_EQUAL(oi_quant_groups(&q), 2 * 3 * 3);   /* 5 along the axis: 3 blocks */
    for (uint64_t i = 0; i < 2 * 5 * 3; i++) {
        uint64_t o = i / 15, a = i / 3 % 5, r = i % 3;
        CU_ASSERT_EQUAL(oi_quant_group_of(&q, i), (o * 3 + a / 2) * 3 + r);
    }
    q.block = 0;
    CU_ASSERT_EQUAL(oi_quant_groups(&q), 5);
    CU_ASSERT_EQUAL(oi_quant_group_of(&q, 3 * 4 + 2), 4);
    q.axis = -1;
    CU_ASSERT_EQUAL(oi_quant_groups(&q), 1);
    CU_ASSERT_EQUAL(oi_quant_group_of(&q, 29), 0);
    oi_quant packed = {.packed = 1, .zero_row = 2, .len = 5, .block = 2};
    CU_ASSERT_EQUAL(oi_quant_zero_index(&packed, 4), 1 * 2 + 1);   /* row 1, block 1 */
    packed.packed = 0;
    CU_ASSERT_EQUAL(oi_quant_zero_index(&packed, 4), 4);
    CU_ASSERT_EQUAL(oi_quant_centre(ONNX__TENSOR_PROTO__DATA_TYPE__INT8), 0);
    CU_ASSERT_EQUAL(oi_quant_centre(ONNX__TENSOR_PROTO__DATA_TYPE__UINT8), 128);
    CU_ASSERT_EQUAL(oi_quant_centre(OI_DT_UINT4), 8);
    float scale[1] = {0.5f}, zero[1] = {3};
    double step = 0;
    CU_ASSERT_DOUBLE_EQUAL(oi_quant_value(&q, 7, 0, scale, zero, &step), 2.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(step, 0.5, 1e-12);
    q.codes = OI_DT_FLOAT8E4M3FN;   /* 0x38 is 1.0; zero points unused */
    CU_ASSERT_DOUBLE_EQUAL(oi_quant_value(&q, 0x38, 0, scale, zero, NULL), 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(oi_quant_value(&q, 0xB8, 0, scale, zero, NULL), -0.5, 1e-12);
}

int main(void)
{
    static const oi_test_case tests[] = {
        {"round trip in memory is byte-identical", test_roundtrip_buffer},
        {"round trip through a file is byte-identical", test_roundtrip_file},
        {"catalogue finds tensors in every place", test_catalogue_places},
        {"dtypes and storage forms", test_dtypes_and_storage},
        {"write/read in every storage form", test_write_read_every_storage},
        {"malformed models are refused naming file and tensor", test_bad_models_refused},
        {"truncation and bit flips never crash", test_truncation_and_bitflips},
        {"wire scan offsets and borrowed payloads", test_wire_offsets},
        {"wire scan gives up safely", test_wire_doubled_payload_falls_back},
        {"quantized layouts: groups, zero points, values", test_quant_layout_arithmetic},
        {NULL, NULL},
    };
    return oi_test_run("model", tests);
}
