/* Saving a model: external data first (a new side file), then the model,
 * both through save.h's temp-file-and-rename; the encoding streams to disk. */
#include "save/save.h"

#include "model/model_internal.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SINK_CAP (1u << 20)

/* A ProtobufCBuffer that writes through to a save file; big appends bypass the buffer. */
typedef struct {
    ProtobufCBuffer base;
    oi_save_file *file;
    uint8_t *buf;
    size_t used;
    oi_error *err;
    oi_status status;
} file_sink;

static void sink_flush(file_sink *s)
{
    if (s->status == OI_OK && s->used)
        s->status = oi_save_write(s->file, s->buf, s->used, s->err);
    s->used = 0;
}

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_sink *s = (file_sink *)b;
    if (s->status != OI_OK)
        return;
    if (s->used + len > SINK_CAP)
        sink_flush(s);
    if (len >= SINK_CAP) {
        if (s->status == OI_OK)
            s->status = oi_save_write(s->file, data, len, s->err);
        return;
    }
    memcpy(s->buf + s->used, data, len);
    s->used += len;
}

/* One tensor moved to (or kept in) the new data file: the fields we swap
 * in for packing and put back afterwards, so saving never alters the model. */
typedef struct {
    oi_tensor *t;
    Onnx__TensorProto saved;
    Onnx__StringStringEntryProto entries[3];
    Onnx__StringStringEntryProto *entry_ptrs[3];
    char offset[24], length[24];
} ext_slot;

static int goes_external(const oi_tensor *t, const oi_save_opts *o)
{
    if (t->storage == OI_STORE_EXTERNAL)
        return 1;
    return o->externalize && strcmp(t->kind, "initializer") == 0 && t->elem_size &&
           (t->storage == OI_STORE_RAW || t->storage == OI_STORE_TYPED) &&
           t->n_bytes >= o->external_threshold && t->n_bytes > 0;
}

static oi_status write_payload(oi_model *m, size_t idx, oi_save_file *f, oi_error *err)
{
    oi_tensor *t = &m->tensors[idx];
    if (m->pending[idx])
        return oi_save_write(f, m->pending[idx], t->n_bytes, err);
    if (t->storage == OI_STORE_EXTERNAL)
        return oi_save_copy_range(f, t->ext_path, t->ext_offset, t->n_bytes, err);
    if (t->storage == OI_STORE_RAW)
        return oi_save_write(f, t->proto->raw_data.data, t->n_bytes, err);
    uint8_t *tmp = malloc(t->n_bytes);
    if (!tmp)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    oi_tensor_typed_to_raw(t, tmp);
    oi_status s = oi_save_write(f, tmp, t->n_bytes, err);
    free(tmp);
    return s;
}

static void swap_in_external(ext_slot *x, const char *location, uint64_t offset)
{
    Onnx__TensorProto *p = x->t->proto;
    x->saved = *p;
    snprintf(x->offset, sizeof x->offset, "%llu", (unsigned long long)offset);
    snprintf(x->length, sizeof x->length, "%llu", (unsigned long long)x->t->n_bytes);
    const char *keys[3] = {"location", "offset", "length"};
    const char *vals[3] = {location, x->offset, x->length};
    for (int i = 0; i < 3; i++) {
        Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        x->entries[i] = init;
        x->entries[i].key = (char *)keys[i];
        x->entries[i].value = (char *)vals[i];
        x->entry_ptrs[i] = &x->entries[i];
    }
    p->n_external_data = 3;
    p->external_data = x->entry_ptrs;
    p->has_data_location = 1;
    p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    p->has_raw_data = 0;
    p->raw_data.len = 0;
    p->raw_data.data = NULL;
    p->n_float_data = p->n_int32_data = p->n_int64_data = 0;
    p->n_double_data = p->n_uint64_data = 0;
}

static oi_status write_data_file(oi_model *m, ext_slot *slots, size_t n, const char *name,
                                 oi_save_file *f, oi_error *err)
{
    static const uint8_t zeros[OI_BIG_TENSOR_ALIGN];
    for (size_t i = 0; i < n; i++) {
        oi_tensor *t = slots[i].t;
        uint64_t at = oi_data_file_place(f->written, t->n_bytes);
        if (at > f->written && oi_save_write(f, zeros, (size_t)(at - f->written), err))
            return err->status;
        uint64_t offset = f->written;
        if (write_payload(m, (size_t)(t - m->tensors), f, err))
            return err->status;
        swap_in_external(&slots[i], name, offset);
    }
    return OI_OK;
}

static oi_status pack_to_file(oi_model *m, oi_save_file *f, oi_error *err)
{
    file_sink sink = {.base = {.append = sink_append}, .file = f, .err = err};
    sink.buf = malloc(SINK_CAP);
    if (!sink.buf)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    onnx__model_proto__pack_to_buffer(m->proto, &sink.base);
    sink_flush(&sink);
    free(sink.buf);
    return sink.status;
}

oi_status oi_model_save(oi_model *m, const char *path, const oi_save_opts *opts, oi_error *err)
{
    oi_save_opts none = {0};
    const oi_save_opts *o = opts ? opts : &none;
    if (oi_save_check_inputs(m, path, 1, o, err) ||
        oi_save_check_target(path, m->label, o->overwrite, o->allow_same_file, err))
        return err->status;
    size_t n_ext = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        n_ext += (size_t)goes_external(&m->tensors[i], o);
    ext_slot *slots = n_ext ? calloc(n_ext, sizeof *slots) : NULL;
    char *data_path = NULL, *data_name = NULL, *retire = NULL;
    oi_save_file data = {.fd = -1}, model = {.fd = -1};
    oi_status s = OI_OK;
    if (n_ext && !slots)
        s = oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0, k = 0; s == OI_OK && i < m->n_tensors; i++)
        if (goes_external(&m->tensors[i], o))
            slots[k++].t = &m->tensors[i];
    size_t swapped = 0;
    if (s == OI_OK && n_ext) {
        s = oi_data_file_choose(m, path, o, &data_path, &data_name, &retire, err);
        if (s == OI_OK)
            s = oi_save_begin(&data, data_path, err);
        if (s == OI_OK && o->no_sync)
            oi_save_no_sync(&data);
        if (s == OI_OK) {
            s = write_data_file(m, slots, n_ext, data_name, &data, err);
            for (swapped = 0; swapped < n_ext && slots[swapped].saved.base.descriptor; swapped++)
                ;
        }
        if (s == OI_OK)
            s = oi_save_flush(&data, err);
    }
    if (s == OI_OK)
        s = oi_save_begin(&model, path, err);
    if (s == OI_OK && o->no_sync)
        oi_save_no_sync(&model);
    if (s == OI_OK)
        s = pack_to_file(m, &model, err);
    if (s == OI_OK)
        s = oi_save_flush(&model, err);
    for (size_t i = 0; i < swapped; i++)
        *slots[i].t->proto = slots[i].saved;
    if (s == OI_OK)
        s = oi_model_check_unchanged(m, err);
    if (s == OI_OK)
        s = oi_save_check_still_input(m, path, o, err);
    if (s == OI_OK && n_ext)
        s = oi_save_commit(&data, o->overwrite, err);
    if (s == OI_OK) {   /* the model last: the switch from the old pair to the new */
        s = oi_save_commit(&model, o->overwrite, err);
        if (s != OI_OK && n_ext)
            remove(data_path);   /* the model did not land: its new data file goes too */
        else if (retire)
            remove(retire);      /* the replaced model's data, read by no one now */
    }
    oi_save_abort(&data);
    oi_save_abort(&model);
    free(slots);
    free(data_path);
    free(data_name);
    free(retire);
    return s;
}

oi_status oi_model_save_relocated(oi_model *m, const char *path, const oi_save_opts *o,
                                  const char *data_name, const uint64_t *placed,
                                  oi_save_file *f, oi_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        n += m->tensors[i].storage == OI_STORE_EXTERNAL;
    ext_slot *slots = calloc(n ? n : 1, sizeof *slots);
    if (!slots)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0, k = 0; i < m->n_tensors; i++)
        if (m->tensors[i].storage == OI_STORE_EXTERNAL) {
            slots[k].t = &m->tensors[i];
            swap_in_external(&slots[k], data_name, placed ? placed[i] : m->tensors[i].ext_offset);
            k++;
        }
    oi_status s = oi_save_check_target(path, m->label, o->overwrite, o->allow_same_file, err);
    if (s == OI_OK)
        s = oi_save_begin(f, path, err);
    if (s == OI_OK && o->no_sync)
        oi_save_no_sync(f);
    if (s == OI_OK)
        s = pack_to_file(m, f, err);
    if (s == OI_OK)
        s = oi_save_flush(f, err);
    for (size_t k = 0; k < n; k++)
        *slots[k].t->proto = slots[k].saved;
    free(slots);
    return s;
}

oi_status oi_model_save_buffer(oi_model *m, uint8_t **data, size_t *len, oi_error *err)
{
    size_t n = onnx__model_proto__get_packed_size(m->proto);
    *data = malloc(n ? n : 1);
    if (!*data)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    *len = onnx__model_proto__pack(m->proto, *data);
    return OI_OK;
}
