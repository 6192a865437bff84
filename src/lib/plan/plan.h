/* plan — the analysis plus a policy gives one decision per tensor: the
 * scheme and its numbers, or "untouched" and why.  `onnxinit plan` prints
 * exactly this, and fill carries it out: one code path for both. */
#ifndef OI_PLAN_H
#define OI_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "analyze/analyze.h"
#include "graph/graph.h"
#include "common/status.h"
#include "model/model.h"

typedef enum {
    OI_PRESET_DEFAULT,      /* activation-aware (DESIGN.md section 4) */
    OI_PRESET_TORCH,        /* PyTorch's reset_parameters() per layer type */
    OI_PRESET_KERAS,        /* Keras defaults */
    OI_PRESET_TRANSFORMER,  /* truncated normal 0.02, zero biases, norms 1/0 */
    OI_PRESET_NORMFREE,     /* the default's schemes with signal-preserving gains, always */
} oi_preset;

typedef enum {
    OI_SIGNAL_AUTO = 0,     /* signal-preserving gains where the graph has no normalization */
    OI_SIGNAL_ON,           /* always (as the normfree preset) */
    OI_SIGNAL_OFF,          /* the per-tensor schemes alone */
} oi_signal_mode;

struct oi_rules;

typedef struct oi_policy {
    oi_preset preset;
    int no_forget_bias;             /* LSTM forget-gate bias 0 instead of 1 */
    int materialize;                /* plan declared-only tensors too (they get data) */
    int residual_scale;             /* transformer: 0.02/sqrt(2*layers) on residual projections */
    int residual_layers;            /* filled in by oi_plan_build: residual projections / 2 */
    double layer_scale;             /* LayerScale init (default ConvNeXt's 1e-6) */
    const char *const *only;        /* NULL-terminated globs, or NULL */
    const char *const *exclude;
    const struct oi_rules *rules;   /* --rules, tried before the preset; or NULL */
    oi_signal_mode signal;
} oi_policy;

/* The one set of defaults (a zeroed policy would mean LayerScale 0): start
 * from this and change what differs. */
#define OI_LAYER_SCALE_DEFAULT 1e-6
oi_policy oi_policy_default(oi_preset preset);

/* The std of N(0, 1) restricted to [-2, 2]: a truncated normal's draw is
 * divided by it so its std is the one asked for. */
#define OI_TRUNC_SD 0.87962566103423978

typedef enum {
    OI_FILL_NONE = 0,       /* untouched */
    OI_FILL_CONSTANT,       /* constant.value */
    OI_FILL_UNIFORM,        /* U(uniform.low, uniform.high) */
    OI_FILL_NORMAL,         /* N(normal.mean, normal.std^2) */
    OI_FILL_TRUNC_NORMAL,   /* normal.mean, std exactly normal.std: N(0,1) cut at +-2, times
                             * std / OI_TRUNC_SD (JAX/Flax/TensorFlow variance scaling; values
                             * within +-2.27 std) */
    OI_FILL_ORTHOGONAL,     /* matrices x rows x cols, each orthogonal, times matrix.gain */
    OI_FILL_IDENTITY,       /* identity / dirac per matrix, times matrix.gain */
    OI_FILL_SPARSE,         /* per column a fraction sparse.sparsity zeros, the rest N(0, std^2) */
    OI_FILL_GATE_BIAS,      /* gate_bias.value everywhere, gate_bias.gate on the listed ranges */
    OI_FILL_DISTINCT,       /* TRUNC_NORMAL drawn once per distinct original value (folded tables) */
    OI_FILL_COPY,           /* the values of tensor `source` (its 2-D transpose if transposed) */
    OI_FILL_QUANT,          /* floats drawn by `draw` (its numbers), quantized to the tensor's codes */
    OI_FILL_QUANT_SCALE,    /* the scales refit to quantized weight `source`'s new values */
    OI_FILL_QUANT_ZERO,     /* ... and its zero points */
    OI_FILL_NORMS,          /* L2 norms of tensor `source`'s new values, one per element (weight norm's g) */
} oi_fill_kind;

typedef struct oi_decision {
    oi_fill_kind kind;
    const char *scheme;     /* "he_normal", "xavier_uniform", ... (why these numbers) */
    union {   /* the numbers of `kind` (QUANT: of `draw`) */
        struct { double value; } constant;            /* CONSTANT */
        struct { double low, high; } uniform;         /* UNIFORM */
        struct { double mean, std; } normal;          /* NORMAL, TRUNC_NORMAL, DISTINCT */
        struct { double gain; } matrix;               /* ORTHOGONAL, IDENTITY */
        struct { double sparsity, std; } sparse;      /* SPARSE */
        struct { double value, gate; } gate_bias;     /* GATE_BIAS */
    };
    double gain;            /* the gain that went into those numbers, for the read-out */
    int64_t matrices, rows, cols;     /* ORTHOGONAL / IDENTITY / SPARSE */
    int n_ranges;                     /* GATE_BIAS */
    int64_t range_start[4], range_len[4];
    long source;                      /* COPY, NORMS: catalogue index of the tensor read */
    int transposed;
    oi_fill_kind draw;      /* QUANT: the float scheme drawn before quantizing */
    /* Borrowed: a plan lives within its analysis's lifetime and its own. */
    const oi_quant *q;      /* QUANT*: how the codes are stored (the analysis's); else NULL */
    const char *reason;     /* NONE: why it is left alone; signal: the gain's derivation ("") */
    double signal;          /* signal-preserving factor applied to the scheme (0: none) */
} oi_decision;

typedef struct oi_plan oi_plan;

oi_status oi_plan_build(oi_model *model, const oi_analysis *analysis, const oi_policy *policy,
                        oi_plan **out, oi_error *err);
void oi_plan_free(oi_plan *plan);
/* Signal-preserving gains (policy->signal; AUTO: in a deep graph without
 * normalization).  Moments are propagated through the graph from N(0, 1)
 * inputs, and each weight layer's zero-mean draw is rescaled so that its
 * output's second moment is 1, or OI_SIGNAL_BRANCH^2 where the output ends a
 * residual branch (NF-ResNets' alpha: each block adds alpha^2, so depth
 * grows the signal linearly, not exponentially).  Rules, ties and kept
 * tensors are not rescaled; they enter the propagation as they are. */
#define OI_SIGNAL_BRANCH 0.2
/* A layer feeding a sigmoid gate: output std 0.1, so gates start near 0.5
 * (a squeeze-excite block then halves the signal, a known factor, instead
 * of a factor that drifts with the gate's spread). */
#define OI_SIGNAL_GATE 0.1
/* The layer whose output is the model's: std 0.5, so logits start small (a
 * softmax near uniform), as the small heads of torchvision's and timm's nets. */
#define OI_SIGNAL_HEAD 0.5
oi_status oi_plan_preserve_signal(oi_plan *plan, oi_model *model, const oi_graph *graph,
                                  const oi_analysis *analysis, const oi_policy *policy,
                                  oi_error *err);
/* Layers given signal-preserving gains (0: none). */
size_t oi_plan_signal_layers(const oi_plan *plan);
/* What a user should know about the model as a whole: that signal-preserving
 * gains were chosen, or the analysis's warning, or "". */
const char *oi_plan_warning(const oi_plan *plan, const oi_analysis *analysis);
/* The role a tensor is written as: the analysis's, or for a tensor kept as
 * fixed by construction the role of its place when a rule forced it. */
oi_role oi_plan_role(const oi_weight *w, const oi_decision *d);
/* E[x] and E[x^2] of the values a decision draws; 0 if not known from the
 * decision alone (kept, copied, derived). */
int oi_decision_moments(const oi_decision *d, double *mean, double *msq);
/* One decision per catalogue tensor, same index as oi_model_tensor(). */
const oi_decision *oi_plan_get(const oi_plan *plan, size_t tensor);
const char *oi_fill_name(oi_fill_kind kind);
/* "default", "torch", ... <-> oi_preset; -1 if unknown. */
int oi_preset_parse(const char *name);
const char *oi_preset_name(oi_preset p);

#endif
