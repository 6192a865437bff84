#include "graph/graph.h"

#include "common/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct {
    int parent;              /* -1: the main graph or a function body */
    Onnx__GraphProto *graph; /* NULL: a function body */
} graph_scope;

/* A slot of the name table keeps the name's hash beside the value: a probe
 * compares the hashes and reads the value's name only when they agree (a
 * million-node graph: one cache miss a probe instead of three). */
typedef struct {
    size_t value;                    /* value index + 1; 0 = empty */
    uint64_t hash;
} name_slot;

struct oi_graph {
    oi_model *model;
    oi_gnode *nodes;
    size_t n_nodes, cap_nodes;
    long **node_in, **node_out;      /* per node: value index per input/output slot */
    long *slots;                     /* ... all of them, in one block */
    oi_use *uses;                    /* every value's uses, in one block */
    oi_value *values;
    size_t n_values, cap_values;
    graph_scope *scopes;
    size_t n_scopes, cap_scopes;
    name_slot *table;                /* (scope, name) -> value */
    uint64_t hash_key;               /* random per graph: names cannot be chosen to collide */
    size_t table_size;
    long *tensor_value;              /* catalogue index -> value index */
    const void **tensor_keys;        /* TensorProto* -> catalogue index (open addressing) */
    size_t *tensor_idx, tensor_size;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Keyed and finalized so every bit of the slot depends on every byte: a model
 * cannot be built to pile its names into one probe chain. */
static uint64_t hash_name(const oi_graph *g, const char *s, int scope)
{
    uint64_t h = oi_fnv1a_str(g->hash_key ^ (uint64_t)(unsigned)scope * 0x9E3779B97F4A7C15ULL, s);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

static long lookup_hashed(const oi_graph *g, int scope, const char *name, uint64_t h)
{
    size_t mask = g->table_size - 1;
    for (size_t i = h & mask; g->table[i].value; i = (i + 1) & mask) {
        if (g->table[i].hash != h)
            continue;
        const oi_value *v = &g->values[g->table[i].value - 1];
        if (v->scope == scope && strcmp(v->name, name) == 0)
            return (long)(g->table[i].value - 1);
    }
    return -1;
}

static long lookup_local(const oi_graph *g, int scope, const char *name)
{
    return lookup_hashed(g, scope, name, hash_name(g, name, scope));
}

static void place(name_slot *t, size_t size, size_t value, uint64_t h)
{
    size_t i = h & (size - 1);
    while (t[i].value)
        i = (i + 1) & (size - 1);
    t[i].value = value + 1;
    t[i].hash = h;
}

static int rehash(oi_graph *g, size_t size)
{
    name_slot *t = calloc(size, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < g->table_size; i++)
        if (g->table[i].value)
            place(t, size, g->table[i].value - 1, g->table[i].hash);
    free(g->table);
    g->table = t;
    g->table_size = size;
    return 0;
}

/* Define (or find, if already defined in this very scope) a value. */
static long define(oi_graph *g, int scope, const char *name)
{
    uint64_t h = hash_name(g, name, scope);
    long v = lookup_hashed(g, scope, name, h);
    if (v >= 0)
        return v;
    if (grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values))
        return -1;
    if (2 * (g->n_values + 1) > g->table_size && rehash(g, 2 * g->table_size))
        return -1;
    oi_value *val = &g->values[g->n_values];
    memset(val, 0, sizeof *val);
    val->name = name;
    val->scope = scope;
    val->producer = -1;
    val->tensor = -1;
    place(g->table, g->table_size, g->n_values++, h);
    return (long)(g->n_values - 1);
}

long oi_graph_resolve(const oi_graph *g, int scope, const char *name)
{
    for (int s = scope; s >= 0; s = g->scopes[s].parent) {
        long v = lookup_local(g, s, name);
        if (v >= 0)
            return v;
    }
    return -1;
}

static long tensor_index(const oi_graph *g, const void *proto)
{
    size_t mask = g->tensor_size - 1;
    for (size_t i = hash_ptr(proto) & mask; g->tensor_keys[i]; i = (i + 1) & mask)
        if (g->tensor_keys[i] == proto)
            return (long)g->tensor_idx[i];
    return -1;
}

static int index_tensors(oi_graph *g)
{
    size_t n = oi_model_tensor_count(g->model), size = 16;
    while (size < 2 * n + 2)
        size *= 2;
    g->tensor_keys = calloc(size, sizeof *g->tensor_keys);
    g->tensor_idx = calloc(size, sizeof *g->tensor_idx);
    g->tensor_value = malloc((n ? n : 1) * sizeof *g->tensor_value);
    if (!g->tensor_keys || !g->tensor_idx || !g->tensor_value)
        return -1;
    g->tensor_size = size;
    for (size_t t = 0; t < n; t++) {
        const void *p = oi_model_tensor(g->model, t)->proto;
        size_t i = hash_ptr(p) & (size - 1);
        while (g->tensor_keys[i])
            i = (i + 1) & (size - 1);
        g->tensor_keys[i] = p;
        g->tensor_idx[i] = t;
        g->tensor_value[t] = -1;
    }
    return 0;
}

/* Scopes are numbered in the order of a depth-first walk: a scope's
 * descendants are the scopes numbered after it, up to its subtree's end. */
static int new_scope(oi_graph *g, int parent, Onnx__GraphProto *gp)
{
    if (grow((void **)&g->scopes, &g->cap_scopes, g->n_scopes + 1, sizeof *g->scopes))
        return -1;
    g->scopes[g->n_scopes] = (graph_scope){parent, gp};
    return (int)g->n_scopes++;
}

static int define_graph(oi_graph *g, Onnx__GraphProto *gp, int parent);

static int define_node(oi_graph *g, Onnx__NodeProto *n, int scope)
{
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
        return -1;
    size_t idx = g->n_nodes++;
    g->nodes[idx] = (oi_gnode){.proto = n, .scope = scope, .order = idx};
    int is_const = n->op_type && strcmp(n->op_type, "Constant") == 0;
    for (size_t o = 0; o < n->n_output; o++) {
        if (!n->output[o] || !*n->output[o])
            continue;
        long v = define(g, scope, n->output[o]);
        if (v < 0)
            return -1;
        if (g->values[v].producer < 0)
            g->values[v].producer = (long)idx;
        for (size_t a = 0; is_const && o == 0 && a < n->n_attribute; a++) {
            Onnx__AttributeProto *at = n->attribute[a];
            long t = at->t && at->name && strcmp(at->name, "value") == 0
                         ? tensor_index(g, at->t) : -1;
            if (t >= 0) {
                g->values[v].tensor = t;
                g->tensor_value[t] = v;
            }
        }
    }
    for (size_t a = 0; a < n->n_attribute; a++) {
        Onnx__AttributeProto *at = n->attribute[a];
        if (at->g && define_graph(g, at->g, scope) < 0)
            return -1;
        for (size_t i = 0; i < at->n_graphs; i++)
            if (define_graph(g, at->graphs[i], scope) < 0)
                return -1;
    }
    return 0;
}

static int define_graph(oi_graph *g, Onnx__GraphProto *gp, int parent)
{
    int scope = new_scope(g, parent, gp);
    if (scope < 0)
        return -1;
    for (size_t i = 0; i < gp->n_input; i++) {
        if (!gp->input[i]->name)
            continue;
        long v = define(g, scope, gp->input[i]->name);
        if (v < 0)
            return -1;
        g->values[v].is_input = 1;
        g->values[v].info = gp->input[i];
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        if (!gp->initializer[i]->name)
            continue;
        long v = define(g, scope, gp->initializer[i]->name);
        long t = tensor_index(g, gp->initializer[i]);
        if (v < 0)
            return -1;
        if (t >= 0 && g->values[v].tensor < 0) {
            g->values[v].tensor = t;
            g->tensor_value[t] = v;
        }
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if (define_node(g, gp->node[i], scope))
            return -1;
    return scope;   /* its outputs are resolved with every other read: bind_reads */
}

/* ---- Reads resolved in one walk of the scopes ----
 * Scopes are visited in their depth-first order keeping the open ones (the
 * current scope's ancestors) on a stack; a name's binding is the value of the
 * innermost open scope defining it, and closing a scope restores what its
 * values shadowed.  Linear at any depth: walking each read's scope chain
 * outward cost O(depth) a read (nested Ifs 1,000 deep: 17x the time of 100). */
typedef struct {
    const char **name;   /* per slot: a name, or NULL */
    long *value;         /* its binding: a value index, or -1 */
    size_t size;         /* a power of two, at least twice the names */
} bindings;

static long *binding(const oi_graph *g, bindings *b, const char *name, int add)
{
    size_t mask = b->size - 1;
    for (size_t i = hash_name(g, name, -1) & mask;; i = (i + 1) & mask) {
        if (!b->name[i]) {
            if (!add)
                return NULL;
            b->name[i] = name;
            b->value[i] = -1;
            return &b->value[i];
        }
        if (strcmp(b->name[i], name) == 0)
            return &b->value[i];
    }
}

static long bound(const oi_graph *g, bindings *b, const char *name)
{
    long *v = name && *name ? binding(g, b, name, 0) : NULL;
    return v ? *v : -1;
}

/* Items 0..n-1 listed by scope: items[first[s] .. first[s + 1]) are scope s's. */
static void by_scope(const oi_graph *g, int of_nodes, size_t n, size_t *first, size_t *items)
{
    for (size_t i = 0; i < n; i++)
        first[(of_nodes ? g->nodes[i].scope : g->values[i].scope) + 1]++;
    for (size_t s = 0; s < g->n_scopes; s++)
        first[s + 1] += first[s];
    size_t *at = first + g->n_scopes + 1;   /* spare tail: a cursor per scope */
    memcpy(at, first, g->n_scopes * sizeof *at);
    for (size_t i = 0; i < n; i++)
        items[at[of_nodes ? g->nodes[i].scope : g->values[i].scope]++] = i;
}

typedef struct {
    size_t *vfirst, *vals, *nfirst, *nodes;
    int *end, *open;
    long *shadow;
    bindings b;
} bind_walk;

static void open_scope(const oi_graph *g, bind_walk *w, int s)
{
    for (size_t k = w->vfirst[s]; k < w->vfirst[s + 1]; k++) {
        size_t v = w->vals[k];
        long *slot = binding(g, &w->b, g->values[v].name, 1);
        w->shadow[v] = *slot;
        *slot = (long)v;
    }
}

static void close_scope(const oi_graph *g, bind_walk *w, int s)
{
    for (size_t k = w->vfirst[s + 1]; k-- > w->vfirst[s];) {
        size_t v = w->vals[k];
        *binding(g, &w->b, g->values[v].name, 0) = w->shadow[v];
    }
}

/* Scope s's reads: its nodes' inputs, and its graph's outputs. */
static void read_scope(oi_graph *g, bind_walk *w, int s)
{
    for (size_t k = w->nfirst[s]; k < w->nfirst[s + 1]; k++) {
        size_t i = w->nodes[k];
        Onnx__NodeProto *n = g->nodes[i].proto;
        for (size_t slot = 0; slot < n->n_input; slot++)
            g->node_in[i][slot] = bound(g, &w->b, n->input[slot]);
    }
    Onnx__GraphProto *gp = g->scopes[s].graph;
    for (size_t o = 0; gp && o < gp->n_output; o++) {
        long v = bound(g, &w->b, gp->output[o]->name);
        if (v >= 0)
            g->values[v].is_output = 1;
    }
}

static int bind_reads(oi_graph *g)
{
    size_t ns = g->n_scopes, nv = g->n_values, size = 16;
    while (size < 2 * nv)
        size *= 2;
    bind_walk w = {
        .vfirst = calloc(2 * ns + 2, sizeof(size_t)), .vals = malloc((nv + 1) * sizeof(size_t)),
        .nfirst = calloc(2 * ns + 2, sizeof(size_t)),
        .nodes = malloc((g->n_nodes + 1) * sizeof(size_t)), .end = malloc((ns + 1) * sizeof(int)),
        .open = malloc((ns + 1) * sizeof(int)), .shadow = malloc((nv + 1) * sizeof(long)),
        .b = {calloc(size, sizeof(const char *)), malloc(size * sizeof(long)), size}};
    int ok = w.vfirst && w.vals && w.nfirst && w.nodes && w.end && w.open && w.shadow &&
             w.b.name && w.b.value;
    if (ok) {
        by_scope(g, 0, nv, w.vfirst, w.vals);
        by_scope(g, 1, g->n_nodes, w.nfirst, w.nodes);
        for (size_t s = 0; s < ns; s++)
            w.end[s] = (int)s;
        for (size_t s = ns; s-- > 0;) {   /* a subtree ends where its last descendant does */
            int p = g->scopes[s].parent;
            if (p >= 0 && w.end[s] > w.end[p])
                w.end[p] = w.end[s];
        }
        int depth = 0;
        for (int s = 0; s < (int)ns; s++) {
            while (depth > 0 && w.end[w.open[depth - 1]] < s)
                close_scope(g, &w, w.open[--depth]);
            open_scope(g, &w, s);
            w.open[depth++] = s;
            read_scope(g, &w, s);
        }
    }
    free(w.vfirst);
    free(w.vals);
    free(w.nfirst);
    free(w.nodes);
    free(w.end);
    free(w.open);
    free(w.shadow);
    free(w.b.name);
    free(w.b.value);
    return ok ? 0 : -1;
}

static int link_uses(oi_graph *g)
{
    /* one block for every node's slots and one for every value's uses: a model
     * of 10^6 tiny tensors would otherwise make millions of small allocations */
    size_t n_slots = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        n_slots += g->nodes[i].proto->n_input + g->nodes[i].proto->n_output;
    g->node_in = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *g->node_in);
    g->node_out = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *g->node_out);
    g->slots = malloc((n_slots ? n_slots : 1) * sizeof *g->slots);
    if (!g->node_in || !g->node_out || !g->slots)
        return -1;
    for (size_t i = 0, at = 0; i < g->n_nodes; i++) {
        Onnx__NodeProto *n = g->nodes[i].proto;
        g->node_in[i] = g->slots + at;
        g->node_out[i] = g->slots + at + n->n_input;
        at += n->n_input + n->n_output;
        for (size_t o = 0; o < n->n_output; o++)
            g->node_out[i][o] = n->output[o] && *n->output[o]
                                    ? lookup_local(g, g->nodes[i].scope, n->output[o]) : -1;
    }
    if (bind_reads(g))
        return -1;
    /* counted first, so each value's list is its exact size (a model of 10^6
     * tiny tensors holds 2*10^6 values) */
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t s = 0; s < g->nodes[i].proto->n_input; s++)
            if (g->node_in[i][s] >= 0)
                g->values[g->node_in[i][s]].cap_uses++;
    size_t n_uses = 0;
    for (size_t v = 0; v < g->n_values; v++)
        n_uses += g->values[v].cap_uses;
    if (!(g->uses = malloc((n_uses ? n_uses : 1) * sizeof *g->uses)))
        return -1;
    for (size_t v = 0, at = 0; v < g->n_values; v++) {
        g->values[v].uses = g->uses + at;
        at += g->values[v].cap_uses;
    }
    for (size_t i = 0; i < g->n_nodes; i++)   /* uses in node order, as the analysis reads them */
        for (size_t s = 0; s < g->nodes[i].proto->n_input; s++) {
            long v = g->node_in[i][s];
            if (v >= 0)
                g->values[v].uses[g->values[v].n_uses++] = (oi_use){.node = i, .slot = s};
        }
    return 0;
}

oi_status oi_graph_build(oi_model *model, oi_graph **out, oi_error *err)
{
    *out = NULL;
    oi_graph *g = calloc(1, sizeof *g);
    if (g && getrandom(&g->hash_key, sizeof g->hash_key, GRND_NONBLOCK) != sizeof g->hash_key)
        g->hash_key = OI_FNV_OFFSET ^ (uint64_t)(uintptr_t)g;   /* no entropy: still keyed */
    if (!g)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(model));
    g->model = model;
    Onnx__ModelProto *mp = oi_model_proto(model);
    int bad = index_tensors(g) || rehash(g, 256) || define_graph(g, mp->graph, -1) < 0;
    for (size_t f = 0; !bad && f < mp->n_functions; f++) {
        Onnx__FunctionProto *fn = mp->functions[f];
        int scope = new_scope(g, -1, NULL);
        bad = scope < 0;
        for (size_t i = 0; !bad && i < fn->n_input; i++) {
            long v = define(g, scope, fn->input[i]);
            bad = v < 0;
            if (!bad)
                g->values[v].is_input = 1;
        }
        for (size_t i = 0; !bad && i < fn->n_node; i++)
            bad = define_node(g, fn->node[i], scope);
    }
    oi_value *fit = !bad && g->n_values ? realloc(g->values, g->n_values * sizeof *fit) : NULL;
    if (fit) {   /* every value is defined: give back what doubling reserved */
        g->values = fit;
        g->cap_values = g->n_values;
    }
    if (bad || link_uses(g)) {
        oi_graph_free(g);
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory indexing the graph",
                       oi_model_label(model));
    }
    *out = g;
    return OI_OK;
}

void oi_graph_free(oi_graph *g)
{
    if (!g)
        return;
    free(g->slots);
    free(g->uses);
    free(g->node_in);
    free(g->node_out);
    free(g->nodes);
    free(g->values);
    free(g->scopes);
    free(g->table);
    free(g->tensor_value);
    free(g->tensor_keys);
    free(g->tensor_idx);
    free(g);
}

size_t oi_graph_node_count(const oi_graph *g) { return g->n_nodes; }
const oi_gnode *oi_graph_node(const oi_graph *g, size_t i) { return &g->nodes[i]; }
size_t oi_graph_value_count(const oi_graph *g) { return g->n_values; }
const oi_value *oi_graph_value(const oi_graph *g, size_t i) { return &g->values[i]; }

long oi_graph_input_value(const oi_graph *g, size_t node, size_t slot)
{
    return slot < g->nodes[node].proto->n_input ? g->node_in[node][slot] : -1;
}

long oi_graph_output_value(const oi_graph *g, size_t node, size_t slot)
{
    return slot < g->nodes[node].proto->n_output ? g->node_out[node][slot] : -1;
}

long oi_graph_tensor_value(const oi_graph *g, size_t tensor)
{
    return tensor < oi_model_tensor_count(g->model) ? g->tensor_value[tensor] : -1;
}
