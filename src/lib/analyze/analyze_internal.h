/* Shared inside analyze/, called downward:
 * node.c < fixed.c < patterns.c < act.c < roles.c < layout.c < ties.c < ties_quant.c < analyze.c. */
#ifndef OI_ANALYZE_INTERNAL_H
#define OI_ANALYZE_INTERNAL_H

#include "analyze/analyze.h"
#include "common/arena.h"

struct oi_analysis {
    oi_weight *items;
    size_t n;
    char warning[400];   /* about the model as a whole ("" if none) */
    oi_arena *arena;      /* the weights' notes and reasons, quantized records */
    oi_quant *no_quant;   /* the shared record of every unquantized weight */
};

/* oi_weight.folded while classifying: a token only if its values repeat a vector */
#define OI_FOLDED_IF_REPEATED 2

typedef struct {
    int rank;                 /* -1: unknown */
    int64_t d[OI_MAX_RANK];
} oi_shape;

typedef struct {
    oi_model *model;
    const oi_graph *graph;
    signed char *memo_const, *memo_pos;   /* per value: 0 unknown, 1 yes, -1 no */
    signed char *memo_shape;              /* per value: 0 unknown, 1 known, -1 none */
    oi_shape *shapes;                     /* ... and the shape when known */
    oi_arena *arena;                       /* where the weights' texts are kept */
    oi_analysis *analysis;
} oi_actx;

/* w's own quantized record, made (a copy of the shared unquantized one) on
 * first use; NULL when out of memory. */
oi_quant *oi_weight_quant(const oi_actx *x, oi_weight *w);

int oi_op_is(const Onnx__NodeProto *n, const char *op);
/* Is n's op one of the NULL-terminated list? (n may be NULL: no.) */
int oi_op_in(const Onnx__NodeProto *n, const char *const *ops);
const Onnx__AttributeProto *oi_attr(const Onnx__NodeProto *n, const char *name);
int64_t oi_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt);
double oi_attr_float(const Onnx__NodeProto *n, const char *name, double dflt);
/* fold.c: values of a small constant (<= max elements) as doubles, or of
 * shape arithmetic on constants (Shape, Gather, + - * /, Concat); -1 if
 * not known. */
int oi_const_values(const oi_actx *x, long value, double *out, size_t max, size_t *n);
/* Is this value a constant (initializer or Constant output)? */
int oi_is_const(const oi_actx *x, long value);

/* A layer taking a quantized weight directly (node.c's table). */
typedef enum { OI_QW_CONV, OI_QW_MATMUL, OI_QW_GEMM, OI_QW_ATTENTION } oi_qweight_kind;
typedef struct {
    const char *op;
    oi_quant_form form;
    int weight, scale, zero, bias;   /* input slots; scale -1: the rescale after the layer */
    oi_qweight_kind kind;            /* how the weight is laid out */
} oi_qlayer;
const oi_qlayer *oi_qlayer_of(const Onnx__NodeProto *n);

/* A name the exporter made ("onnx::MatMul_374", "/lm_head/..."): only such a tensor is a copy. */
int oi_exporter_named(const char *name);

/* A float constant's values as float32 (malloc'd; NULL if unreadable or huge). */
float *oi_const_floats(const oi_actx *x, size_t tensor);

/* ---- patterns.c: what the role table asks of the graph ---- */
int oi_is_const_derived(const oi_actx *x, long v);
int oi_is_normalized(const oi_actx *x, long v);
int oi_is_norm_denominator(const oi_actx *x, long v);
int oi_is_scaled_normalized(const oi_actx *x, long v);
int oi_is_groupnorm_core(const oi_actx *x, size_t node);
int oi_feeds_residual_add(const oi_actx *x, size_t node, size_t const_slot);
int oi_is_temperature(const oi_actx *x, long v, int depth);
int oi_adds_to_logits(const oi_actx *x, size_t node, size_t const_slot);
int oi_flows_to_logits(const oi_actx *x, long v, int depth);
int oi_is_positional(const oi_actx *x, long v);
int oi_input_normalized(const oi_actx *x, size_t layer, size_t weight_slot);
int oi_values_sinusoidal(const oi_tensor *t, const float *v);
int oi_values_mask(const float *v, uint64_t n);
int oi_values_binary(const float *v, uint64_t n);
int oi_values_all(const float *v, uint64_t n, float want);
/* ---- fixed.c: constants fixed by construction, by their values ---- */
/* Why a float tensor of these dims (n values) is fixed by construction (a
 * signal-processing basis, filterbank, selection matrix or filter kernel),
 * or NULL. */
const char *oi_values_fixed(const int64_t *dims, int rank, const float *v, uint64_t n);
/* Named as torch names its buffers ("...buffer...", running statistics). */
int oi_name_is_buffer(const char *name);
/* Named as frameworks name parameters: "<module>.weight", PaddlePaddle's
 * "<layer>.w_0", TensorFlow's ".../ReadVariableOp"; never an exporter's name. */
int oi_name_is_parameter(const char *name);

/* ORT's dynamic quantization: v = Cast(ConvInteger|MatMulInteger(...)) * Mul(x_scale,
 * w_scale).  The integer layer's node (or -1) and, when the weight's own scale
 * is a constant apart from the input's, that constant's value (else -1). */
long oi_rescaled_integer(const oi_actx *x, long v, long *w_scale);

/* ---- quant.c: quantized weights, their scales and zero points ---- */
/* Complete w->quant for every tensor classified through a quantized form,
 * and mark the scales and zero points that travel with them. */
void oi_find_quant(const oi_actx *x, oi_analysis *a);
/* INTEGER, QLINEAR or NBITS for the layers that take a quantized weight directly. */
oi_quant_form oi_quant_form_of(const Onnx__NodeProto *n);

/* ---- ties.c: identical or transposed copies of learned tensors ---- */
void oi_find_ties(const oi_actx *x, oi_analysis *a);
/* Roles whose tensors may be stored twice (weights, tables, tokens). */
int oi_tie_role(oi_role role);
/* ---- ties_quant.c: the same, where one copy or both are quantized ---- */
void oi_find_quant_ties(const oi_actx *x, oi_analysis *a);

/* Role, fans and layer of a constant reaching (node, slot) with layout w->dims;
 * 1 if it is a weight there, else 0 with w->reason set. */
int oi_classify_use(const oi_actx *x, size_t node, size_t slot, oi_weight *w);
/* A place a constant reaches: node + slot, with the layout seen there and
 * which of its elements arrive where (see oi_weight.flat_ok). */
typedef struct oi_reach {
    size_t node, slot;
    int rank;
    int64_t dims[OI_MAX_RANK];
    int flat_ok;
    int64_t src_lo, src_hi, dst_lo;
    long dq;                  /* the DequantizeLinear passed on the way, or -1 */
    char via[64];
} oi_reach;

#define OI_MAX_REACH 32

/* Follow a constant's value to the nodes using it, through layout-only ops
 * (Identity, Cast, Transpose, Reshape, Squeeze, Unsqueeze, Flatten, Slice,
 * Concat), appending each place it reaches to out (at most OI_MAX_REACH). */
void oi_follow_constant(const oi_actx *x, long value, oi_reach start, oi_reach *out,
                        size_t *n_out);

/* Fill w->act, act_param, gain and the note for the layer at node `layer`. */
void oi_find_activation(const oi_actx *x, size_t layer, oi_weight *w);

/* Products of dims a hostile model may make huge (a 0 elsewhere keeps the
 * tensor empty): saturate at INT64_MAX instead of overflowing. */
static inline int64_t oi_mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static inline int64_t oi_dims_product(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p = oi_mul_sat(p, d[i]);
    return p;
}

#endif
