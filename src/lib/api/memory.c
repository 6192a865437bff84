/* The in-memory tier: model bytes in; the new model through a sink or into a
 * buffer, the plan as JSON or records, and one tensor filled at a time. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "common/matrix.h"
#include "readout/report.h"
#include "save/save.h"

#define RECORD_MAGIC 0x6f69706cu   /* "oipl": a record that came from a plan list */

/* The public record first; its `internal` points back to its entry, so a
 * record copied by value still finds it. */
typedef struct {
    oi_plan_record pub;
    uint32_t magic;
    oi_decision decision;
    uint64_t n_elems;
    char *strings[6];
    const struct oi_plan_list *list;   /* for a tied copy's source */
    float *originals;                  /* DISTINCT: the values the fresh ones map from */
} plan_entry;

struct oi_plan_list {
    plan_entry *entries;
    size_t n;
};

static oi_status plan_memory(oi_job *j, const oi_ctx *ctx, const void *data, size_t len,
                             oi_error *err)
{
    if (!ctx || !data)
        return oi_fail(err, OI_ERR_USAGE, "no context or no model bytes given");
    oi_model *m = NULL;
    oi_policy policy = oi_ctx_policy(ctx, ctx->preset);
    if (oi_model_load_buffer(data, len, ctx->base_dir, ctx->label ? ctx->label : "(memory)", &m,
                             err))
        return err->status;
    return oi_job_plan(j, m, ctx, &policy, err);
}

static int sink_append(void *sink, const void *data, size_t len)
{
    oi_sink *s = sink;
    return s->append(s, data, len);
}

oi_status oi_reinit_buffer(const oi_ctx *ctx, const void *model, size_t len, oi_sink *sink,
                           oi_summary *summary, oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    oi_summary sum = OI_SUMMARY_INIT;
    if (oi_summary_check(summary, "oi_reinit_buffer", err))
        return err->status;
    oi_job j;
    oi_status s = !sink || !sink->append ? oi_fail(err, OI_ERR_USAGE, "oi_reinit_buffer: no sink given")
                                         : plan_memory(&j, ctx, model, len, err);
    if (s == OI_OK) {
        s = oi_job_fill(&j, ctx, (oi_fill_target){0}, &sum.elements, err);
        if (s == OI_OK)
            s = oi_model_save_sink(j.model, sink_append, sink, err);
        if (s == OI_OK)
            s = oi_job_summarize(&j, &sum, err);
        oi_job_free(&j);
    }
    oi_summary_deliver(summary, &sum, s);
    return s;
}

typedef struct {
    oi_sink base;
    unsigned char *data;
    size_t len, cap;
} memory_sink;

static int memory_append(oi_sink *self, const void *data, size_t len)
{
    memory_sink *m = (memory_sink *)self;
    if (len > SIZE_MAX / 2 - m->len)
        return -1;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap < m->len + len)
            cap *= 2;
        unsigned char *p = realloc(m->data, cap);
        if (!p)
            return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

oi_status oi_reinit_to_memory(const oi_ctx *ctx, const void *model, size_t len, void **out,
                              size_t *out_len, oi_summary *summary, oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    if (!out || !out_len)
        return oi_fail(err, OI_ERR_USAGE, "oi_reinit_to_memory: nowhere to put the model");
    *out = NULL;
    *out_len = 0;
    memory_sink sink = {.base = {.append = memory_append}};
    oi_status s = oi_reinit_buffer(ctx, model, len, &sink.base, summary, err);
    if (s != OI_OK) {
        free(sink.data);
        return s;
    }
    *out = sink.data;
    *out_len = sink.len;
    return OI_OK;
}

oi_status oi_plan_json(const oi_ctx *ctx, const void *model, size_t len, char **json,
                       oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    if (!json)
        return oi_fail(err, OI_ERR_USAGE, "oi_plan_json: nowhere to put the plan");
    *json = NULL;
    oi_job j;
    if (plan_memory(&j, ctx, model, len, err))
        return err->status;
    json_object *doc = oi_report_plan_json(j.model, j.analysis, j.plan, oi_preset_name(ctx->preset),
                                           ctx->seed);
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    oi_status s = text && (*json = strdup(text)) ? OI_OK
                                                  : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    json_object_put(doc);
    oi_job_free(&j);
    return s;
}

static int entry_strings(plan_entry *e, const char *const src[6])
{
    for (int i = 0; i < 6; i++)
        if (!(e->strings[i] = strdup(src[i] ? src[i] : "")))
            return 0;
    e->pub.name = e->strings[0];
    e->pub.scope = e->strings[1];
    e->pub.role = e->strings[2];
    e->pub.scheme = e->strings[3];
    e->pub.reason = e->strings[4];
    e->pub.activation = e->strings[5];
    e->decision.scheme = e->pub.scheme;
    return 1;
}

static int entry_fill(plan_entry *e, const oi_tensor *t, const oi_weight *w, const oi_decision *d,
                      const struct oi_plan_list *list)
{
    e->magic = RECORD_MAGIC;
    e->pub.internal = e;
    e->list = list;
    e->decision = *d;
    e->decision.reason = "";   /* the plan's texts go with it: the record keeps its own copy */
    e->decision.q = NULL;      /* (a quantized record is refused by oi_fill_record) */
    e->n_elems = t->n_elems;
    e->pub.dtype = t->dtype;
    e->pub.rank = t->proto->n_dims <= OI_MAX_RANK ? (int)t->proto->n_dims : -1;
    for (int k = 0; k < e->pub.rank; k++)
        e->pub.shape[k] = t->proto->dims[k];
    e->pub.fan_in = w->fan_in > 0 ? (uint64_t)w->fan_in : 0;
    e->pub.fan_out = w->fan_out > 0 ? (uint64_t)w->fan_out : 0;
    e->pub.gain = d->kind == OI_FILL_NONE ? 0 : d->gain;
    int weight = w->role == OI_ROLE_WEIGHT;
    const char *src[6] = {t->name, t->scope, oi_role_name(oi_plan_role(w, d)),
                          d->kind == OI_FILL_NONE ? "none" : d->scheme,
                          d->kind == OI_FILL_NONE ? d->reason : "",
                          weight ? oi_act_name(w->act) : ""};
    return entry_strings(e, src);
}

static oi_status keep_originals(oi_model *m, const oi_tensor *t, plan_entry *e, oi_error *err)
{
    e->originals = oi_model_read_floats(m, t, err);
    return e->originals ? OI_OK : err->status;
}

oi_status oi_plan_records(const oi_ctx *ctx, const void *model, size_t len, oi_plan_list **out,
                          oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    if (!out)
        return oi_fail(err, OI_ERR_USAGE, "oi_plan_records: nowhere to put the plan");
    *out = NULL;
    oi_job j;
    if (plan_memory(&j, ctx, model, len, err))
        return err->status;
    size_t n = oi_model_tensor_count(j.model);
    oi_plan_list *l = calloc(1, sizeof *l);
    oi_status s = l && (l->entries = calloc(n ? n : 1, sizeof *l->entries))
                      ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    /* l->n counts entries begun, so a failure frees what one allocated */
    for (size_t i = 0; s == OI_OK && i < n; i++, l->n++) {
        if (!entry_fill(&l->entries[i], oi_model_tensor(j.model, i), oi_analysis_get(j.analysis, i),
                        oi_plan_get(j.plan, i), l))
            s = oi_fail(err, OI_ERR_NOMEM, "out of memory");
        if (s == OI_OK && oi_plan_get(j.plan, i)->kind == OI_FILL_DISTINCT)
            s = keep_originals(j.model, oi_model_tensor(j.model, i), &l->entries[i], err);
    }
    oi_job_free(&j);
    if (s != OI_OK) {
        oi_plan_list_free(l);
        return s;
    }
    *out = l;
    return OI_OK;
}

size_t oi_plan_list_count(const oi_plan_list *list) { return list ? list->n : 0; }

const oi_plan_record *oi_plan_list_get(const oi_plan_list *list, size_t index)
{
    return list && index < list->n ? &list->entries[index].pub : NULL;
}

const oi_plan_record *oi_plan_list_find(const oi_plan_list *list, const char *scope,
                                        const char *name)
{
    for (size_t i = 0; list && name && i < list->n; i++) {
        const oi_plan_record *r = &list->entries[i].pub;
        if (strcmp(r->name, name) == 0 && strcmp(r->scope, scope ? scope : "") == 0)
            return r;
    }
    return NULL;
}

void oi_plan_list_free(oi_plan_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        for (int k = 0; k < 6; k++)
            free(list->entries[i].strings[k]);
    for (size_t i = 0; i < list->n; i++)
        free(list->entries[i].originals);
    free(list->entries);
    free(list);
}

/* A record's tensor as the file path sees it (the stream key is seed, scope and
 * name), in dtype: proto and dims hold its shape. */
static oi_tensor record_tensor(const plan_entry *e, int32_t dtype, Onnx__TensorProto *proto,
                               int64_t dims[OI_MAX_RANK])
{
    *proto = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    memcpy(dims, e->pub.shape, OI_MAX_RANK * sizeof *dims);
    proto->n_dims = (size_t)e->pub.rank;
    proto->dims = dims;
    proto->data_type = dtype;
    size_t size = oi_dtype_size(dtype);
    return (oi_tensor){.proto = proto, .name = e->pub.name, .scope = e->pub.scope,
                       .kind = "initializer", .dtype = dtype, .elem_size = size,
                       .n_elems = e->n_elems, .n_bytes = e->n_elems * size};
}

/* A derived tensor's source values as the model path reads them: its record
 * filled and read back as stored; a quantized source's floats as it drew them. */
static oi_status source_values(const oi_ctx *ctx, const plan_entry *e, const plan_entry *src,
                               float *v, oi_fill_shape *ss, oi_error *err)
{
    oi_fill_kind draw = src->decision.draw;
    if (oi_fill_is_quant(src->decision.kind)) {
        if (src->decision.kind != OI_FILL_QUANT || draw == OI_FILL_COPY ||
            draw == OI_FILL_NORMS || draw == OI_FILL_DISTINCT)
            return oi_fail(err, OI_ERR_UNSUPPORTED, "tensor '%s' follows '%s', whose values are "
                           "made with its model (oi_reinit_buffer)", e->pub.name, src->pub.name);
        Onnx__TensorProto proto;
        int64_t dims[OI_MAX_RANK];
        oi_tensor t = record_tensor(src, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &proto, dims);
        oi_decision fd = src->decision;
        fd.kind = draw;
        ss->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        return oi_fill_values(&fd, &t, ctx->seed, v, err);
    }
    if (src->decision.kind == OI_FILL_COPY || src->decision.kind == OI_FILL_NORMS)
        return OI_OK;   /* (a derived source: oi_fill_derive refuses it) */
    size_t src_size = oi_dtype_size(src->pub.dtype);
    uint8_t *bytes = malloc(src->n_elems * src_size + 1);
    oi_status s = bytes ? oi_fill_record(ctx, &src->pub, bytes, src->n_elems * src_size, err)
                        : oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", e->pub.name);
    for (size_t i = 0; s == OI_OK && i < src->n_elems; i++)
        v[i] = (float)oi_float_get(src->pub.dtype, bytes, i);
    free(bytes);
    return s;
}

/* A tied copy or weight norm's g: its source's values as the model path reads
 * them, derived by the same function the model path uses (so the two agree to
 * the byte). */
static oi_status fill_derived_record(const oi_ctx *ctx, const plan_entry *e, void *dst,
                                     oi_error *err)
{
    const plan_entry *src = e->list && (size_t)e->decision.source < e->list->n
                                ? &e->list->entries[e->decision.source] : NULL;
    if (!src || src->pub.rank < 0 || e->pub.rank < 0)
        return oi_fail(err, OI_ERR_FORMAT, "tensor '%s': its source does not fit", e->pub.name);
    float *v = malloc((src->n_elems + 1) * sizeof *v), *out = malloc((e->n_elems + 1) * sizeof *out);
    oi_fill_shape ts = {e->pub.name, e->pub.shape, e->pub.rank, e->n_elems, e->pub.dtype};
    oi_fill_shape ss = {src->pub.name, src->pub.shape, src->pub.rank, src->n_elems, src->pub.dtype};
    oi_status s = v && out ? source_values(ctx, e, src, v, &ss, err)
                           : oi_fail(err, OI_ERR_NOMEM, "out of memory for tensor '%s'", e->pub.name);
    if (s == OI_OK)
        s = oi_fill_derive(&e->decision, ts, ss, src->decision.kind, v, out, err);
    if (s == OI_OK)
        oi_fill_encode(e->pub.dtype, out, e->n_elems, dst);
    free(v);
    free(out);
    return s;
}

oi_status oi_fill_record(const oi_ctx *ctx, const oi_plan_record *record, void *dst,
                         size_t dst_len, oi_error *err)
{
    oi_error local;
    err = err ? err : &local;
    oi_error_clear(err);
    const plan_entry *e = record ? (const plan_entry *)record->internal : NULL;
    if (!ctx || !e || !dst || e->magic != RECORD_MAGIC)
        return oi_fail(err, OI_ERR_USAGE, "oi_fill_record: a record from oi_plan_records is needed");
    if (e->decision.kind == OI_FILL_NONE)
        return oi_fail(err, OI_ERR_USAGE, "tensor '%s': left alone (%s), nothing to fill",
                       record->name, record->reason);
    if (oi_fill_is_quant(e->decision.kind))
        return oi_fail(err, OI_ERR_UNSUPPORTED, "tensor '%s' is quantized: its codes, scales and "
                       "zero points are made together, with its model (oi_reinit_buffer)",
                       record->name);
    size_t size = oi_dtype_size(record->dtype);
    if (!oi_dtype_is_float(record->dtype) || record->rank < 0 ||
        dst_len / size != e->n_elems || dst_len % size)
        return oi_fail(err, OI_ERR_USAGE, "tensor '%s': needs %llu bytes of %s, got %zu",
                       record->name, (unsigned long long)(e->n_elems * size),
                       oi_dtype_name(record->dtype), dst_len);
    if (e->decision.kind == OI_FILL_COPY || e->decision.kind == OI_FILL_NORMS)
        return fill_derived_record(ctx, e, dst, err);
    Onnx__TensorProto proto;
    int64_t dims[OI_MAX_RANK];
    oi_tensor t = record_tensor(e, record->dtype, &proto, dims);
    if (e->decision.kind == OI_FILL_DISTINCT)
        return e->originals ? oi_fill_tensor_distinct(&e->decision, &t, ctx->seed, e->originals,
                                                      dst, err)
                            : oi_fail(err, OI_ERR_FORMAT, "tensor '%s': no values", t.name);
    return oi_fill_tensor(&e->decision, &t, ctx->seed, dst, err);
}
