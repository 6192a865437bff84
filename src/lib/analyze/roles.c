/* Which role a constant plays at the node it reaches: the (op, slot) table. */
#include "analyze/analyze_internal.h"

#include <stdio.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

static int set_role(oi_weight *w, oi_role role)
{
    w->role = role;
    return 1;
}

static int non1_axes(const oi_weight *w)
{
    int k = 0;
    for (int i = 0; i < w->rank; i++)
        k += w->dims[i] != 1;
    return k;
}

static int set_fans(oi_weight *w, int64_t fan_in, int64_t fan_out)
{
    w->role = OI_ROLE_WEIGHT;
    w->fan_in = fan_in;
    w->fan_out = fan_out;
    return 1;
}

/* Conv W[M, C/g, k...] and ConvTranspose W[C, M/g, k...] share the formula
 * (PyTorch's convention: fans are not divided by the group count). */
static int conv_weight(oi_weight *w)
{
    if (w->rank < 3)
        return 0;
    int64_t rf = oi_dims_product(w->dims, 2, w->rank);
    return set_fans(w, oi_mul_sat(w->dims[1], rf), oi_mul_sat(w->dims[0], rf));
}

static int gemm_weight(const Onnx__NodeProto *n, size_t slot, oi_weight *w)
{
    if (w->rank != 2)
        return 0;
    if (slot == 1) {   /* B: [K,N], or [N,K] with transB */
        int t = oi_attr_int(n, "transB", 0) != 0;
        return set_fans(w, w->dims[t ? 1 : 0], w->dims[t ? 0 : 1]);
    }
    int t = oi_attr_int(n, "transA", 0) != 0;   /* A: [M,K], or [K,M] with transA */
    return set_fans(w, w->dims[t ? 0 : 1], w->dims[t ? 1 : 0]);
}

static int attention_weight(oi_weight *w)
{
    if (w->rank != 2)
        return 0;
    w->gates = 3;   /* packed Q, K, V along the columns */
    return set_fans(w, w->dims[0], w->dims[1] / 3);
}

static int matmul_weight(const Onnx__NodeProto *n, size_t slot, oi_weight *w)
{
    int r = w->rank;
    if (r < 1)
        return 0;
    if (r == 1)
        return set_fans(w, w->dims[0], 1);
    int tb = slot == 1 && oi_attr_int(n, "transB", 0);
    int ta = slot == 0 && oi_attr_int(n, "transA", 0);
    if (slot == 1)   /* [..., K, N] */
        return set_fans(w, w->dims[r - 2 + tb], w->dims[r - 1 - tb]);
    return set_fans(w, w->dims[r - 1 - ta], w->dims[r - 2 + ta]);   /* [..., M, K] */
}

static int rnn_role(const oi_actx *x, const Onnx__NodeProto *n, size_t slot, oi_weight *w)
{
    w->gates = oi_op_is(n, "LSTM") ? 4 : oi_op_is(n, "GRU") ? 3 : 1;
    if (w->rank >= 2) {
        w->directions = w->dims[0];
        w->hidden = oi_attr_int(n, "hidden_size", 0);
        int64_t per = slot == 3 ? 2 * w->gates : slot == 7 ? 3 : w->gates;   /* blocks of H */
        if (w->hidden <= 0)
            w->hidden = w->dims[1] / per;
        if (w->hidden > (INT64_C(1) << 40) || w->dims[1] != per * w->hidden) {
            w->reason = oi_arena_printf(x->arena, "%s hidden_size %lld does not fit its weights' "
                                       "shape: kept", n->op_type, (long long)w->hidden);
            return 0;
        }
    }
    switch (slot) {
    case 1:
        if (w->rank != 3)
            return 0;
        w->role = OI_ROLE_RNN_W;
        w->fan_in = w->dims[2];
        w->fan_out = w->hidden;
        return 1;
    case 2:
        if (w->rank != 3)
            return 0;
        w->role = OI_ROLE_RNN_R;
        w->fan_in = w->fan_out = w->hidden;
        return 1;
    case 3: return set_role(w, OI_ROLE_RNN_B);
    case 7: return oi_op_is(n, "LSTM") && set_role(w, OI_ROLE_RNN_P);
    default: return 0;
    }
}

static int norm_role(const Onnx__NodeProto *n, size_t slot, oi_weight *w)
{
    static const struct { const char *op; int scale, bias, bias2, mean, var; } t[] = {
        {"BatchNormalization", 1, 2, -1, 3, 4},
        {"InstanceNormalization", 1, 2, -1, -1, -1},
        {"LayerNormalization", 1, 2, -1, -1, -1},
        {"GroupNormalization", 1, 2, -1, -1, -1},
        {"SimplifiedLayerNormalization", 1, -1, -1, -1, -1},
        {"SkipLayerNormalization", 2, 3, 4, -1, -1},
        {"SkipSimplifiedLayerNormalization", 2, -1, 3, -1, -1},   /* input, skip, gamma, bias */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!oi_op_is(n, t[i].op))
            continue;
        int s = (int)slot;
        w->role = s == t[i].scale ? OI_ROLE_NORM_SCALE
                  : s == t[i].bias ? OI_ROLE_NORM_BIAS
                  : s == t[i].bias2 ? OI_ROLE_BIAS
                  : s == t[i].mean ? OI_ROLE_NORM_MEAN
                  : s == t[i].var ? OI_ROLE_NORM_VAR : OI_ROLE_NONE;
        return w->role != OI_ROLE_NONE;
    }
    return 0;
}

static int is_integer_value(const oi_actx *x, long v)
{
    if (v < 0)
        return 0;
    const oi_value *val = oi_graph_value(x->graph, (size_t)v);
    int32_t dt = -1;
    if (val->tensor >= 0)
        dt = oi_model_tensor(x->model, (size_t)val->tensor)->dtype;
    else if (val->info && val->info->type && val->info->type->tensor_type &&
             val->info->type->tensor_type->has_elem_type)
        dt = val->info->type->tensor_type->elem_type;
    return dt < 0 || dt == DT(INT32) || dt == DT(INT64);   /* computed indices: assume ints */
}

/* A bias Add: the other operand comes straight from a layer, and the constant
 * broadcasts along one axis only. */
static int bias_add(const oi_actx *x, size_t node, size_t slot, oi_weight *w)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    if (n->n_input != 2 || w->rank < 1)
        return 0;
    int non1 = 0;
    for (int i = 0; i < w->rank; i++)
        non1 += w->dims[i] != 1;
    long other = oi_graph_input_value(x->graph, node, 1 - slot);
    const oi_value *ov = other >= 0 ? oi_graph_value(x->graph, (size_t)other) : NULL;
    if (non1 > 1 || !ov || ov->producer < 0)
        return 0;
    const Onnx__NodeProto *p = oi_graph_node(x->graph, (size_t)ov->producer)->proto;
    if (oi_op_is(p, "MatMul") || oi_op_is(p, "Gemm") || oi_op_is(p, "Conv") ||
        oi_op_is(p, "ConvTranspose") || oi_op_is(p, "FusedMatMul") ||
        oi_op_is(p, "MatMulNBits") || oi_rescaled_integer(x, other, NULL) >= 0) {
        w->role = OI_ROLE_BIAS;
        return 1;
    }
    return 0;
}

/* ---- the (op, slot) table: each op's classifier, all of one shape ---- */

typedef int (*use_fn)(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w);

static int use_conv(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                    oi_weight *w)
{
    (void)x, (void)n, (void)node;
    return slot == 1 ? conv_weight(w) : slot == 2 && set_role(w, OI_ROLE_BIAS);
}

static int use_gemm(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                    oi_weight *w)
{
    (void)x, (void)node;
    return slot <= 1 ? gemm_weight(n, slot, w) : slot == 2 && set_role(w, OI_ROLE_BIAS);
}

/* A vector times a matrix that is itself made of constants is weight
 * arithmetic, no layer: spectral norm's power-iteration u and v (buffers). */
static int power_iteration_vector(const oi_actx *x, size_t node, size_t slot, oi_weight *w)
{
    if (slot > 1 || non1_axes(w) != 1 || w->rank > 2 ||   /* u [D], [1, D] or [D, 1] */
        !oi_is_const_derived(x, oi_graph_input_value(x->graph, node, 1 - slot)))
        return 0;
    w->fixed_kind = 2;
    w->reason = "vector multiplied into a constant matrix (spectral norm's power iteration): "
                "a buffer";
    return 1;
}

static int use_matmul(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w)
{
    if (power_iteration_vector(x, node, slot, w))
        return 0;
    return slot <= 1 && matmul_weight(n, slot, w);
}

/* Add: a layer's bias; a norm's shift; a bias or mask on attention logits;
 * positions added to the token stream. */
static int use_add(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                   oi_weight *w)
{
    if (n->n_input != 2 || slot > 1)
        return 0;
    if (bias_add(x, node, slot, w))
        return 1;
    long other = oi_graph_input_value(x->graph, node, 1 - slot);
    if (other < 0)
        return 0;
    if (oi_is_scaled_normalized(x, other) || oi_is_normalized(x, other))
        return set_role(w, OI_ROLE_NORM_BIAS);   /* (of learned latents too) */
    if (oi_is_const_derived(x, other))
        return 0;
    if (oi_adds_to_logits(x, node, slot)) {
        w->folded = 1;   /* the table, gathered and folded; masks are told apart by value */
        return set_role(w, OI_ROLE_REL_POS_BIAS);
    }
    if (non1_axes(w) >= 2)
        return set_role(w, OI_ROLE_POSITION);
    if (oi_feeds_residual_add(x, node, slot))   /* a shift on a branch (GRN's beta) */
        return set_role(w, OI_ROLE_BIAS);
    return 0;
}

/* Weight norm (torch.nn.utils.weight_norm): w = v / ||v|| * g, g one norm per
 * slice of v along the kept axes (its shape fits into v's, rank for rank). */
static int weight_norm_gain(const oi_actx *x, size_t node, size_t slot, oi_weight *w)
{
    size_t div;
    long other = oi_graph_input_value(x->graph, node, 1 - slot);
    long p = other >= 0 ? oi_graph_value(x->graph, (size_t)other)->producer : -1;
    if (p < 0 || !oi_op_is(oi_graph_node(x->graph, (size_t)p)->proto, "Div"))
        return 0;
    div = (size_t)p;
    long v = oi_graph_input_value(x->graph, div, 0);
    if (!oi_is_const(x, v) || !oi_is_const_derived(x, oi_graph_input_value(x->graph, div, 1)))
        return 0;
    long tv = oi_graph_value(x->graph, (size_t)v)->tensor;
    const Onnx__TensorProto *vp = oi_model_tensor(x->model, (size_t)tv)->proto;
    if ((int)vp->n_dims != w->rank)
        return 0;
    for (int i = 0; i < w->rank; i++)
        if (w->dims[i] != 1 && w->dims[i] != vp->dims[i])
            return 0;
    w->norm_of = tv;
    return set_role(w, OI_ROLE_WN_GAIN);
}

/* Mul: a norm's scale γ·x̂, or LayerScale/ReZero before a residual Add. */
static int use_mul(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                   oi_weight *w)
{
    if (n->n_input != 2 || slot > 1)
        return 0;
    if (weight_norm_gain(x, node, slot, w))
        return 1;
    long other = oi_graph_input_value(x->graph, node, 1 - slot);
    if (other < 0)
        return 0;
    if (oi_is_normalized(x, other))
        return set_role(w, OI_ROLE_NORM_SCALE);   /* (of learned latents too) */
    if (oi_is_const_derived(x, other))
        return 0;
    if (non1_axes(w) <= 1 && oi_feeds_residual_add(x, node, slot)) {
        w->scalar_scale = non1_axes(w) == 0;
        return set_role(w, OI_ROLE_LAYER_SCALE);
    }
    return 0;
}

/* A constant concatenated to computed values: tokens prepended to a sequence
 * (directly, or expanded to the batch first). */
static int use_concat(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w)
{
    (void)slot;
    for (size_t i = 0; i < n->n_input; i++)
        if (!oi_is_const_derived(x, oi_graph_input_value(x->graph, node, i)))
            return w->rank >= 2 && set_role(w, OI_ROLE_TOKEN);
    return 0;
}

/* A constant chosen in place of computed values where a mask says so: a mask
 * token (BEiT, MAE, SimMIM: Where(mask, token, x)). */
static int use_where(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                     oi_weight *w)
{
    if (n->n_input != 3 || (slot != 1 && slot != 2) || non1_axes(w) < 1)
        return 0;
    long other = oi_graph_input_value(x->graph, node, 3 - slot);
    if (non1_axes(w) > 1)   /* a token expanded and folded, if its values repeat (analyze.c) */
        w->folded = OI_FOLDED_IF_REPEATED;
    return other >= 0 && !oi_is_const_derived(x, other) && set_role(w, OI_ROLE_TOKEN);
}

/* Does node c read a per-sample value besides its input `slot`? */
static int meets_data(const oi_actx *x, size_t c, size_t slot)
{
    const Onnx__NodeProto *cn = oi_graph_node(x->graph, c)->proto;
    for (size_t i = 0; i < cn->n_input; i++) {
        long in = oi_graph_input_value(x->graph, c, i);
        if (i != slot && in >= 0 && !oi_is_const_derived(x, in))
            return 1;
    }
    return 0;
}

/* Where an expanded constant is data: added to the stream, attended with,
 * normalized.  (Not a recurrent layer's initial state: exporters expand zeros there.) */
static const char *const data_ops[] = {"Add", "Sub", "MatMul", "Einsum", NULL};
/* ... or normalized as data (a norm's first step, decomposed or not): Perceiver's latents. */
static const char *const normalizes[] = {"LayerNormalization", "SimplifiedLayerNormalization",
                                         "ReduceMean", "Pow", NULL};

/* A constant expanded (or tiled) to the batch, then used beside per-sample
 * values: tokens concatenated or masked in, positions added to the tokens,
 * learned queries or latents (DETR, Perceiver) computed with.  Scales (Mul,
 * Div) are left to the Mul rules; torch's repeat is an Expand then a Tile. */
static int expanded_use(const oi_actx *x, size_t node, oi_weight *w, int depth)
{
    long out = oi_graph_output_value(x->graph, node, 0);
    if (out < 0 || depth > 4)
        return 0;
    const oi_value *v = oi_graph_value(x->graph, (size_t)out);
    for (size_t u = 0; u < v->n_uses; u++) {
        size_t c = v->uses[u].node;
        const Onnx__NodeProto *cn = oi_graph_node(x->graph, c)->proto;
        if ((oi_op_is(cn, "Concat") && use_concat(x, cn, c, v->uses[u].slot, w)) ||
            (oi_op_is(cn, "Where") && use_where(x, cn, c, v->uses[u].slot, w)))
            return 1;
    }
    for (size_t u = 0; u < v->n_uses && non1_axes(w) >= 1; u++) {
        size_t c = v->uses[u].node;
        const Onnx__NodeProto *cn = oi_graph_node(x->graph, c)->proto;
        if ((oi_op_is(cn, "Expand") || oi_op_is(cn, "Tile")) && v->uses[u].slot == 0 &&
            expanded_use(x, c, w, depth + 1))
            return 1;
        if (!oi_op_in(cn, normalizes) &&
            (!oi_op_in(cn, data_ops) || !meets_data(x, c, v->uses[u].slot)))
            continue;
        return set_role(w, oi_op_is(cn, "Add") && non1_axes(w) >= 2 ? OI_ROLE_POSITION
                                                                     : OI_ROLE_TOKEN);
    }
    return 0;
}

static int use_expand(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w)
{
    (void)n;
    return slot == 0 && w->rank >= 2 && expanded_use(x, node, w, 0);
}

static int use_rnn(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                   oi_weight *w)
{
    (void)x, (void)node;
    return rnn_role(x, n, slot, w);
}

static int use_gather(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w)
{
    (void)n;
    long idx = oi_graph_input_value(x->graph, node, 1);
    if (slot != 0 || w->rank < 1 || !is_integer_value(x, idx))
        return 0;
    if (oi_is_positional(x, idx)) {   /* positions, not token ids */
        long out = oi_graph_output_value(x->graph, node, 0);
        return set_role(w, oi_flows_to_logits(x, out, 0) ? OI_ROLE_REL_POS_BIAS
                                                        : OI_ROLE_POSITION);
    }
    return w->rank == 2 && set_role(w, OI_ROLE_EMBEDDING);
}

static int use_prelu(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                     oi_weight *w)
{
    (void)x, (void)n, (void)node;
    return slot == 1 && set_role(w, OI_ROLE_PRELU_SLOPE);
}

static int use_attention(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                         oi_weight *w)
{
    (void)x, (void)n, (void)node;
    if (slot == 1 && w->rank == 2)
        return attention_weight(w);
    return slot == 2 && set_role(w, OI_ROLE_BIAS);
}

static int use_mha(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                   oi_weight *w)
{
    (void)x, (void)n, (void)node;
    return slot == 3 && set_role(w, OI_ROLE_BIAS);
}

static int use_norm(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                    oi_weight *w)
{
    if ((slot == 1 || slot == 2) && oi_is_groupnorm_core(x, node)) {
        w->fixed_kind = 1;
        w->reason = slot == 1 ? "exporter's unit scale inside a decomposed GroupNorm"
                              : "exporter's unit shift inside a decomposed GroupNorm";
        return 0;
    }
    static const char *const skips[] = {"SkipLayerNormalization",
                                        "SkipSimplifiedLayerNormalization", NULL};
    if (oi_op_in(n, skips) && slot <= 1) {   /* ORT's fused Add: a constant added to the stream */
        long other = oi_graph_input_value(x->graph, node, 1 - slot);
        return other >= 0 && !oi_is_const_derived(x, other) && non1_axes(w) >= 2 &&
               set_role(w, OI_ROLE_POSITION);
    }
    return norm_role(n, slot, w);
}

/* Integer and QLinear layers: the quantized weight's slot read as the float
 * layer's (same fans); QLinearConv's int32 bias; MatMulNBits' K x N weight. */
/* Layers taking a quantized weight (node.c's table): the weight as the float
 * layer's (same fans), the bias. */
static int use_qlayer(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                      oi_weight *w)
{
    (void)x, (void)node;
    const oi_qlayer *l = oi_qlayer_of(n);
    if ((int)slot == l->bias)
        return set_role(w, OI_ROLE_BIAS);
    if ((int)slot != l->weight)
        return 0;
    switch (l->kind) {
    case OI_QW_CONV: return conv_weight(w);
    case OI_QW_GEMM: return gemm_weight(n, 1, w);
    case OI_QW_ATTENTION: return attention_weight(w);
    default: return w->rank >= 2 && matmul_weight(n, 1, w);
    }
}

static int use_nbits(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                     oi_weight *w)
{
    (void)x, (void)node;
    int64_t k = oi_attr_int(n, "K", 0), nn = oi_attr_int(n, "N", 0);
    if (slot == 1)
        return k > 0 && nn > 0 && set_fans(w, k, nn);
    return slot == 5 && set_role(w, OI_ROLE_BIAS);
}

/* com.microsoft ops ONNX Runtime's optimizers emit, by slot: biases fused into
 * an activation or Add, EmbedLayerNormalization's tables and norm, and the
 * cos/sin caches of rotary ops (fixed: role NONE). */
static const struct {
    const char *op;
    size_t slot;
    oi_role role;
} fused_slots[] = {
    {"BiasGelu", 1, OI_ROLE_BIAS}, {"FastGelu", 1, OI_ROLE_BIAS}, {"BiasAdd", 1, OI_ROLE_BIAS},
    {"BiasSoftmax", 1, OI_ROLE_REL_POS_BIAS},   /* added to the logits: a table, or a mask (by value) */
    {"EmbedLayerNormalization", 2, OI_ROLE_EMBEDDING},
    {"EmbedLayerNormalization", 3, OI_ROLE_POSITION},
    {"EmbedLayerNormalization", 4, OI_ROLE_EMBEDDING},
    {"EmbedLayerNormalization", 5, OI_ROLE_NORM_SCALE},
    {"EmbedLayerNormalization", 6, OI_ROLE_NORM_BIAS},
    {"RotaryEmbedding", 2, OI_ROLE_NONE}, {"RotaryEmbedding", 3, OI_ROLE_NONE},
    {"GroupQueryAttention", 7, OI_ROLE_NONE}, {"GroupQueryAttention", 8, OI_ROLE_NONE},
};

static int use_fused(const oi_actx *x, const Onnx__NodeProto *n, size_t node, size_t slot,
                     oi_weight *w)
{
    (void)x, (void)node;
    for (size_t i = 0; i < sizeof fused_slots / sizeof *fused_slots; i++) {
        if (!oi_op_is(n, fused_slots[i].op) || fused_slots[i].slot != slot)
            continue;
        if (fused_slots[i].role == OI_ROLE_NONE) {
            w->fixed_kind = 2;
            w->reason = oi_arena_printf(x->arena, "rotary cos/sin cache of %s: a buffer, kept",
                                       n->op_type);
            return 0;
        }
        if (fused_slots[i].role == OI_ROLE_EMBEDDING && non1_axes(w) != 2)
            return 0;
        w->folded = fused_slots[i].role == OI_ROLE_REL_POS_BIAS;   /* equal entries stay equal */
        return set_role(w, fused_slots[i].role);
    }
    return 0;
}

static const struct {
    const char *op;
    use_fn classify;
} use_table[] = {
    {"ConvInteger", use_qlayer}, {"QLinearConv", use_qlayer},
    {"MatMulInteger", use_qlayer}, {"QLinearMatMul", use_qlayer}, {"QGemm", use_qlayer},
    {"DynamicQuantizeMatMul", use_qlayer}, {"MatMulIntegerToFloat", use_qlayer},
    {"QAttention", use_qlayer},
    {"MatMulNBits", use_nbits},
    {"Conv", use_conv}, {"FusedConv", use_conv}, {"NhwcConv", use_conv},
    {"ConvTranspose", use_conv},
    {"Gemm", use_gemm}, {"FusedGemm", use_gemm},
    {"MatMul", use_matmul}, {"FusedMatMul", use_matmul},
    {"Add", use_add}, {"Mul", use_mul},
    {"Concat", use_concat}, {"Expand", use_expand}, {"Tile", use_expand},
    {"Where", use_where},
    {"LSTM", use_rnn}, {"GRU", use_rnn}, {"RNN", use_rnn},
    {"Gather", use_gather}, {"GatherBlockQuantized", use_gather},
    {"PRelu", use_prelu},
    {"Attention", use_attention}, {"MultiHeadAttention", use_mha},
    {"BatchNormalization", use_norm}, {"InstanceNormalization", use_norm},
    {"LayerNormalization", use_norm}, {"GroupNormalization", use_norm},
    {"SimplifiedLayerNormalization", use_norm}, {"SkipLayerNormalization", use_norm},
    {"SkipSimplifiedLayerNormalization", use_norm},
    {"BiasGelu", use_fused}, {"FastGelu", use_fused}, {"BiasAdd", use_fused},
    {"BiasSoftmax", use_fused},
    {"EmbedLayerNormalization", use_fused}, {"RotaryEmbedding", use_fused},
    {"GroupQueryAttention", use_fused},
};

int oi_classify_use(const oi_actx *x, size_t node, size_t slot, oi_weight *w)
{
    const Onnx__NodeProto *n = oi_graph_node(x->graph, node)->proto;
    int ok = 0;
    for (size_t i = 0; i < sizeof use_table / sizeof *use_table; i++)
        if (oi_op_is(n, use_table[i].op)) {
            ok = use_table[i].classify(x, n, node, slot, w);
            break;
        }
    if (ok) {
        w->op = n->op_type;
        w->layer = n->name ? n->name : "";
        w->layer_node = node;
        w->slot = slot;
        if (w->role == OI_ROLE_WEIGHT) {
            oi_find_activation(x, node, w);
            w->input_normalized = oi_input_normalized(x, node, slot);
        }
        return 1;
    }
    w->role = OI_ROLE_NONE;
    if (!w->reason[0])
        w->reason = oi_arena_printf(x->arena, "input %zu of %s '%s' is not a weight slot", slot,
                                   n->op_type ? n->op_type : "?", n->name ? n->name : "");
    return 0;
}
