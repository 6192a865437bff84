/* signal — how a graph scales its signal.  The mean and second moment of
 * every value when the model runs on N(0, 1) inputs, propagated node by node
 * in data-flow order: a layer multiplies the second moment by
 * terms x E[w^2], branches meeting in an Add sum their moments (they do not
 * multiply), a gate multiplies by E[g^2], an activation's moments come from
 * Gaussian quadrature.  The plan uses it to choose signal-preserving gains
 * in graphs without normalization; the audit, to say what running the
 * current weights does.  Approximate by design (independence of operands,
 * Gaussian pre-activations), but linear in the graph's size. */
#ifndef OI_SIGNAL_H
#define OI_SIGNAL_H

#include <stddef.h>

#include "analyze/analyze.h"
#include "common/status.h"
#include "graph/graph.h"
#include "model/model.h"

/* E[x], E[x^2], and E[m_c^2] of the channel means m_c (a channel's mean over
 * positions: what a global average keeps).  Weights that are fixed across
 * positions turn a mean into channel means that differ, so a deep net's
 * channels drift apart; squeeze-excite gates read exactly that. */
typedef struct oi_moment {
    double mean, msq, cmsq;
} oi_moment;

/* A weight layer met on the way (Conv, Gemm, MatMul and their fused forms). */
typedef struct oi_signal_layer {
    size_t node, tensor;       /* the layer's node, its weight's catalogue index */
    oi_moment in;              /* its data input */
    double terms;              /* products summed per output (fan_in; ConvTranspose / stride) */
    int branch_end;            /* its output ends a residual branch (not the shortcut) */
    int gate;                  /* a sigmoid follows (squeeze-excite, gated units) */
    int head;                  /* its output is the model's (logits) */
} oi_signal_layer;

typedef struct oi_signal_hooks {
    /* A constant's moments (as it is, or as the plan will make it). */
    oi_moment (*constant)(void *opaque, size_t tensor);
    /* The E[w^2] the layer's weight has (or is now given); called once per
     * layer, inputs first. */
    double (*layer)(void *opaque, const oi_signal_layer *layer);
    void *opaque;
} oi_signal_hooks;

/* moments[v] for every graph value v (oi_graph_value_count of them). */
oi_status oi_signal_propagate(oi_model *model, const oi_graph *graph, const oi_analysis *analysis,
                              const oi_signal_hooks *hooks, oi_moment *moments, oi_error *err);

/* The model's float outputs, combined: the largest and smallest rms (sqrt
 * E[x^2]) among the main graph's outputs.  0 if there is none. */
int oi_signal_outputs(const oi_graph *graph, const oi_moment *moments, double *rms_max,
                      double *rms_min);

/* The moments of a float constant's stored values (N(0, 1)'s when it is not
 * float, empty, unreadable or over 2^24 elements). */
oi_moment oi_signal_stored(oi_model *model, size_t tensor);

/* A graph the per-tensor schemes cannot keep trainable: deep (>= 8 weight
 * layers) and without any normalization (BatchNorm folded by an eval-mode
 * export, or a net designed without it). */
int oi_signal_needed(const oi_analysis *analysis, size_t tensors);

#endif
