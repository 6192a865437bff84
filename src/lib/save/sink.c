/* Saving a model to memory: the encoding streams to a caller's append
 * callback.  External tensors are embedded (a buffer has no folder beside it). */
#include "save/save.h"

#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

typedef struct {
    ProtobufCBuffer base;
    int (*append)(void *ctx, const void *data, size_t len);
    void *ctx;
    int failed;
} call_sink;

static void call_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    call_sink *s = (call_sink *)b;
    if (!s->failed && len && s->append(s->ctx, data, len) != 0)
        s->failed = 1;
}

/* One external tensor embedded for the encoding, put back afterwards. */
typedef struct {
    Onnx__TensorProto *proto;
    Onnx__TensorProto saved;
    uint8_t *bytes;
} embed_slot;

static oi_status embed(oi_model *m, oi_tensor *t, embed_slot *slot, oi_error *err)
{
    slot->bytes = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!slot->bytes)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s'", m->label, t->name);
    if (oi_model_read(m, t, slot->bytes, err))
        return err ? err->status : OI_ERR_IO;
    Onnx__TensorProto *p = t->proto;
    slot->proto = p;
    slot->saved = *p;
    p->n_external_data = 0;
    p->external_data = NULL;
    p->has_data_location = 0;
    p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    p->has_raw_data = 1;
    p->raw_data.len = t->n_bytes;
    p->raw_data.data = slot->bytes;
    return OI_OK;
}

oi_status oi_model_save_sink(oi_model *m, int (*append)(void *ctx, const void *data, size_t len),
                             void *ctx, oi_error *err)
{
    size_t n = oi_model_tensor_count(m), n_ext = 0;
    for (size_t i = 0; i < n; i++)
        n_ext += oi_model_tensor(m, i)->storage == OI_STORE_EXTERNAL;
    embed_slot *slots = calloc(n_ext ? n_ext : 1, sizeof *slots);
    if (!slots)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(m));
    oi_status s = OI_OK;
    size_t k = 0;
    for (size_t i = 0; s == OI_OK && i < n; i++) {
        oi_tensor *t = oi_model_tensor(m, i);
        if (t->storage == OI_STORE_EXTERNAL)
            s = embed(m, t, &slots[k++], err);
    }
    if (s == OI_OK) {
        call_sink sink = {.base = {.append = call_append}, .append = append, .ctx = ctx};
        onnx__model_proto__pack_to_buffer(oi_model_proto(m), &sink.base);
        if (sink.failed)
            s = oi_fail(err, OI_ERR_IO, "%s: the output sink refused the model's bytes",
                        oi_model_label(m));
    }
    for (size_t i = 0; i < k; i++) {
        if (slots[i].proto)
            *slots[i].proto = slots[i].saved;
        free(slots[i].bytes);
    }
    free(slots);
    return s;
}
