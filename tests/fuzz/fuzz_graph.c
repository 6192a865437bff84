/* libFuzzer harness with a structure-aware mutator: inputs are ONNX models,
 * mutated as graphs (an op type swapped for another the analysis knows, an
 * input rewired to another value, an attribute's integers changed, a node
 * duplicated), then re-encoded, so the pattern walks of analyze/ (norms,
 * residuals, attention, positions, ties) meet shapes no byte flip reaches.
 * The target runs load -> graph -> analyze -> plan under every preset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "graph/graph.h"
#include "model/model.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oi_model *m = NULL;
    oi_graph *g = NULL;
    oi_analysis *a = NULL;
    oi_error err;
    if (oi_model_load_buffer(data, size, NULL, "fuzz.onnx", &m, &err))
        return 0;
    if (oi_graph_build(m, &g, &err) == OI_OK)   /* reads bound in one walk = the scope chain's */
        for (size_t i = 0; i < oi_graph_node_count(g); i++) {
            const oi_gnode *n = oi_graph_node(g, i);
            for (size_t s = 0; s < n->proto->n_input; s++)
                if (n->proto->input[s] && *n->proto->input[s] &&
                    oi_graph_input_value(g, i, s) != oi_graph_resolve(g, n->scope, n->proto->input[s]))
                    abort();
        }
    if (g && oi_analyze(m, g, &a, &err) == OI_OK) {
        for (int preset = 0; preset < 5; preset++) {   /* normfree: the signal propagation forced on */
            oi_plan *p = NULL;
            oi_policy policy = oi_policy_default((oi_preset)preset);
            policy.signal = preset == 4 ? OI_SIGNAL_ON : OI_SIGNAL_AUTO;
            if (oi_plan_build(m, a, &policy, &p, &err) == OI_OK) {
                oi_plan_preserve_signal(p, m, g, a, &policy, &err);
                oi_plan_free(p);
            }
        }
    }
    oi_analysis_free(a);
    oi_graph_free(g);
    oi_model_free(m);
    return 0;
}

#ifndef OI_REPLAY_ONLY
static const char *const ops[] = {
    "Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Mul", "Sub", "Div", "Concat", "Expand",
    "Gather", "Reshape", "Transpose", "Unsqueeze", "Slice", "Softmax", "ReduceMean", "Sqrt",
    "Reciprocal", "Pow", "Sigmoid", "Relu", "Tanh", "LSTM", "GRU", "InstanceNormalization",
    "LayerNormalization", "BatchNormalization", "Range", "Shape", "Identity", "Cast", "Erf",
    "Where", "Tile", "ReduceL2", "Exp", "Clip", "Squeeze", "Flatten",
    /* quantized layouts and ORT's fused ops */
    "DequantizeLinear", "QuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv",
    "QLinearMatMul", "MatMulNBits", "GatherBlockQuantized", "FusedMatMul", "FusedConv",
    "SkipLayerNormalization", "EmbedLayerNormalization", "BiasGelu", "RotaryEmbedding",
};

static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One graph-level change to the decoded model; 0 if nothing applied. */
static int mutate_graph(Onnx__GraphProto *g, uint32_t *rnd)
{
    if (!g || g->n_node == 0)
        return 0;
    Onnx__NodeProto *n = g->node[next(rnd) % g->n_node];
    switch (next(rnd) % 4) {
    case 0: { /* another op type */
        char *op = strdup(ops[next(rnd) % (sizeof ops / sizeof *ops)]);
        if (!op)
            return 0;
        free(n->op_type);   /* protobuf-c's default allocator is malloc/free */
        n->op_type = op;
        return 1;
    }
    case 1: {  /* rewire an input to another node's output or another input */
        Onnx__NodeProto *o = g->node[next(rnd) % g->n_node];
        if (n->n_input == 0 || (o->n_output == 0 && o->n_input == 0))
            return 0;
        char **from = o->n_output ? o->output : o->input;
        size_t nf = o->n_output ? o->n_output : o->n_input;
        char *name = strdup(from[next(rnd) % nf]);
        if (!name)
            return 0;
        size_t slot = next(rnd) % n->n_input;
        free(n->input[slot]);
        n->input[slot] = name;
        return 1;
    }
    case 2:   /* an attribute's integers */
        for (size_t k = 0; k < n->n_attribute; k++) {
            Onnx__AttributeProto *at = n->attribute[k];
            if (at->has_i) {
                at->i = (int64_t)(int32_t)next(rnd) % 8;
                return 1;
            }
            if (at->n_ints) {
                at->ints[next(rnd) % at->n_ints] = (int64_t)(int32_t)next(rnd) % 8;
                return 1;
            }
        }
        return 0;
    default:  /* swap two inputs */
        if (n->n_input < 2)
            return 0;
        char *t = n->input[0];
        n->input[0] = n->input[1];
        n->input[1] = t;
        return 1;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint32_t rnd = seed | 1;
    Onnx__ModelProto *m = next(&rnd) % 8 ? onnx__model_proto__unpack(NULL, size, data) : NULL;
    if (!m || !mutate_graph(m->graph, &rnd)) {
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    size_t out = onnx__model_proto__get_packed_size(m);
    if (out <= max_size)
        onnx__model_proto__pack(m, data);
    else
        out = LLVMFuzzerMutate(data, size, max_size);
    onnx__model_proto__free_unpacked(m, NULL);
    return out;
}
#endif
