#include "readout/report.h"

#include "common/utf8.h"

#include "readout/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "name count" pairs for the distinct names among names[0..n) (NULLs skipped). */
static int by_name(const void *a, const void *b)
{
    const oi_tally_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_count(const void *a, const void *b)
{
    const oi_tally_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Sorting first keeps this n log n: models have 100,000s of tensors. */
size_t oi_report_groups(const char *const *names, size_t n, oi_tally_entry **out)
{
    oi_tally_entry *e = malloc((n ? n : 1) * sizeof *e);
    *out = e;
    if (!e)
        return 0;
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            e[m++] = (oi_tally_entry){names[i], 1, i};
    qsort(e, m, sizeof *e, by_name);
    for (size_t i = 0; i < m; i++) {
        if (k && strcmp(e[k - 1].name, e[i].name) == 0) {
            e[k - 1].count++;
            continue;
        }
        e[k++] = e[i];
    }
    qsort(e, k, sizeof *e, by_count);
    return k;
}

void oi_report_reason_kind(const char *reason, char *buf, size_t size)
{
    oi_format_reason_kind(reason, buf, size);
}

char *oi_report_tally(const char *const *names, size_t n)
{
    oi_tally_entry *e;
    size_t k = oi_report_groups(names, n, &e), len = 1;
    if (!e)
        return NULL;
    for (size_t i = 0; i < k; i++)
        len += strlen(e[i].name) + 24;
    char *line = malloc(len), *at = line;
    if (line) {
        *line = '\0';
        for (size_t i = 0; i < k; i++)
            at += sprintf(at, "%s%s %zu", i ? ", " : "", e[i].name, e[i].count);
    }
    free(e);
    return line;
}

static json_object *dims_json(const oi_tensor *t)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < t->proto->n_dims; i++)
        json_object_array_add(arr, json_object_new_int64(t->proto->dims[i]));
    return arr;
}

static json_object *decision_json(const oi_decision *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", oi_json_string(d->scheme));
    json_object_object_add(o, "fill", oi_json_string(oi_fill_name(d->kind)));
    if (d->kind == OI_FILL_QUANT || d->kind == OI_FILL_QUANT_SCALE || d->kind == OI_FILL_QUANT_ZERO) {
        char g[64];
        json_object *q = json_object_new_object();
        oi_quant_granularity(d->q, g, sizeof g);
        json_object_object_add(q, "form", oi_json_string(oi_quant_form_name(d->q->form)));
        json_object_object_add(q, "granularity", oi_json_string(g));
        json_object_object_add(q, "symmetric", json_object_new_boolean(d->q->symmetric));
        json_object_object_add(q, "float_zero_points", json_object_new_boolean(d->q->zero_float));
        json_object_object_add(q, "scales", oi_json_string(d->q->keep_scale ? "kept" : "refit"));
        if (d->kind == OI_FILL_QUANT)
            json_object_object_add(q, "draw", oi_json_string(oi_fill_name(d->draw)));
        json_object_object_add(o, "quantized", q);
    }
    switch (d->kind == OI_FILL_QUANT ? d->draw : d->kind) {
    case OI_FILL_CONSTANT:
        json_object_object_add(o, "value", oi_json_number(d->constant.value));
        break;
    case OI_FILL_UNIFORM:
        json_object_object_add(o, "low", oi_json_number(d->uniform.low));
        json_object_object_add(o, "high", oi_json_number(d->uniform.high));
        break;
    case OI_FILL_NORMAL: case OI_FILL_TRUNC_NORMAL:
        json_object_object_add(o, "mean", oi_json_number(d->normal.mean));
        json_object_object_add(o, "std", oi_json_number(d->normal.std));
        break;
    case OI_FILL_ORTHOGONAL: case OI_FILL_IDENTITY:
        json_object_object_add(o, "gain", oi_json_number(d->matrix.gain));
        json_object_object_add(o, "matrices", json_object_new_int64(d->matrices));
        json_object_object_add(o, "rows", json_object_new_int64(d->rows));
        json_object_object_add(o, "cols", json_object_new_int64(d->cols));
        break;
    case OI_FILL_GATE_BIAS:
        json_object_object_add(o, "value", oi_json_number(d->gate_bias.value));
        json_object_object_add(o, "gate_value", oi_json_number(d->gate_bias.gate));
        json_object *ranges = json_object_new_array();
        for (int i = 0; i < d->n_ranges; i++) {
            json_object *r = json_object_new_array();
            json_object_array_add(r, json_object_new_int64(d->range_start[i]));
            json_object_array_add(r, json_object_new_int64(d->range_len[i]));
            json_object_array_add(ranges, r);
        }
        json_object_object_add(o, "ranges", ranges);
        break;
    case OI_FILL_SPARSE:
        json_object_object_add(o, "sparsity", oi_json_number(d->sparse.sparsity));
        json_object_object_add(o, "std", oi_json_number(d->sparse.std));
        break;
    default: break;
    }
    return o;
}

static json_object *tensor_json(const oi_tensor *t, const oi_weight *w, const oi_decision *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", oi_json_string(t->name));
    json_object_object_add(o, "where", oi_json_string(t->kind));
    json_object_object_add(o, "scope", oi_json_string(t->scope));
    json_object_object_add(o, "op", oi_json_string(w->op));
    json_object_object_add(o, "layer", oi_json_string(w->layer));
    json_object_object_add(o, "role", oi_json_string(oi_role_name(oi_plan_role(w, d))));
    json_object_object_add(o, "dtype", oi_json_string(oi_dtype_name(t->dtype)));
    json_object_object_add(o, "shape", dims_json(t));
    json_object_object_add(o, "fan_in", json_object_new_int64(w->fan_in));
    json_object_object_add(o, "fan_out", json_object_new_int64(w->fan_out));
    json_object_object_add(o, "activation", oi_json_string(oi_act_name(w->act)));
    json_object_object_add(o, "gain", oi_json_number(w->gain));
    if (w->gates > 1 || w->role == OI_ROLE_RNN_W || w->role == OI_ROLE_RNN_R) {
        json_object_object_add(o, "gates", json_object_new_int64(w->gates));
        json_object_object_add(o, "directions", json_object_new_int64(w->directions));
        json_object_object_add(o, "hidden", json_object_new_int64(w->hidden));
    }
    if (*w->via)
        json_object_object_add(o, "via", oi_json_string(w->via));
    if (*w->note)
        json_object_object_add(o, "note", oi_json_string(w->note));
    if (w->module[0])
        json_object_object_add(o, "module", oi_json_string(w->module));
    if (d->kind == OI_FILL_COPY || (d->kind == OI_FILL_QUANT && d->draw == OI_FILL_COPY))
        json_object_object_add(o, "tied_with", oi_json_string(d->reason));
    if (d->kind == OI_FILL_NORMS)
        json_object_object_add(o, "norms_of", oi_json_string(d->reason));
    if (d->signal > 0)
        json_object_object_add(o, "signal", oi_json_string(d->reason));
    json_object_object_add(o, "scheme", decision_json(d));
    return o;
}

json_object *oi_report_plan_json(oi_model *m, const oi_analysis *a, const oi_plan *p,
                                 const char *preset, oi_seed seed)
{
    json_object *root = json_object_new_object(), *tensors = json_object_new_array(),
                *left = json_object_new_array(), *by_scheme = json_object_new_object(),
                *by_role = json_object_new_object();
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        const oi_tensor *t = oi_model_tensor(m, i);
        const oi_weight *w = oi_analysis_get(a, i);
        const oi_decision *d = oi_plan_get(p, i);
        oi_role role_as = oi_plan_role(w, d);
        if (role_as == OI_ROLE_NONE || d->kind == OI_FILL_NONE) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", oi_json_string(t->name));
            json_object_object_add(o, "where", oi_json_string(t->kind));
            json_object_object_add(o, "scope", oi_json_string(t->scope));
            json_object_object_add(o, "dtype", oi_json_string(oi_dtype_name(t->dtype)));
            json_object_object_add(o, "shape", dims_json(t));
            json_object_object_add(o, "reason", oi_json_string(d->reason));
            json_object_object_add(o, "learned", json_object_new_boolean(role_as != OI_ROLE_NONE));
            json_object_array_add(left, o);
            continue;
        }
        json_object_array_add(tensors, tensor_json(t, w, d));
        json_object *c;
        const char *role = oi_role_name(role_as);
        int64_t k = json_object_object_get_ex(by_role, role, &c) ? json_object_get_int64(c) : 0;
        json_object_object_add(by_role, role, json_object_new_int64(k + 1));
        k = json_object_object_get_ex(by_scheme, d->scheme, &c) ? json_object_get_int64(c) : 0;
        json_object_object_add(by_scheme, d->scheme, json_object_new_int64(k + 1));
    }
    json_object *summary = json_object_new_object();
    json_object_object_add(summary, "tensors", json_object_new_int64((int64_t)oi_model_tensor_count(m)));
    json_object_object_add(summary, "reinitialized", json_object_new_int64((int64_t)json_object_array_length(tensors)));
    json_object_object_add(summary, "untouched", json_object_new_int64((int64_t)json_object_array_length(left)));
    int64_t learned = 0;
    for (size_t i = 0; i < oi_model_tensor_count(m); i++)
        learned += oi_plan_role(oi_analysis_get(a, i), oi_plan_get(p, i)) != OI_ROLE_NONE;
    json_object_object_add(summary, "learned", json_object_new_int64(learned));
    if (*oi_plan_warning(p, a))
        json_object_object_add(summary, "warning", oi_json_string(oi_plan_warning(p, a)));
    json_object_object_add(summary, "signal_preserving_layers",
                           json_object_new_int64((int64_t)oi_plan_signal_layers(p)));
    json_object_object_add(summary, "by_role", by_role);
    json_object_object_add(summary, "by_scheme", by_scheme);
    json_object_object_add(root, "model", oi_json_string(oi_model_label(m)));
    json_object_object_add(root, "preset", oi_json_string(preset));
    json_object_object_add(root, "seed", json_object_new_uint64(seed.value));
    json_object_object_add(root, "stream", json_object_new_int(seed.version));
    json_object_object_add(root, "tensors", tensors);
    json_object_object_add(root, "untouched", left);
    json_object_object_add(root, "summary", summary);
    return root;
}
