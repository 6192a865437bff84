/* Roles, layouts and fans: each constant followed to the layer that uses it. */
#include "analyze/analyze_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x



static int by_node_order(const void *a, const void *b)
{
    const oi_reach *x = a, *y = b;
    return x->node < y->node ? -1 : x->node > y->node;
}

static void note_tied(oi_weight *w, const oi_actx *x, const oi_reach *r, size_t n, size_t first)
{
    size_t others = 0, example = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == first || r[i].node == r[first].node)
            continue;
        oi_weight probe = *w;
        probe.rank = r[i].rank;
        memcpy(probe.dims, r[i].dims, sizeof probe.dims);
        if (oi_classify_use(x, r[i].node, r[i].slot, &probe) && !others++)
            example = i;
    }
    if (others) {
        const Onnx__NodeProto *e = oi_graph_node(x->graph, r[example].node)->proto;
        w->note = oi_arena_printf(x->arena, "tied: also used by %zu other layer%s (%s '%s'); "
                 "role from the first use", others, others > 1 ? "s" : "", e->op_type,
                 e->name ? e->name : "");
    }
}

/* LSTM B[D, 8H] holds per direction Wb (gates i, o, f, c) then Rb; the
 * input-side forget gate is [2H, 3H).  Map that back onto this source tensor
 * through every slice of it that reaches B (torch exports reorder gates). */
static void lstm_forget_ranges(oi_weight *w, const oi_reach *r, size_t n)
{
    int64_t h = w->hidden, dirs = w->directions > 0 ? w->directions : 1;
    w->n_forget = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].node != w->layer_node || r[i].slot != 3)
            continue;
        if (!r[i].flat_ok) {
            w->n_forget = -1;
            return;
        }
        int64_t len = r[i].src_hi - r[i].src_lo;
        for (int64_t d = 0; d < dirs; d++) {
            int64_t f0 = d * 8 * h + 2 * h, f1 = f0 + h;
            int64_t a = r[i].dst_lo > f0 ? r[i].dst_lo : f0;
            int64_t b = r[i].dst_lo + len < f1 ? r[i].dst_lo + len : f1;
            if (b <= a)
                continue;
            if (w->n_forget == 4) {
                w->n_forget = -1;
                return;
            }
            w->forget_start[w->n_forget] = r[i].src_lo + (a - r[i].dst_lo);
            w->forget_len[w->n_forget++] = b - a;
        }
    }
}

static void module_path(const char *node_name, char *out, size_t size);

/* The module path of a node's name, kept in the analysis's texts. */
static const char *module_of(const oi_actx *x, size_t node)
{
    char buf[96];
    module_path(oi_graph_node(x->graph, node)->proto->name, buf, sizeof buf);
    return oi_arena_copy(x->arena, buf);
}

/* A parameter-named single value scaling (Mul, or dividing by it) or
 * shifting (Add, Sub) a computed branch: a learnable affine block. */
static int learned_scalar(const oi_actx *x, const oi_tensor *t, const oi_reach *r, oi_weight *w)
{
    static const struct { const char *op; oi_role role; } uses[] = {
        {"Mul", OI_ROLE_AFFINE_SCALE}, {"Div", OI_ROLE_AFFINE_SCALE},
        {"Add", OI_ROLE_AFFINE_SHIFT}, {"Sub", OI_ROLE_AFFINE_SHIFT}};
    const Onnx__NodeProto *n = oi_graph_node(x->graph, r->node)->proto;
    if (t->n_elems != 1 || r->slot > 1 || !oi_name_is_parameter(t->name))
        return 0;
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) {
        if (!oi_op_is(n, uses[i].op) || (oi_op_is(n, "Div") && r->slot != 1))
            continue;
        long other = oi_graph_input_value(x->graph, r->node, 1 - r->slot);
        if (other < 0 || oi_is_const_derived(x, other))
            return 0;
        w->role = uses[i].role;
        w->op = n->op_type;
        w->layer = n->name ? n->name : "";
        w->layer_node = r->node;
        w->slot = r->slot;
        return 1;
    }
    return 0;
}

static void analyze_tensor(const oi_actx *x, size_t ti, oi_weight *w)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    memset(w, 0, sizeof *w);
    w->tied_to = -1;
    w->norm_of = -1;
    w->quant = x->analysis->no_quant;
    w->op = w->layer = w->via = w->note = w->reason = w->module = "";
    w->gates = 1;
    w->gain = 1.0;
    long value = oi_graph_tensor_value(x->graph, ti);
    if (t->n_elems == 0) {   /* a zero-size dim: nothing to draw, and other dims may claim anything */
        w->reason = "no values (a zero-size dimension)";
        return;
    }
    if (value < 0) {
        w->reason = "tensor attribute of a node, not a weight";
        return;
    }
    oi_reach start = {.rank = (int)t->proto->n_dims, .flat_ok = 1, .dq = -1,
                   .src_hi = (int64_t)t->n_elems};
    oi_reach r[OI_MAX_REACH];
    size_t n = 0;
    oi_follow_constant(x, value, start, r, &n);
    if (n > 1)
        qsort(r, n, sizeof *r, by_node_order);
    if (n == 0) {
        w->reason = "not used by any node";
        return;
    }
    int is_float = oi_dtype_is_float(t->dtype), quantized = oi_dtype_is_quantized(t->dtype);
    for (size_t i = 0; i < n; i++) {
        w->rank = r[i].rank;
        memcpy(w->dims, r[i].dims, sizeof w->dims);
        w->flat_ok = r[i].flat_ok;
        w->src_lo = r[i].src_lo;
        w->src_hi = r[i].src_hi;
        w->dst_lo = r[i].dst_lo;
        const Onnx__NodeProto *node = oi_graph_node(x->graph, r[i].node)->proto;
        oi_quant_form qf = r[i].dq >= 0 ? OI_QUANT_QDQ : oi_quant_form_of(node);
        int may = is_float || (quantized && qf != OI_QUANT_NONE);
        if (may && start.rank > 0 && oi_classify_use(x, r[i].node, r[i].slot, w)) {
            oi_quant *q = !is_float ? oi_weight_quant(x, w) : NULL;
            if (q) {   /* a quantized payload of this role: quant.c completes it */
                q->form = qf;
                q->node = r[i].dq >= 0 ? (size_t)r[i].dq : r[i].node;
            }
            if (w->role == OI_ROLE_RNN_B && strcmp(w->op, "LSTM") == 0)
                lstm_forget_ranges(w, r, n);
            note_tied(w, x, r, n, i);
            w->via = oi_arena_copy(x->arena, r[i].via);
            w->module = module_of(x, r[i].node);
            return;
        }
    }
    /* Not a weight anywhere: say why, from its first use. */
    w->role = OI_ROLE_NONE;
    w->via = "";
    w->module = module_of(x, r[0].node);
    const Onnx__NodeProto *first = oi_graph_node(x->graph, r[0].node)->proto;
    if (oi_op_is(first, "QuantizeLinear") || oi_op_is(first, "DequantizeLinear") ||
        oi_quant_form_of(first) != OI_QUANT_NONE)
        w->reason = (quantized && r[0].dq < 0 && (r[0].slot == 0 || r[0].slot == 3)
                     ? "quantized tensor whose float layer is not recognized, kept"
                     : "quantization scale / zero point of activations or a bias (calibrated), "
                       "kept");
    else if (!is_float)
        w->reason = oi_arena_printf(x->arena, "%s tensor, not a float weight",
                                   oi_dtype_name(t->dtype));
    else if (oi_is_temperature(x, value, 0))
        w->role = OI_ROLE_TEMPERATURE;
    else if (learned_scalar(x, t, &r[0], w))
        return;
    else if (start.rank == 0)
        w->reason = oi_arena_printf(x->arena, "scalar used by %s", first->op_type);
    else if (!w->reason[0])
        w->reason = oi_arena_printf(x->arena, "used by %s input %zu, not a weight slot",
                                   first->op_type, r[0].slot);
}

/* Left alone with a reason; the structural role stays in fixed_role, so a
 * rule can still force it. */
static void keep_fixed(const oi_actx *x, oi_weight *w, const char *why)
{
    w->fixed_role = w->role;
    w->role = OI_ROLE_NONE;
    w->fixed_kind = 2;
    w->reason = oi_arena_copy(x->arena, why);
}

#define PROBE_ELEMS 65536   /* a large tensor's first rows decide whether to read it all */

/* Fixed by construction, by its values (fixed.c).  A large tensor is read
 * whole only when its first rows already pass: learned weights fail there. */
static const char *fixed_by_value(const oi_actx *x, size_t ti)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    int rank = (int)t->proto->n_dims, lead = 0;
    if (!oi_dtype_is_float(t->dtype) || t->storage == OI_STORE_NONE || rank == 0 ||
        rank > OI_MAX_RANK || t->n_elems < 8)
        return NULL;
    int64_t dims[OI_MAX_RANK];
    memcpy(dims, t->proto->dims, (size_t)rank * sizeof *dims);
    while (lead < rank - 1 && dims[lead] == 1)
        lead++;
    if (dims[lead] <= 0)
        return NULL;
    uint64_t row = t->n_elems / (uint64_t)dims[lead];
    if (t->n_elems > PROBE_ELEMS) {
        if (row > PROBE_ELEMS)
            return NULL;
        dims[lead] = (int64_t)(PROBE_ELEMS / row);
        uint64_t n = (uint64_t)dims[lead] * row;
        void *raw = malloc(n * t->elem_size);
        float *probe = malloc(n * sizeof *probe);
        int pass = raw && probe && oi_model_read_elems(x->model, t, 0, n, raw, NULL) == OI_OK;
        for (uint64_t i = 0; pass && i < n; i++)
            probe[i] = (float)oi_float_get(t->dtype, raw, i);
        pass = pass && oi_values_fixed(dims, rank, probe, n) != NULL;
        free(raw);
        free(probe);
        if (!pass)
            return NULL;
    }
    float *v = oi_const_floats(x, ti);
    const char *why = v ? oi_values_fixed(t->proto->dims, rank, v, t->n_elems) : NULL;
    free(v);
    return why;
}

static int by_float_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* At most half as many distinct values as entries, but more than one: a
 * table gathered or expanded by constant indices and folded. */
static int repeated_values(const float *v, uint64_t n)
{
    float *s = n >= 8 ? malloc(n * sizeof *s) : NULL;
    if (!s)
        return 0;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, by_float_value);
    uint64_t distinct = 1;
    for (uint64_t i = 1; i < n; i++)
        distinct += by_float_value(&s[i - 1], &s[i]) != 0;
    free(s);
    return distinct >= 2 && distinct * 2 <= n;
}

/* A MatMul operand [B, ...] whose B > 1 slices are all equal: a learned
 * table repeated to the batch, then folded (learned queries).  A weight
 * broadcast over a batch is stored once, never B times. */
static int batch_repeated(const oi_actx *x, size_t ti, const oi_weight *w)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    if (w->role != OI_ROLE_WEIGHT || t->proto->n_dims < 3 || t->proto->dims[0] < 2 ||
        (strcmp(w->op, "MatMul") != 0 && strcmp(w->op, "FusedMatMul") != 0))
        return 0;
    float *v = oi_const_floats(x, ti);
    if (!v)
        return 0;
    uint64_t slice = t->n_elems / (uint64_t)t->proto->dims[0];
    int same = slice > 0;
    for (uint64_t i = slice; same && i < t->n_elems; i++)
        same = memcmp(&v[i], &v[i % slice], sizeof *v) == 0;
    free(v);
    return same;
}

/* What the values and names say, for the roles found by structure: signal
 * front ends, filterbanks and kernels are fixed by construction; sinusoidal
 * tables and rotary caches are buffers; an additive mask is no bias. */
static void check_values(const oi_actx *x, size_t ti, oi_weight *w)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    int learned = w->role != OI_ROLE_NONE && w->role != OI_ROLE_NORM_MEAN &&
                  w->role != OI_ROLE_NORM_VAR && w->role != OI_ROLE_QSCALE &&
                  w->role != OI_ROLE_QZERO && w->quant->form == OI_QUANT_NONE;
    if (learned && oi_name_is_buffer(t->name)) {
        keep_fixed(x, w, "named as a torch buffer (register_buffer): kept");
        return;
    }
    const char *why = NULL;
    if (learned && (w->role == OI_ROLE_WEIGHT || w->role == OI_ROLE_EMBEDDING) &&
        (why = fixed_by_value(x, ti)) != NULL) {
        keep_fixed(x, w, why);
        return;
    }
    if (batch_repeated(x, ti, w)) {
        w->role = OI_ROLE_TOKEN;
        w->folded = 1;
        return;
    }
    if (w->role != OI_ROLE_POSITION && w->role != OI_ROLE_TOKEN && w->role != OI_ROLE_EMBEDDING &&
        w->role != OI_ROLE_REL_POS_BIAS && w->role != OI_ROLE_LAYER_SCALE)
        return;
    float *v = oi_const_floats(x, ti);
    if (!v)
        return;
    int repeated = repeated_values(v, t->n_elems);
    if (w->folded == OI_FOLDED_IF_REPEATED && !repeated) {
        w->role = OI_ROLE_NONE;
        w->folded = 0;
        w->reason = oi_arena_printf(x->arena, "constant %s puts in place of computed values, "
                                   "not a repeated token: kept", w->op);
        free(v);
        return;
    }
    if ((w->role == OI_ROLE_POSITION || w->role == OI_ROLE_TOKEN) && repeated)
        w->folded = 1;   /* gathered or expanded, then folded: equal entries stay equal */
    if (w->role != OI_ROLE_LAYER_SCALE && oi_values_mask(v, t->n_elems))
        why = "attention mask (only 0 and large negative values): kept";
    else if (oi_values_sinusoidal(t, v))
        why = "fixed sinusoidal table (sin/cos of position x frequency): a buffer, kept";
    if (why)
        keep_fixed(x, w, why);
    free(v);
}

/* A parameter-named float constant that a node uses but no known layer
 * places is counted as learned (and kept), unless its values say it is
 * fixed by construction: the summary never claims "N of N" past it. */
static void check_unplaced(const oi_actx *x, size_t ti, oi_weight *w)
{
    const oi_tensor *t = oi_model_tensor(x->model, ti);
    if (w->role != OI_ROLE_NONE || w->fixed_kind || !oi_dtype_is_float(t->dtype) ||
        t->storage == OI_STORE_NONE || !oi_name_is_parameter(t->name) ||
        oi_graph_tensor_value(x->graph, ti) < 0 || strncmp(w->reason, "not used", 8) == 0 ||
        strstr(w->reason, "quantiz"))
        return;
    const char *why = fixed_by_value(x, ti);
    if (why) {
        w->fixed_kind = 2;
        w->reason = oi_arena_copy(x->arena, why);
        return;
    }
    w->role = OI_ROLE_UNRECOGNIZED;
}

/* "/encoder/layers.3/self_attn/MatMul" -> "encoder.layers.3.self_attn".  torch
 * names a container's children with its name in front ("/mlp/mlp.0"): such a
 * component replaces the one before it. */
static void module_path(const char *node_name, char *out, size_t size)
{
    out[0] = '\0';
    if (!node_name || node_name[0] != '/' || size < 2)
        return;
    const char *last = strrchr(node_name, '/');
    size_t k = 0, prev = 0;   /* out[prev..k) is the last component written */
    for (const char *c = node_name + 1; c < last;) {
        const char *end = memchr(c, '/', (size_t)(last - c) + 1);
        size_t len = (size_t)(end - c), plen = k - prev;
        if (plen && len > plen && memcmp(c, out + prev, plen) == 0 && c[plen] == '.')
            k = prev ? prev - 1 : 0;   /* "mlp" then "mlp.0": keep "mlp.0" */
        if (k && k + 1 < size)
            out[k++] = '.';
        prev = k;
        for (size_t i = 0; i < len && k + 1 < size; i++)
            out[k++] = c[i];
        out[k] = '\0';
        c = end + 1;
    }
}

/* An eval-mode export folds BatchNorm into the convolutions: a deep conv net
 * with no normalization left and a bias on every conv (the float or the
 * quantized twin; a bias counted per conv that reads one, as an exporter may
 * share one zero tensor among many).  Re-initialized, such a net loses its
 * signal (EfficientNet-B0's output std falls to 1e-4). */
static void warn_folded_norms(const oi_actx *x, oi_analysis *a)
{
    static const char *const conv_ops[] = {"Conv", "FusedConv", "ConvInteger", "QLinearConv",
                                           NULL};
    static const size_t bias_slot[] = {2, 2, 0, 8};   /* ConvInteger: only a float Add after it */
    size_t convs = 0, conv_biases = 0, norms = 0, nodes = oi_graph_node_count(x->graph);
    unsigned char *added = calloc(nodes ? nodes : 1, 1);   /* layers a bias Add follows */
    if (!added)
        return;   /* (a warning left out, nothing wrong) */
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].role == OI_ROLE_BIAS && a->items[i].layer_node < nodes)
            added[a->items[i].layer_node] = 1;
    for (size_t i = 0; i < a->n; i++) {
        const oi_weight *w = &a->items[i];
        norms += w->role == OI_ROLE_NORM_SCALE || w->role == OI_ROLE_NORM_MEAN;
        if (w->role != OI_ROLE_WEIGHT || w->layer_node >= oi_graph_node_count(x->graph))
            continue;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, w->layer_node)->proto;
        for (size_t k = 0; conv_ops[k]; k++)
            if (oi_op_is(n, conv_ops[k])) {
                convs++;
                conv_biases += added[w->layer_node] ||
                               (bias_slot[k] && n->n_input > bias_slot[k] &&
                                *n->input[bias_slot[k]]);
            }
    }
    free(added);
    if (convs >= 8 && norms == 0 && conv_biases * 10 >= convs * 9)
        snprintf(a->warning, sizeof a->warning,
                 "%zu convolutions, every one with a bias, and no normalization: BatchNorm was "
                 "likely folded by an eval-mode export, and a re-initialized deep net without it "
                 "loses its signal unless signal-preserving gains are on (the default); or "
                 "export in training mode (torch.onnx.export(..., "
                 "training=torch.onnx.TrainingMode.TRAINING)) to keep BatchNorm", convs);
}

const char *oi_analysis_warning(const oi_analysis *a) { return a->warning; }

/* A bias takes its layer's fans (PyTorch's bias bound uses the weight's fan_in).
 * For a bias Add the layer is the node producing the Add's other operand.
 * One pass indexes weights by layer node: linear in the tensor count. */
static void link_biases(const oi_actx *x, oi_analysis *a)
{
    size_t nodes = oi_graph_node_count(x->graph);
    long *weight_of = malloc((nodes ? nodes : 1) * sizeof *weight_of);
    if (!weight_of)
        return;
    for (size_t i = 0; i < nodes; i++)
        weight_of[i] = -1;
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].role == OI_ROLE_WEIGHT && a->items[i].layer_node < nodes &&
            weight_of[a->items[i].layer_node] < 0)
            weight_of[a->items[i].layer_node] = (long)i;
    for (size_t b = 0; b < a->n; b++) {
        oi_weight *bias = &a->items[b];
        if (bias->role != OI_ROLE_BIAS)
            continue;
        size_t layer = bias->layer_node;
        const Onnx__NodeProto *n = oi_graph_node(x->graph, layer)->proto;
        if (oi_op_is(n, "Add")) {
            long other = oi_graph_input_value(x->graph, layer, 1 - bias->slot);
            long prod = other >= 0 ? oi_graph_value(x->graph, (size_t)other)->producer : -1;
            long integer = other >= 0 ? oi_rescaled_integer(x, other, NULL) : -1;
            prod = integer >= 0 ? integer : prod;
            if (prod < 0)
                continue;
            layer = (size_t)prod;
        }
        if (layer < nodes && weight_of[layer] >= 0) {
            bias->fan_in = a->items[weight_of[layer]].fan_in;
            bias->fan_out = a->items[weight_of[layer]].fan_out;
        }
    }
    free(weight_of);
}

oi_status oi_analyze(oi_model *model, const oi_graph *graph, oi_analysis **out, oi_error *err)
{
    *out = NULL;
    oi_analysis *a = calloc(1, sizeof *a);
    size_t n = oi_model_tensor_count(model);
    if (a) {
        a->items = calloc(n ? n : 1, sizeof *a->items);
        a->arena = oi_arena_new();
        a->no_quant = a->arena ? oi_arena_alloc(a->arena, sizeof *a->no_quant) : NULL;
    }
    if (!a || !a->items || !a->no_quant) {
        oi_analysis_free(a);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    a->n = n;
    size_t nv = oi_graph_value_count(graph);
    oi_actx x = {.model = model, .graph = graph, .memo_const = calloc(nv ? nv : 1, 1),
                 .memo_pos = calloc(nv ? nv : 1, 1), .memo_shape = calloc(nv ? nv : 1, 1),
                 .shapes = malloc((nv ? nv : 1) * sizeof(oi_shape)), .arena = a->arena,
                 .analysis = a};
    *a->no_quant = (oi_quant){.weight = -1, .scale = -1, .zero = -1, .in_scale = -1, .axis = -1};
    if (!x.memo_const || !x.memo_pos || !x.memo_shape || !x.shapes) {
        free(x.memo_const);
        free(x.memo_pos);
        free(x.memo_shape);
        free(x.shapes);
        oi_analysis_free(a);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    for (size_t i = 0; i < n; i++) {
        analyze_tensor(&x, i, &a->items[i]);
        check_values(&x, i, &a->items[i]);
        check_unplaced(&x, i, &a->items[i]);
    }
    link_biases(&x, a);
    oi_find_quant(&x, a);
    oi_find_ties(&x, a);
    oi_find_quant_ties(&x, a);
    warn_folded_norms(&x, a);
    free(x.memo_const);
    free(x.memo_pos);
    free(x.memo_shape);
    free(x.shapes);
    if (oi_arena_failed(a->arena)) {
        oi_analysis_free(a);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    }
    *out = a;
    return OI_OK;
}

void oi_analysis_free(oi_analysis *a)
{
    if (a) {
        free(a->items);
        oi_arena_free(a->arena);
        free(a);
    }
}

const oi_weight *oi_analysis_get(const oi_analysis *a, size_t i)
{
    return i < a->n ? &a->items[i] : NULL;
}

