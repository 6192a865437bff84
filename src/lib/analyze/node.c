/* The analysis' low-level helpers: node and attribute access, small
 * constants read as numbers, the names and gains of roles and activations, and
 * a weight's own quantized record.
 * Everything else in analyze/ calls down to these. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x


int oi_op_is(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0;
}

int oi_op_in(const Onnx__NodeProto *n, const char *const *ops)
{
    for (; n && *ops; ops++)
        if (oi_op_is(n, *ops))
            return 1;
    return 0;
}

const Onnx__AttributeProto *oi_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t oi_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = oi_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

double oi_attr_float(const Onnx__NodeProto *n, const char *name, double dflt)
{
    const Onnx__AttributeProto *a = oi_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}


int oi_is_const(const oi_actx *x, long value)
{
    return value >= 0 && oi_graph_value(x->graph, (size_t)value)->tensor >= 0;
}

#define FLOATS_MAX (UINT64_C(1) << 26)   /* value checks read at most 64M elements */

float *oi_const_floats(const oi_actx *x, size_t tensor)
{
    oi_tensor *t = oi_model_tensor(x->model, tensor);
    return t->n_elems > FLOATS_MAX ? NULL : oi_model_read_floats(x->model, t, NULL);
}


/* ---- per tensor ---- */

const char *oi_role_name(oi_role r)
{
    static const char *const names[] = {
        "none", "weight", "bias", "rnn_W", "rnn_R", "rnn_B", "rnn_P", "norm_scale",
        "norm_bias", "norm_mean", "norm_var", "embedding", "prelu_slope", "position",
        "token", "layer_scale", "rel_pos_bias", "quant_scale", "quant_zero_point",
        "weight_norm_g", "temperature", "affine_scale", "affine_shift", "unrecognized",
    };
    return (size_t)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

const char *oi_act_name(oi_act a)
{
    static const char *const names[] = {
        "linear", "relu", "relu6", "leaky_relu", "prelu", "elu", "celu", "gelu", "silu",
        "hardswish", "mish", "softplus", "selu", "tanh", "sigmoid", "hardsigmoid", "softsign",
    };
    return (size_t)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

double oi_act_gain(oi_act a, double param)
{
    switch (a) {
    case OI_ACT_TANH: return 5.0 / 3.0;
    case OI_ACT_SELU: return 0.75;
    case OI_ACT_LEAKY_RELU: case OI_ACT_PRELU: return sqrt(2.0 / (1.0 + param * param));
    case OI_ACT_RELU: case OI_ACT_RELU6: case OI_ACT_ELU: case OI_ACT_CELU: case OI_ACT_GELU:
    case OI_ACT_SILU: case OI_ACT_HARDSWISH: case OI_ACT_MISH: case OI_ACT_SOFTPLUS:
        return sqrt(2.0);
    default: return 1.0;
    }
}

int oi_exporter_named(const char *name)
{
    return strncmp(name, "onnx::", 6) == 0 || name[0] == '/' || strstr(name, "::") != NULL;
}

/* Layers that take a quantized weight directly, by slot (-1: none).  An
 * integer layer's scale is a constant input, or (ConvInteger, MatMulInteger)
 * the constant in ORT's float rescale after it; a QLinear bias is int32 in
 * the scale input (slot 1) x weight, the others' biases are float. */
static const oi_qlayer qlayers[] = {
    {"ConvInteger", OI_QUANT_INTEGER, 1, -1, 3, -1, OI_QW_CONV},
    {"MatMulInteger", OI_QUANT_INTEGER, 1, -1, 3, -1, OI_QW_MATMUL},
    {"DynamicQuantizeMatMul", OI_QUANT_INTEGER, 1, 2, 3, 4, OI_QW_MATMUL},
    {"MatMulIntegerToFloat", OI_QUANT_INTEGER, 1, 3, 5, 6, OI_QW_MATMUL},
    {"QAttention", OI_QUANT_INTEGER, 1, 4, 7, 2, OI_QW_ATTENTION},
    {"QLinearConv", OI_QUANT_QLINEAR, 3, 4, 5, 8, OI_QW_CONV},
    {"QLinearMatMul", OI_QUANT_QLINEAR, 3, 4, 5, -1, OI_QW_MATMUL},
    {"QGemm", OI_QUANT_QLINEAR, 3, 4, 5, 6, OI_QW_GEMM},
};

const oi_qlayer *oi_qlayer_of(const Onnx__NodeProto *n)
{
    for (size_t i = 0; i < sizeof qlayers / sizeof *qlayers; i++)
        if (oi_op_is(n, qlayers[i].op))
            return &qlayers[i];
    return NULL;
}

oi_quant *oi_weight_quant(const oi_actx *x, oi_weight *w)
{
    if (w->quant != x->analysis->no_quant)
        return w->quant;
    oi_quant *q = oi_arena_alloc(x->arena, sizeof *q);
    if (q) {
        *q = *w->quant;
        w->quant = q;
    }
    return q;
}
