/* analyze — for every tensor of a model: is it a weight, of which layer, in
 * what layout, with what fans, followed by which activation; or why not.
 *
 * A constant is followed to the node that uses it through Identity, Cast,
 * Transpose (its permutation applied to the layout) and Reshape / Squeeze /
 * Unsqueeze / Flatten (layout as the consumer sees it).  Fans follow
 * PyTorch's convention (DESIGN.md section 3); recurrent weights per gate
 * block.  Rules worth knowing (also in the README):
 *  - tied weights: a constant used by several layers takes its role from the
 *    first use in node order (outer graphs first); the others are noted;
 *  - the activation search walks forward through scale-keeping ops, residual
 *    Adds included, at most OI_ACT_MAX_DEPTH ops; where branches disagree the
 *    first activation found (nearest, then node order) wins and is noted. */
#ifndef OI_ANALYZE_H
#define OI_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "graph/graph.h"
#include "model/model.h"
#include "model/qcodec.h"

#define OI_ACT_MAX_DEPTH 8

typedef enum {
    OI_ROLE_NONE = 0,       /* left alone: see reason */
    OI_ROLE_WEIGHT,         /* Conv, ConvTranspose, Gemm, MatMul, Attention weight */
    OI_ROLE_BIAS,
    OI_ROLE_RNN_W, OI_ROLE_RNN_R, OI_ROLE_RNN_B, OI_ROLE_RNN_P,
    OI_ROLE_NORM_SCALE, OI_ROLE_NORM_BIAS, OI_ROLE_NORM_MEAN, OI_ROLE_NORM_VAR,
    OI_ROLE_EMBEDDING,
    OI_ROLE_PRELU_SLOPE,
    OI_ROLE_POSITION,       /* learned positions: added to tokens or gathered by position */
    OI_ROLE_TOKEN,          /* class / distillation / register tokens concatenated to the sequence */
    OI_ROLE_LAYER_SCALE,    /* LayerScale / ReZero: scales a branch before its residual Add */
    OI_ROLE_REL_POS_BIAS,   /* relative position bias, gathered or folded, added to logits */
    OI_ROLE_QSCALE,         /* scale of a quantized weight: refit to its new values */
    OI_ROLE_QZERO,          /* zero point of a quantized weight */
    OI_ROLE_WN_GAIN,        /* weight norm's g: the norms of its direction v (norm_of) */
    OI_ROLE_TEMPERATURE,    /* its exp scales computed values (CLIP's logit_scale): kept unless a rule says */
    OI_ROLE_AFFINE_SCALE,   /* a parameter-named scalar multiplying a computed branch (learnable affine): 1 */
    OI_ROLE_AFFINE_SHIFT,   /* ... added to one: 0 */
    OI_ROLE_UNRECOGNIZED,   /* parameter-named float constant no known layer places: kept, counted as learned */
    OI_ROLE_COUNT
} oi_role;

typedef enum {
    OI_ACT_LINEAR = 0,
    OI_ACT_RELU, OI_ACT_RELU6, OI_ACT_LEAKY_RELU, OI_ACT_PRELU, OI_ACT_ELU, OI_ACT_CELU,
    OI_ACT_GELU, OI_ACT_SILU, OI_ACT_HARDSWISH, OI_ACT_MISH, OI_ACT_SOFTPLUS,
    OI_ACT_SELU,
    OI_ACT_TANH, OI_ACT_SIGMOID, OI_ACT_HARDSIGMOID, OI_ACT_SOFTSIGN,
} oi_act;



typedef struct oi_weight {
    oi_role role;
    const char *op;           /* op of the layer using it ("" when none) */
    const char *layer;        /* that node's name, or "" */
    size_t layer_node;        /* graph node index of the layer */
    size_t slot;              /* input slot it fills there */
    int rank;                 /* layout as the layer sees it; -1 unknown */
    int64_t dims[OI_MAX_RANK];
    int64_t fan_in, fan_out;  /* 0 when not meaningful */
    int64_t gates, directions, hidden;   /* recurrent layers (gates 1 otherwise) */
    /* Which source elements arrive at the layer, and where in its input
     * (flattened): a slice [src_lo, src_hi) lands at dst_lo.  flat_ok is 0 when
     * a Transpose or an unknown shape broke that correspondence. */
    int flat_ok;
    int64_t src_lo, src_hi, dst_lo;
    /* LSTM bias: source element ranges that are the input-side forget gate. */
    int n_forget;
    int64_t forget_start[4], forget_len[4];
    oi_act act;
    double act_param;         /* LeakyRelu alpha, ... */
    double gain;              /* torch.nn.init.calculate_gain of act */
    int residual;             /* its output reaches a residual Add before any activation */
    /* Texts ("" when none), kept by the analysis (oi_arena): */
    const char *via;          /* ops between the constant and its layer */
    const char *note;         /* tied use, branch disagreement, ... */
    const char *reason;       /* OI_ROLE_NONE: why it is left alone */
    long tied_to;             /* catalogue index this is a copy of (-1: none) */
    long norm_of;             /* WN_GAIN: catalogue index of the direction v (-1: none) */
    int tied_transposed;      /* ... as its 2-D transpose */
    int input_normalized;     /* WEIGHT: its layer reads a normalized signal (scale reset) */
    int folded;               /* REL_POS_BIAS, POSITION, TOKEN: gathered or expanded, then folded */
    int scalar_scale;         /* LAYER_SCALE: one value (ReZero/SkipInit) */
    int fixed_kind;           /* OI_ROLE_NONE with a known reason: 1 exporter constant, 2 buffer */
    oi_role fixed_role;       /* a buffer by its values or name: the role its place gives (rules may force it) */
    const char *module;       /* torch module path from node names ("encoder.layers.3.attn") */
    /* Quantized payload of this role (form != NONE), or companion.  Never NULL:
     * an unquantized weight points at its analysis's one shared unquantized
     * record, which is never written (oi_weight_quant gives a weight its own). */
    oi_quant *quant;
} oi_weight;


typedef struct oi_analysis oi_analysis;

oi_status oi_analyze(oi_model *model, const oi_graph *graph, oi_analysis **out, oi_error *err);
void oi_analysis_free(oi_analysis *a);
/* One entry per catalogue tensor, same index as oi_model_tensor(). */
const oi_weight *oi_analysis_get(const oi_analysis *a, size_t tensor);

/* A warning about the whole model (folded BatchNorm, ...), or "". */
const char *oi_analysis_warning(const oi_analysis *a);

const char *oi_role_name(oi_role role);
const char *oi_act_name(oi_act act);
/* torch.nn.init.calculate_gain for an activation (param: negative slope). */
double oi_act_gain(oi_act act, double param);

#endif
