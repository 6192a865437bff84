/* graph — an index over one model's dataflow.
 *
 * Every graph (the main graph, each If/Loop/Scan body at any depth, each
 * model-local function body) is a scope.  A value is a name defined in a
 * scope by a graph input, an initializer or a node output; a name read in a
 * body resolves to the nearest enclosing scope that defines it, so an outer
 * weight read inside an If branch has that inner node as its consumer.
 * Constants (initializers and Constant outputs) link to the model's tensor
 * catalogue. */
#ifndef OI_GRAPH_H
#define OI_GRAPH_H

#include <stddef.h>

#include "common/status.h"
#include "model/model.h"

typedef struct oi_graph oi_graph;

typedef struct oi_gnode {
    Onnx__NodeProto *proto;
    int scope;
    size_t order;            /* position in a walk of the model, outer graphs first */
} oi_gnode;

typedef struct oi_use {
    size_t node;             /* index into the node table */
    size_t slot;             /* input position */
} oi_use;

typedef struct oi_value {
    const char *name;
    int scope;
    long producer;           /* node index, or -1 (graph input, initializer) */
    long tensor;             /* catalogue index of a constant, or -1 */
    int is_input, is_output; /* declared in its graph's inputs / outputs */
    const Onnx__ValueInfoProto *info;   /* its input declaration, if any */
    oi_use *uses;
    size_t n_uses, cap_uses;   /* cap_uses: counted before the list is filled */
} oi_value;

oi_status oi_graph_build(oi_model *model, oi_graph **out, oi_error *err);
void oi_graph_free(oi_graph *g);

size_t oi_graph_node_count(const oi_graph *g);
const oi_gnode *oi_graph_node(const oi_graph *g, size_t index);
size_t oi_graph_value_count(const oi_graph *g);
const oi_value *oi_graph_value(const oi_graph *g, size_t index);

/* The value a node's input slot reads (-1: empty/optional or undefined). */
long oi_graph_input_value(const oi_graph *g, size_t node, size_t slot);
/* The value a node's output slot defines (-1 if none). */
long oi_graph_output_value(const oi_graph *g, size_t node, size_t slot);
/* The value a catalogue tensor defines (-1 for attribute tensors). */
long oi_graph_tensor_value(const oi_graph *g, size_t tensor);
/* Look a name up from a scope outward (-1 if nothing defines it). */
long oi_graph_resolve(const oi_graph *g, int scope, const char *name);

#endif
