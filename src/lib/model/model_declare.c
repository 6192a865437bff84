/* --materialize: untrained graphs whose weights are graph inputs with static
 * shapes get real initializers for them. */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

static int is_float_type(int32_t t)
{
    return t == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || t == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
           t == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16 || t == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
}

/* The static shape of a float tensor input, or -1. */
static int static_shape(const Onnx__ValueInfoProto *vi, int64_t *dims, size_t max, size_t *rank,
                        int32_t *dtype)
{
    const Onnx__TypeProto__Tensor *tt = vi->type ? vi->type->tensor_type : NULL;
    if (!tt || !tt->has_elem_type || !is_float_type(tt->elem_type) || !tt->shape ||
        tt->shape->n_dim > max)
        return -1;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || d->dim_value <= 0)
            return -1;
        dims[i] = d->dim_value;
    }
    *rank = tt->shape->n_dim;
    *dtype = tt->elem_type;
    return 0;
}

static int has_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return 1;
    return 0;
}

static Onnx__TensorProto *declared_tensor(const char *name, const int64_t *dims, size_t rank,
                                          int32_t dtype)
{
    Onnx__TensorProto *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->dims = malloc((rank ? rank : 1) * sizeof *t->dims);
    if (!t->name || !t->dims) {
        onnx__tensor_proto__free_unpacked(t, NULL);
        return NULL;
    }
    memcpy(t->dims, dims, rank * sizeof *dims);
    t->n_dims = rank;
    t->has_data_type = 1;
    t->data_type = dtype;
    return t;
}

oi_status oi_model_declare_inputs(oi_model *m, size_t *added, oi_error *err)
{
    Onnx__GraphProto *g = m->proto->graph;
    *added = 0;
    Onnx__TensorProto **list = realloc(m->declared, (g->n_input + 1) * sizeof *list);
    Onnx__TensorProto **inits = realloc(g->initializer,
                                        (g->n_initializer + g->n_input + 1) * sizeof *inits);
    if (list)
        m->declared = list;
    if (inits)
        g->initializer = inits;
    if (!list || !inits)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
    for (size_t i = 0; i < g->n_input; i++) {
        int64_t dims[16];
        size_t rank;
        int32_t dtype;
        const char *name = g->input[i]->name;
        if (!name || has_initializer(g, name) ||
            static_shape(g->input[i], dims, 16, &rank, &dtype))
            continue;
        Onnx__TensorProto *t = declared_tensor(name, dims, rank, dtype);
        if (!t)
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", m->label);
        g->initializer[g->n_initializer++] = t;
        m->declared[m->n_declared++] = t;
        (*added)++;
    }
    return oi_model_recatalogue(m, err);
}

oi_status oi_model_materialize(oi_model *m, oi_tensor *t, oi_error *err)
{
    if (t->storage != OI_STORE_NONE || !t->elem_size)
        return OI_OK;
    uint8_t *data = calloc(t->n_bytes ? t->n_bytes : 1, 1);
    if (!data)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s' (%llu bytes)",
                       m->label, t->name, (unsigned long long)t->n_bytes);
    t->proto->has_raw_data = 1;
    t->proto->raw_data.data = data;
    t->proto->raw_data.len = t->n_bytes;
    t->storage = OI_STORE_RAW;
    return OI_OK;
}

static void remove_input(Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && strcmp(g->input[i]->name, name) == 0) {
            onnx__value_info_proto__free_unpacked(g->input[i], NULL);
            memmove(&g->input[i], &g->input[i + 1], (g->n_input - i - 1) * sizeof *g->input);
            g->n_input--;
            return;
        }
}

oi_status oi_model_settle_declared(oi_model *m, oi_error *err)
{
    Onnx__GraphProto *g = m->proto->graph;
    int ir4 = !m->proto->has_ir_version || m->proto->ir_version >= 4;
    for (size_t k = 0; k < m->n_declared; k++) {
        Onnx__TensorProto *t = m->declared[k];
        size_t i = 0;
        while (i < g->n_initializer && g->initializer[i] != t)
            i++;
        if (i == g->n_initializer)
            continue;
        if (t->has_raw_data) {
            if (ir4)
                remove_input(g, t->name);
            continue;
        }
        memmove(&g->initializer[i], &g->initializer[i + 1],
                (g->n_initializer - i - 1) * sizeof *g->initializer);
        g->n_initializer--;
        onnx__tensor_proto__free_unpacked(t, NULL);
    }
    m->n_declared = 0;
    return oi_model_recatalogue(m, err);
}
