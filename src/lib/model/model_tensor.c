/* Tensor payloads: size checks against the bytes present, external data
 * resolution, and conversion between raw bytes and typed fields. */
#include "model/model_internal.h"
#include "common/decimal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

/* Refuse element counts no real model has; keeps every size computation far from overflow. */
#define OI_MAX_ELEMS (UINT64_C(1) << 56)


void oi_tensor_describe(const oi_tensor *t, char *buf, size_t size)
{
    if (t->scope && *t->scope)
        snprintf(buf, size, "tensor '%s' (%s in %s)", t->name, t->kind, t->scope);
    else
        snprintf(buf, size, "tensor '%s' (%s)", t->name, t->kind);
}

/* Which typed field holds this dtype, and how many values per element. */
typedef enum { F_NONE, F_FLOAT, F_DOUBLE, F_INT32, F_INT64, F_UINT64, F_STRING } typed_field;

static typed_field field_of(int32_t dtype, unsigned *per_elem)
{
    *per_elem = 1;
    switch (dtype) {
    case DT(FLOAT): return F_FLOAT;
    case DT(COMPLEX64): *per_elem = 2; return F_FLOAT;
    case DT(DOUBLE): return F_DOUBLE;
    case DT(COMPLEX128): *per_elem = 2; return F_DOUBLE;
    case DT(INT32): case DT(INT16): case DT(INT8): case DT(UINT16): case DT(UINT8):
    case DT(BOOL): case DT(FLOAT16): case DT(BFLOAT16): return F_INT32;
    case OI_DT_FLOAT8E4M3FN: case OI_DT_FLOAT8E4M3FNUZ: case OI_DT_FLOAT8E5M2:
    case OI_DT_FLOAT8E5M2FNUZ: return F_INT32;   /* one code per int32 */
    case DT(INT64): return F_INT64;
    case DT(UINT32): case DT(UINT64): return F_UINT64;
    case DT(STRING): return F_STRING;
    default: return F_NONE;
    }
}

static size_t field_count(const Onnx__TensorProto *p, typed_field f)
{
    switch (f) {
    case F_FLOAT: return p->n_float_data;
    case F_DOUBLE: return p->n_double_data;
    case F_INT32: return p->n_int32_data;
    case F_INT64: return p->n_int64_data;
    case F_UINT64: return p->n_uint64_data;
    case F_STRING: return p->n_string_data;
    default: return 0;
    }
}

static size_t any_typed_count(const Onnx__TensorProto *p)
{
    return p->n_float_data + p->n_double_data + p->n_int32_data + p->n_int64_data +
           p->n_uint64_data + p->n_string_data;
}

/* Refuse absolute paths and any ".." component before touching the disk. */
static int location_escapes(const char *loc)
{
    if (loc[0] == '/' || loc[0] == '\\')
        return 1;
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static oi_status resolve_external(oi_model *m, oi_tensor *t, const char *what, oi_error *err)
{
    const Onnx__TensorProto *p = t->proto;
    const char *loc = NULL;
    uint64_t offset = 0, length = 0;
    int has_length = 0;
    for (size_t i = 0; i < p->n_external_data; i++) {
        const char *k = p->external_data[i]->key, *v = p->external_data[i]->value;
        if (!k)
            continue;
        if (strcmp(k, "location") == 0)
            loc = v;
        else if (strcmp(k, "offset") == 0 && oi_parse_u64(v, &offset))
            return oi_fail(err, OI_ERR_FORMAT, "%s: %s: bad external offset '%s'", m->label, what,
                           v ? v : "");
        else if (strcmp(k, "length") == 0 && (has_length = 1) && oi_parse_u64(v, &length))
            return oi_fail(err, OI_ERR_FORMAT, "%s: %s: bad external length '%s'", m->label, what,
                           v ? v : "");
    }
    if (!loc || !*loc)
        return oi_fail(err, OI_ERR_FORMAT, "%s: %s: external data without a location", m->label,
                       what);
    if (location_escapes(loc))
        return oi_fail(err, OI_ERR_UNSAFE,
                       "%s: %s: external data path '%s' leaves the model's folder (refused)",
                       m->label, what, loc);
    if (!oi_tensor_sized(t)) {
        if (!has_length)
            return oi_fail(err, OI_ERR_UNSUPPORTED, "%s: %s: external %s data without a length",
                           m->label, what, oi_dtype_name(t->dtype));
        t->n_bytes = length;
    } else if (has_length && length != t->n_bytes) {
        return oi_fail(err, OI_ERR_FORMAT,
                       "%s: %s: external length %llu bytes, but its dims need %llu", m->label,
                       what, (unsigned long long)length, (unsigned long long)t->n_bytes);
    }
    if (!m->dir)
        return oi_fail(err, OI_ERR_UNSUPPORTED,
                       "%s: %s: external data '%s', but an in-memory model has no folder "
                       "(set one with oi_ctx_set_base_dir)", m->label, what, loc);
    size_t n = strlen(m->dir) + strlen(loc) + 2;
    char *joined = malloc(n);
    if (!joined)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    snprintf(joined, n, "%s/%s", m->dir, loc);
    char *real = realpath(joined, NULL);
    int e = errno;
    free(joined);
    if (!real)
        return oi_fail(err, OI_ERR_IO, "%s: %s: external data file '%s': %s", m->label, what, loc,
                       strerror(e));
    size_t dl = strlen(m->dir);
    if (strncmp(real, m->dir, dl) != 0 || (real[dl] != '/' && strcmp(m->dir, "/") != 0)) {
        free(real);
        return oi_fail(err, OI_ERR_UNSAFE,
                       "%s: %s: external data file '%s' resolves outside the model's folder "
                       "(refused)", m->label, what, loc);
    }
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
        free(real);
        return oi_fail(err, OI_ERR_IO, "%s: %s: external data '%s' is not a regular file",
                       m->label, what, loc);
    }
    if (offset > (uint64_t)st.st_size || t->n_bytes > (uint64_t)st.st_size - offset) {
        free(real);
        return oi_fail(err, OI_ERR_FORMAT,
                       "%s: %s: external data '%s' has %lld bytes, tensor needs %llu at offset "
                       "%llu", m->label, what, loc, (long long)st.st_size,
                       (unsigned long long)t->n_bytes, (unsigned long long)offset);
    }
    t->ext_path = real;
    t->ext_offset = offset;
    t->storage = OI_STORE_EXTERNAL;
    return OI_OK;
}

static oi_status check_dims(oi_model *m, oi_tensor *t, const char *what, oi_error *err)
{
    const Onnx__TensorProto *p = t->proto;
    uint64_t n = 1;
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i] < 0)
            return oi_fail(err, OI_ERR_FORMAT, "%s: %s: negative dimension %lld", m->label, what,
                           (long long)p->dims[i]);
        uint64_t d = (uint64_t)p->dims[i];
        if (d != 0 && n > OI_MAX_ELEMS / d)
            return oi_fail(err, OI_ERR_FORMAT, "%s: %s: dims claim more than 2^56 elements",
                           m->label, what);
        n *= d;
    }
    t->n_elems = n;
    t->dtype = p->has_data_type ? p->data_type : 0;
    t->elem_size = oi_dtype_size(t->dtype);
    t->n_bytes = oi_dtype_payload_bytes(t->dtype, n);   /* 4-bit types: packed, elem_size 0 */
    return OI_OK;
}

oi_status oi_tensor_check(oi_model *m, oi_tensor *t, oi_error *err)
{
    const Onnx__TensorProto *p = t->proto;
    char what[600];
    oi_tensor_describe(t, what, sizeof what);
    if (check_dims(m, t, what, err))
        return err->status;
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return resolve_external(m, t, what, err);
    unsigned per;
    typed_field f = field_of(t->dtype, &per);
    size_t typed = any_typed_count(p);
    if (p->has_raw_data && (p->raw_data.len > 0 || typed == 0)) {
        if (typed)
            return oi_fail(err, OI_ERR_FORMAT, "%s: %s: both raw_data and typed data", m->label,
                           what);
        if (oi_tensor_sized(t) && p->raw_data.len != t->n_bytes)
            return oi_fail(err, OI_ERR_FORMAT,
                           "%s: %s: raw_data has %zu bytes, its dims and dtype need %llu",
                           m->label, what, p->raw_data.len, (unsigned long long)t->n_bytes);
        if (!oi_tensor_sized(t))
            t->n_bytes = p->raw_data.len;   /* opaque: unknown dtype, left alone */
        t->storage = OI_STORE_RAW;
        return OI_OK;
    }
    if (typed == 0) {
        t->storage = OI_STORE_NONE;
        return OI_OK;
    }
    if (f == F_NONE || field_count(p, f) != typed)
        return oi_fail(err, OI_ERR_FORMAT, "%s: %s: typed data in a field that does not match "
                       "dtype %s", m->label, what, oi_dtype_name(t->dtype));
    if ((uint64_t)typed != t->n_elems * per)
        return oi_fail(err, OI_ERR_FORMAT, "%s: %s: %zu typed values, its dims need %llu",
                       m->label, what, typed, (unsigned long long)(t->n_elems * per));
    t->storage = OI_STORE_TYPED;
    return OI_OK;
}

void oi_tensor_typed_to_raw(const oi_tensor *t, uint8_t *dst)
{
    const Onnx__TensorProto *p = t->proto;
    unsigned per;
    size_t n = (size_t)t->n_elems;
    switch (field_of(t->dtype, &per)) {
    case F_FLOAT: memcpy(dst, p->float_data, n * per * sizeof(float)); break;
    case F_DOUBLE: memcpy(dst, p->double_data, n * per * sizeof(double)); break;
    case F_INT64: memcpy(dst, p->int64_data, n * sizeof(int64_t)); break;
    case F_UINT64:
        if (t->elem_size == 8) {
            memcpy(dst, p->uint64_data, n * 8);
        } else {
            for (size_t i = 0; i < n; i++) {
                uint32_t v = (uint32_t)p->uint64_data[i];
                memcpy(dst + 4 * i, &v, 4);
            }
        }
        break;
    case F_INT32:
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)p->int32_data[i];
            memcpy(dst + t->elem_size * i, &v, t->elem_size);   /* low bytes: little-endian */
        }
        break;
    default: break;
    }
}

void oi_tensor_raw_to_typed(oi_tensor *t, const uint8_t *src)
{
    Onnx__TensorProto *p = t->proto;
    unsigned per;
    size_t n = (size_t)t->n_elems;
    switch (field_of(t->dtype, &per)) {
    case F_FLOAT: memcpy(p->float_data, src, n * per * sizeof(float)); break;
    case F_DOUBLE: memcpy(p->double_data, src, n * per * sizeof(double)); break;
    case F_INT64: memcpy(p->int64_data, src, n * sizeof(int64_t)); break;
    case F_UINT64:
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            memcpy(&v, src + t->elem_size * i, t->elem_size);
            p->uint64_data[i] = v;
        }
        break;
    case F_INT32:
        for (size_t i = 0; i < n; i++) {
            uint32_t v = 0;
            memcpy(&v, src + t->elem_size * i, t->elem_size);
            if (t->dtype == DT(INT8))
                v = (uint32_t)(int32_t)(int8_t)v;      /* typed ints are sign-extended */
            else if (t->dtype == DT(INT16))
                v = (uint32_t)(int32_t)(int16_t)v;
            p->int32_data[i] = (int32_t)v;
        }
        break;
    default: break;
    }
}

oi_status oi_read_file_range(const char *path, uint64_t offset, uint64_t len, void *dst,
                             oi_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return oi_fail(err, OI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *out = dst;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t r = pread(fd, out, chunk, (off_t)offset);
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            return e ? oi_fail(err, OI_ERR_IO, "%s: read failed: %s", path, strerror(e))
                     : oi_fail(err, OI_ERR_IO, "%s: " OI_CHANGED_WHILE_READ, path);
        }
        out += r;
        offset += (uint64_t)r;
        len -= (uint64_t)r;
    }
    close(fd);
    return OI_OK;
}

oi_status oi_model_read(oi_model *m, const oi_tensor *t, void *dst, oi_error *err)
{
    switch (t->storage) {
    case OI_STORE_RAW:
        memcpy(dst, t->proto->raw_data.data, t->n_bytes);
        return OI_OK;
    case OI_STORE_TYPED:
        oi_tensor_typed_to_raw(t, dst);
        return OI_OK;
    case OI_STORE_EXTERNAL: {
        size_t idx = (size_t)(t - m->tensors);
        if (m->pending[idx]) {
            memcpy(dst, m->pending[idx], t->n_bytes);
            return OI_OK;
        }
        return oi_read_file_range(t->ext_path, t->ext_offset, t->n_bytes, dst, err);
    }
    case OI_STORE_NONE:
        break;
    }
    char what[600];
    oi_tensor_describe(t, what, sizeof what);
    return oi_fail(err, OI_ERR_UNSUPPORTED, "%s: %s has no data", m->label, what);
}

oi_status oi_model_write(oi_model *m, oi_tensor *t, const void *src, oi_error *err)
{
    switch (t->storage) {
    case OI_STORE_RAW:
        if (t->borrowed) {   /* the mapping is read-only: the tensor gets its own bytes */
            uint8_t *own = malloc(t->n_bytes ? t->n_bytes : 1);
            if (!own)
                return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s'",
                               m->label, t->name);
            t->proto->raw_data.data = own;
            t->borrowed = 0;
        }
        memcpy(t->proto->raw_data.data, src, t->n_bytes);
        return OI_OK;
    case OI_STORE_TYPED:
        oi_tensor_raw_to_typed(t, src);
        return OI_OK;
    case OI_STORE_EXTERNAL: {
        size_t idx = (size_t)(t - m->tensors);
        if (!m->pending[idx] && !(m->pending[idx] = malloc(t->n_bytes ? t->n_bytes : 1)))
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
        memcpy(m->pending[idx], src, t->n_bytes);
        return OI_OK;
    }
    case OI_STORE_NONE:
        break;
    }
    char what[600];
    oi_tensor_describe(t, what, sizeof what);
    return oi_fail(err, OI_ERR_UNSUPPORTED, "%s: %s has no data to replace", m->label, what);
}

float *oi_model_read_floats(oi_model *m, const oi_tensor *t, oi_error *err)
{
    if (!oi_dtype_is_float(t->dtype) || !t->elem_size || t->storage == OI_STORE_NONE) {
        oi_fail(err, OI_ERR_UNSUPPORTED, "%s: tensor '%s' holds no float values", m->label, t->name);
        return NULL;
    }
    uint8_t *raw = malloc(t->n_bytes ? t->n_bytes : 1);
    float *f = malloc((t->n_elems ? t->n_elems : 1) * sizeof *f);
    if (!raw || !f) {
        free(raw);
        free(f);
        oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s'", m->label, t->name);
        return NULL;
    }
    if (oi_model_read(m, t, raw, err)) {
        free(raw);
        free(f);
        return NULL;
    }
    for (uint64_t i = 0; i < t->n_elems; i++)
        f[i] = (float)oi_float_get(t->dtype, raw, i);
    free(raw);
    return f;
}

/* The "location" the model's external tensors give (all the same file). */
const char *oi_model_data_location(const oi_model *m)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const oi_tensor *t = &m->tensors[i];
        if (t->storage != OI_STORE_EXTERNAL)
            continue;
        for (size_t k = 0; k < t->proto->n_external_data; k++)
            if (t->proto->external_data[k]->key &&
                strcmp(t->proto->external_data[k]->key, "location") == 0)
                return t->proto->external_data[k]->value;
    }
    return NULL;
}

oi_status oi_model_read_elems(oi_model *m, const oi_tensor *t, uint64_t first, uint64_t count,
                               void *dst, oi_error *err)
{
    uint64_t es = t->elem_size, off = first * es, len = count * es;
    if (!es || first > t->n_elems || count > t->n_elems - first)
        return oi_fail(err, OI_ERR_USAGE, "%s: tensor '%s': elements out of range", m->label,
                       t->name);
    if (t->borrowed && m->fd >= 0) {
        uint8_t *out = dst;
        for (uint64_t done = 0; done < len;) {
            ssize_t r = pread(m->fd, out + done, (size_t)(len - done),
                              (off_t)(t->file_offset + off + done));
            if (r < 0)
                return oi_fail(err, OI_ERR_IO, "%s: read failed: %s", m->label, strerror(errno));
            if (r == 0)
                return oi_fail(err, OI_ERR_IO, "%s: " OI_CHANGED_WHILE_READ, m->label);
            done += (uint64_t)r;
        }
        return OI_OK;
    }
    int pending = m->pending && m->pending[t - m->tensors];
    if (t->storage == OI_STORE_EXTERNAL && !pending)
        return oi_read_file_range(t->ext_path, t->ext_offset + off, len, dst, err);
    if (t->storage == OI_STORE_RAW && !pending) {
        memcpy(dst, t->proto->raw_data.data + off, (size_t)len);
        return OI_OK;
    }
    uint8_t *all = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!all)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    oi_status s = oi_model_read(m, t, all, err);
    if (s == OI_OK)
        memcpy(dst, all + off, (size_t)len);
    free(all);
    return s;
}


void *oi_model_raw_payload(oi_model *m, oi_tensor *t)
{
    (void)m;
    return t->storage == OI_STORE_RAW && oi_tensor_sized(t) && !t->borrowed ? t->proto->raw_data.data
                                                                       : NULL;
}
