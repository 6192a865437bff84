#include "readout/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void shape_str(const oi_tensor *t, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < t->proto->n_dims && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)t->proto->dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

static void where_str(const oi_tensor *t, char *buf, size_t size)
{
    if (t->scope && *t->scope)
        snprintf(buf, size, "%s in %s", t->kind, t->scope);
    else
        snprintf(buf, size, "%s", t->kind);
}

/* "N(0, 0.0589)", "U(-0.1, 0.1)", "1", "orthogonal 8x[32x32]" */
static void numbers_str(const oi_decision *d, char *buf, size_t size)
{
    switch (d->kind) {
    case OI_FILL_CONSTANT: snprintf(buf, size, "%g", d->p1); break;
    case OI_FILL_UNIFORM: snprintf(buf, size, "U(%.4g, %.4g)", d->p1, d->p2); break;
    case OI_FILL_NORMAL: snprintf(buf, size, "N(%g, %.4g^2)", d->p1, d->p2); break;
    case OI_FILL_TRUNC_NORMAL:
        snprintf(buf, size, "N(%g, %.4g^2) in +-2sd", d->p1, d->p2);
        break;
    case OI_FILL_ORTHOGONAL:
        snprintf(buf, size, "%lldx[%lldx%lld] gain %.4g", (long long)d->matrices,
                 (long long)d->rows, (long long)d->cols, d->p1);
        break;
    case OI_FILL_GATE_BIAS:
        snprintf(buf, size, "%g, %g on %d range%s from %lld", d->p1, d->p2, d->n_ranges,
                 d->n_ranges > 1 ? "s" : "", (long long)d->range_start[0]);
        break;
    case OI_FILL_IDENTITY: snprintf(buf, size, "identity x %.4g", d->p1); break;
    case OI_FILL_SPARSE: snprintf(buf, size, "sparsity %g, N(0, %.4g^2)", d->p1, d->p2); break;
    default: snprintf(buf, size, "-"); break;
    }
}

/* "name count" pairs for the distinct names among names[0..n) (NULLs skipped). */
typedef struct {
    const char *name;
    size_t count, first;
} tally_entry;

static int by_name(const void *a, const void *b)
{
    const tally_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_count(const void *a, const void *b)
{
    const tally_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Sorting first keeps this n log n: models have 100,000s of tensors.
 * Most frequent first; ties in order of first appearance. */
char *oi_report_tally(const char *const *names, size_t n)
{
    tally_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e)
        return NULL;
    size_t m = 0, k = 0, len = 1;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            e[m++] = (tally_entry){names[i], 1, i};
    qsort(e, m, sizeof *e, by_name);
    for (size_t i = 0; i < m; i++) {
        if (k && strcmp(e[k - 1].name, e[i].name) == 0) {
            e[k - 1].count++;
            continue;
        }
        e[k++] = e[i];
        len += strlen(e[i].name) + 24;
    }
    qsort(e, k, sizeof *e, by_count);
    char *line = malloc(len), *at = line;
    if (line) {
        *line = '\0';
        for (size_t i = 0; i < k; i++)
            at += sprintf(at, "%s%s %zu", i ? ", " : "", e[i].name, e[i].count);
    }
    free(e);
    return line;
}

void oi_report_plan_table(FILE *out, oi_model *m, const oi_analysis *a, const oi_plan *p)
{
    fprintf(out, "%-32s %-12s %-18s %-13s %-8s %-16s %7s %7s %-11s %6s  %s\n", "tensor", "where",
            "op", "role", "dtype", "shape", "fan_in", "fan_out", "activation", "gain",
            "scheme");
    size_t counts[OI_ROLE_COUNT] = {0}, untouched = 0;
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        const oi_tensor *t = oi_model_tensor(m, i);
        const oi_weight *w = oi_analysis_get(a, i);
        const oi_decision *d = oi_plan_get(p, i);
        if (w->role == OI_ROLE_NONE || d->kind == OI_FILL_NONE) {
            untouched++;
            continue;
        }
        counts[w->role]++;
        char shape[64], where[96], nums[96], op[160];
        shape_str(t, shape, sizeof shape);
        where_str(t, where, sizeof where);
        numbers_str(d, nums, sizeof nums);
        snprintf(op, sizeof op, "%s%s%s", w->op, *w->via ? " via " : "", w->via);
        fprintf(out, "%-32s %-12s %-18s %-13s %-8s %-16s %7lld %7lld %-11s %6.4f  %s %s\n",
                t->name, where, op, oi_role_name(w->role), oi_dtype_name(t->dtype), shape,
                (long long)w->fan_in, (long long)w->fan_out,
                w->role == OI_ROLE_WEIGHT ? oi_act_name(w->act) : "-", d->gain ? d->gain : 1.0,
                d->scheme, nums);
        if (*w->note)
            fprintf(out, "%32s   note: %s\n", "", w->note);
    }
    if (untouched) {
        fprintf(out, "\nleft alone:\n");
        for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
            const oi_weight *w = oi_analysis_get(a, i);
            const oi_decision *d = oi_plan_get(p, i);
            if (w->role == OI_ROLE_NONE || d->kind == OI_FILL_NONE) {
                char where[96];
                where_str(oi_model_tensor(m, i), where, sizeof where);
                fprintf(out, "  %-32s %-12s %s\n", oi_model_tensor(m, i)->name, where, d->reason);
            }
        }
    }
    fprintf(out, "\nsummary: %zu tensors; re-initialized %zu:", oi_model_tensor_count(m),
            oi_model_tensor_count(m) - untouched);
    for (int r = 1; r < OI_ROLE_COUNT; r++)
        if (counts[r])
            fprintf(out, " %s %zu,", oi_role_name((oi_role)r), counts[r]);
    size_t n = oi_model_tensor_count(m);
    const char **schemes = calloc(n ? n : 1, sizeof *schemes), **why = calloc(n ? n : 1, sizeof *why);
    for (size_t i = 0; schemes && why && i < n; i++) {
        const oi_decision *d = oi_plan_get(p, i);
        if (oi_analysis_get(a, i)->role == OI_ROLE_NONE || d->kind == OI_FILL_NONE)
            why[i] = d->reason;
        else
            schemes[i] = d->scheme;
    }
    char *line = schemes ? oi_report_tally(schemes, n) : NULL;
    fprintf(out, " left alone %zu\n  by scheme: %s\n", untouched, line && *line ? line : "-");
    free(line);
    if (why && untouched && (line = oi_report_tally(why, n))) {
        fprintf(out, "  left alone, why: %s\n", line);
        free(line);
    }
    free(schemes);
    free(why);
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
    json_object_object_add(o, "name", json_object_new_string(d->scheme));
    json_object_object_add(o, "fill", json_object_new_string(oi_fill_name(d->kind)));
    switch (d->kind) {
    case OI_FILL_CONSTANT:
        json_object_object_add(o, "value", json_object_new_double(d->p1));
        break;
    case OI_FILL_UNIFORM:
        json_object_object_add(o, "low", json_object_new_double(d->p1));
        json_object_object_add(o, "high", json_object_new_double(d->p2));
        break;
    case OI_FILL_NORMAL: case OI_FILL_TRUNC_NORMAL:
        json_object_object_add(o, "mean", json_object_new_double(d->p1));
        json_object_object_add(o, "std", json_object_new_double(d->p2));
        break;
    case OI_FILL_ORTHOGONAL: case OI_FILL_IDENTITY:
        json_object_object_add(o, "gain", json_object_new_double(d->p1));
        json_object_object_add(o, "matrices", json_object_new_int64(d->matrices));
        json_object_object_add(o, "rows", json_object_new_int64(d->rows));
        json_object_object_add(o, "cols", json_object_new_int64(d->cols));
        break;
    case OI_FILL_GATE_BIAS:
        json_object_object_add(o, "value", json_object_new_double(d->p1));
        json_object_object_add(o, "gate_value", json_object_new_double(d->p2));
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
        json_object_object_add(o, "sparsity", json_object_new_double(d->p1));
        json_object_object_add(o, "std", json_object_new_double(d->p2));
        break;
    default: break;
    }
    return o;
}

static json_object *tensor_json(const oi_tensor *t, const oi_weight *w, const oi_decision *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(t->name));
    json_object_object_add(o, "where", json_object_new_string(t->kind));
    json_object_object_add(o, "scope", json_object_new_string(t->scope));
    json_object_object_add(o, "op", json_object_new_string(w->op));
    json_object_object_add(o, "layer", json_object_new_string(w->layer));
    json_object_object_add(o, "role", json_object_new_string(oi_role_name(w->role)));
    json_object_object_add(o, "dtype", json_object_new_string(oi_dtype_name(t->dtype)));
    json_object_object_add(o, "shape", dims_json(t));
    json_object_object_add(o, "fan_in", json_object_new_int64(w->fan_in));
    json_object_object_add(o, "fan_out", json_object_new_int64(w->fan_out));
    json_object_object_add(o, "activation", json_object_new_string(oi_act_name(w->act)));
    json_object_object_add(o, "gain", json_object_new_double(w->gain));
    if (w->gates > 1 || w->role == OI_ROLE_RNN_W || w->role == OI_ROLE_RNN_R) {
        json_object_object_add(o, "gates", json_object_new_int64(w->gates));
        json_object_object_add(o, "directions", json_object_new_int64(w->directions));
        json_object_object_add(o, "hidden", json_object_new_int64(w->hidden));
    }
    if (*w->via)
        json_object_object_add(o, "via", json_object_new_string(w->via));
    if (*w->note)
        json_object_object_add(o, "note", json_object_new_string(w->note));
    json_object_object_add(o, "scheme", decision_json(d));
    return o;
}

json_object *oi_report_plan_json(oi_model *m, const oi_analysis *a, const oi_plan *p,
                                 const char *preset)
{
    json_object *root = json_object_new_object(), *tensors = json_object_new_array(),
                *left = json_object_new_array(), *by_scheme = json_object_new_object(),
                *by_role = json_object_new_object();
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        const oi_tensor *t = oi_model_tensor(m, i);
        const oi_weight *w = oi_analysis_get(a, i);
        const oi_decision *d = oi_plan_get(p, i);
        if (w->role == OI_ROLE_NONE || d->kind == OI_FILL_NONE) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(t->name));
            json_object_object_add(o, "where", json_object_new_string(t->kind));
            json_object_object_add(o, "scope", json_object_new_string(t->scope));
            json_object_object_add(o, "dtype", json_object_new_string(oi_dtype_name(t->dtype)));
            json_object_object_add(o, "shape", dims_json(t));
            json_object_object_add(o, "reason", json_object_new_string(d->reason));
            json_object_array_add(left, o);
            continue;
        }
        json_object_array_add(tensors, tensor_json(t, w, d));
        json_object *c;
        const char *role = oi_role_name(w->role);
        int64_t k = json_object_object_get_ex(by_role, role, &c) ? json_object_get_int64(c) : 0;
        json_object_object_add(by_role, role, json_object_new_int64(k + 1));
        k = json_object_object_get_ex(by_scheme, d->scheme, &c) ? json_object_get_int64(c) : 0;
        json_object_object_add(by_scheme, d->scheme, json_object_new_int64(k + 1));
    }
    json_object *summary = json_object_new_object();
    json_object_object_add(summary, "tensors", json_object_new_int64((int64_t)oi_model_tensor_count(m)));
    json_object_object_add(summary, "reinitialized", json_object_new_int64((int64_t)json_object_array_length(tensors)));
    json_object_object_add(summary, "untouched", json_object_new_int64((int64_t)json_object_array_length(left)));
    json_object_object_add(summary, "by_role", by_role);
    json_object_object_add(summary, "by_scheme", by_scheme);
    json_object_object_add(root, "model", json_object_new_string(oi_model_label(m)));
    json_object_object_add(root, "preset", json_object_new_string(preset));
    json_object_object_add(root, "tensors", tensors);
    json_object_object_add(root, "untouched", left);
    json_object_object_add(root, "summary", summary);
    return root;
}
