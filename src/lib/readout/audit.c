#include "readout/audit.h"

#include "common/utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fill/fill.h"
#include "plan/signal.h"

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

typedef struct {
    double mean, std, min, max, mean_sq;
    uint64_t n, nan_inf, zeros;
    int constant;
} tensor_stats;


static oi_status measure(oi_model *m, const oi_tensor *t, tensor_stats *s, oi_error *err)
{
    memset(s, 0, sizeof *s);
    uint8_t *buf = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!buf)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory for tensor '%s'",
                       oi_model_label(m), t->name);
    if (oi_model_read(m, t, buf, err)) {
        free(buf);
        return err->status;
    }
    double sum = 0, sq = 0, first = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->constant = 1;
    for (uint64_t i = 0; i < t->n_elems; i++) {
        double v = oi_float_get(t->dtype, buf, i);
        if (!isfinite(v)) {
            s->nan_inf++;
            continue;
        }
        if (s->n == 0)
            first = v;
        s->constant &= v == first;
        s->zeros += v == 0;
        sum += v;
        sq += v * v;
        s->min = fmin(s->min, v);
        s->max = fmax(s->max, v);
        s->n++;
    }
    free(buf);
    if (s->n) {
        s->mean = sum / (double)s->n;
        s->mean_sq = sq / (double)s->n;
        s->std = sqrt(fmax(0, s->mean_sq - s->mean * s->mean));
    }
    return OI_OK;
}

/* The std the decision's distribution has (NAN when it is not random). */
static double scheme_std(const oi_decision *d)
{
    switch (d->kind) {
    case OI_FILL_NORMAL: return d->normal.std;
    case OI_FILL_UNIFORM: return (d->uniform.high - d->uniform.low) / sqrt(12.0);
    case OI_FILL_TRUNC_NORMAL: return d->normal.std;
    case OI_FILL_ORTHOGONAL: return d->matrix.gain / sqrt((double)(d->rows > d->cols ? d->rows : d->cols));
    default: return NAN;
    }
}

static int symmetric_role(oi_role r)
{
    return r == OI_ROLE_WEIGHT || r == OI_ROLE_RNN_W || r == OI_ROLE_RNN_R ||
           r == OI_ROLE_EMBEDDING;
}

static json_object *flags_for(const oi_weight *w, const tensor_stats *s, double want)
{
    json_object *f = json_object_new_array();
    if (s->nan_inf)
        json_object_array_add(f, oi_json_string("nan_inf"));
    if (symmetric_role(w->role) && s->n > 1 && s->zeros == s->n)
        json_object_array_add(f, oi_json_string("all_zero"));
    else if (symmetric_role(w->role) && s->n > 1 && s->constant)
        json_object_array_add(f, oi_json_string("constant"));
    if (w->role == OI_ROLE_NORM_SCALE && s->n && s->zeros == s->n)
        json_object_array_add(f, oi_json_string("dead_norm"));
    if (isfinite(want) && want > 0 && s->n > 1 && !s->constant) {
        if (s->std >= 3 * want)
            json_object_array_add(f, oi_json_string("std_high"));
        else if (s->std <= want / 3)
            json_object_array_add(f, oi_json_string("std_low"));
    }
    return f;
}

static json_object *stats_json(const tensor_stats *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mean", oi_json_number(s->mean));
    json_object_object_add(o, "std", oi_json_number(s->std));
    json_object_object_add(o, "min", oi_json_number(s->n ? s->min : 0));
    json_object_object_add(o, "max", oi_json_number(s->n ? s->max : 0));
    json_object_object_add(o, "nan_inf", json_object_new_int64((int64_t)s->nan_inf));
    json_object_object_add(o, "zeros", json_object_new_int64((int64_t)s->zeros));
    return o;
}

static json_object *tensor_json(const oi_tensor *t, const oi_weight *w, const oi_decision *d,
                                const tensor_stats *s, json_object **flags)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    double want = scheme_std(d);
    json_object_object_add(o, "name", oi_json_string(t->name));
    json_object_object_add(o, "op", oi_json_string(w->op));
    json_object_object_add(o, "role", oi_json_string(oi_role_name(w->role)));
    json_object_object_add(o, "dtype", oi_json_string(oi_dtype_name(t->dtype)));
    json_object_object_add(o, "fan_in", json_object_new_int64(w->fan_in));
    json_object_object_add(o, "fan_out", json_object_new_int64(w->fan_out));
    json_object_object_add(o, "activation", oi_json_string(oi_act_name(w->act)));
    json_object_object_add(o, "stats", stats_json(s));
    json_object_object_add(e, "scheme", oi_json_string(d->scheme ? d->scheme : "-"));
    if (isfinite(want))
        json_object_object_add(e, "std", oi_json_number(want));
    else if (d->kind == OI_FILL_CONSTANT)
        json_object_object_add(e, "value", oi_json_number(d->constant.value));
    json_object_object_add(o, "expected", e);
    *flags = flags_for(w, s, want);
    json_object_object_add(o, "flags", json_object_get(*flags));
    return o;
}

/* The signal through the graph as the current weights carry it (signal.h):
 * per weight layer, its output's rms on N(0, 1) inputs. */
typedef struct {
    oi_model *model;
    json_object *profile;
} profile_walk;

static oi_moment stored_constant(void *opaque, size_t tensor)
{
    return oi_signal_stored(((profile_walk *)opaque)->model, tensor);
}

static double stored_layer(void *opaque, const oi_signal_layer *l)
{
    profile_walk *pw = opaque;
    double wsq = oi_signal_stored(pw->model, l->tensor).msq;
    double in = sqrt(fmax(0, l->in.msq)), out = sqrt(fmax(0, l->terms * wsq * l->in.msq));
    json_object *o = json_object_new_object(), *f = json_object_new_array();
    json_object_object_add(o, "name", oi_json_string(oi_model_tensor(pw->model, l->tensor)->name));
    json_object_object_add(o, "input_rms", oi_json_number(in));
    json_object_object_add(o, "factor", oi_json_number(in > 0 ? out / in : 0));
    json_object_object_add(o, "running", oi_json_number(out));
    if (out < 1e-2)
        json_object_array_add(f, oi_json_string("vanishing"));
    else if (out > 1e2)
        json_object_array_add(f, oi_json_string("exploding"));
    json_object_object_add(o, "flags", f);
    json_object_array_add(pw->profile, o);
    return wsq;
}

/* The model's outputs on N(0, 1) inputs: flags when their rms leaves [1e-2, 1e2]. */
static oi_status signal_profile(oi_model *m, const oi_graph *g, const oi_analysis *a,
                                json_object *profile, double *rms, json_object *flags,
                                oi_error *err)
{
    size_t nv = oi_graph_value_count(g);
    oi_moment *mo = malloc((nv ? nv : 1) * sizeof *mo);
    if (!mo)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", oi_model_label(m));
    profile_walk pw = {m, profile};
    oi_signal_hooks hooks = {stored_constant, stored_layer, &pw};
    oi_status s = oi_signal_propagate(m, g, a, &hooks, mo, err);
    double lo = 0;
    *rms = 1;
    if (s == OI_OK && oi_signal_outputs(g, mo, rms, &lo)) {
        if (*rms > 1e2)
            json_object_array_add(flags, oi_json_string("exploding"));
        else if (lo < 1e-2)
            json_object_array_add(flags, oi_json_string("vanishing"));
        *rms = *rms > 1e2 ? *rms : lo < 1e-2 ? lo : *rms;
    }
    free(mo);
    return s;
}

static void count_flags(json_object *counts, json_object *flags)
{
    for (size_t k = 0; k < json_object_array_length(flags); k++) {
        const char *f = json_object_get_string(json_object_array_get_idx(flags, k));
        json_object *c;
        int64_t n = json_object_object_get_ex(counts, f, &c) ? json_object_get_int64(c) : 0;
        json_object_object_add(counts, f, json_object_new_int64(n + 1));
    }
}

oi_status oi_audit_json(oi_model *m, const oi_graph *g, const oi_analysis *a, const oi_plan *p,
                        json_object **out, oi_error *err)
{
    json_object *root = json_object_new_object(), *tensors = json_object_new_array(),
                *profile = json_object_new_array(), *counts = json_object_new_object();
    double running = 1;
    int flagged = 0;
    for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
        const oi_tensor *t = oi_model_tensor(m, i);
        const oi_weight *w = oi_analysis_get(a, i);
        if (w->role == OI_ROLE_NONE || t->storage == OI_STORE_NONE || !oi_dtype_is_float(t->dtype))
            continue;
        tensor_stats s;
        if (measure(m, t, &s, err)) {
            json_object_put(root);
            json_object_put(tensors);
            json_object_put(profile);
            json_object_put(counts);
            return err->status;
        }
        json_object *flags;
        json_object_array_add(tensors, tensor_json(t, w, oi_plan_get(p, i), &s, &flags));
        flagged += json_object_array_length(flags) > 0;
        count_flags(counts, flags);
        json_object_put(flags);
    }
    json_object *model_flags = json_object_new_array();
    if (signal_profile(m, g, a, profile, &running, model_flags, err)) {
        json_object_put(root);
        json_object_put(tensors);
        json_object_put(profile);
        json_object_put(counts);
        json_object_put(model_flags);
        return err->status;
    }
    int model_flagged = json_object_array_length(model_flags) > 0;
    count_flags(counts, model_flags);
    json_object *summary = json_object_new_object();
    json_object_object_add(summary, "weights", json_object_new_int64((int64_t)json_object_array_length(tensors)));
    json_object_object_add(summary, "flagged", json_object_new_int64(flagged + model_flagged));
    json_object_object_add(summary, "flags", counts);
    json_object_object_add(summary, "signal", model_flags);
    json_object_object_add(summary, "output_rms", oi_json_number(running));
    json_object_object_add(root, "model", oi_json_string(oi_model_label(m)));
    json_object_object_add(root, "tensors", tensors);
    json_object_object_add(root, "depth_profile", profile);
    json_object_object_add(root, "summary", summary);
    *out = root;
    return OI_OK;
}

int oi_audit_flagged(json_object *audit)
{
    json_object *s = json_object_object_get(audit, "summary");
    return s ? json_object_get_int(json_object_object_get(s, "flagged")) : 0;
}

static double num(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : NAN;
}

static void flags_str(json_object *flags, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t k = 0; k < json_object_array_length(flags); k++) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%s%s", k ? "," : "",
                 json_object_get_string(json_object_array_get_idx(flags, k)));
    }
}

void oi_audit_print(FILE *out, json_object *audit)
{
    json_object *tensors = json_object_object_get(audit, "tensors");
    fprintf(out, "%-32s %-18s %-11s %7s %7s %-10s %9s %9s %9s %9s %9s  %s\n", "tensor", "op",
            "role", "fan_in", "fan_out", "activation", "mean", "std", "min", "max", "want std",
            "flags");
    for (size_t i = 0; i < json_object_array_length(tensors); i++) {
        json_object *t = json_object_array_get_idx(tensors, i);
        json_object *st = json_object_object_get(t, "stats"), *e = json_object_object_get(t, "expected");
        char flags[128], want[24];
        flags_str(json_object_object_get(t, "flags"), flags, sizeof flags);
        double ws = num(e, "std");
        snprintf(want, sizeof want, isnan(ws) ? "-" : "%.4g", ws);
        fprintf(out, "%-32s %-18s %-11s %7.0f %7.0f %-10s %9.4g %9.4g %9.4g %9.4g %9s  %s\n",
                json_object_get_string(json_object_object_get(t, "name")),
                json_object_get_string(json_object_object_get(t, "op")),
                json_object_get_string(json_object_object_get(t, "role")), num(t, "fan_in"),
                num(t, "fan_out"), json_object_get_string(json_object_object_get(t, "activation")),
                num(st, "mean"), num(st, "std"), num(st, "min"), num(st, "max"), want, flags);
    }
    json_object *profile = json_object_object_get(audit, "depth_profile");
    fprintf(out, "\nsignal (each layer's output rms on N(0,1) inputs, propagated through the graph;"
                 " branches add):\n");
    for (size_t i = 0; i < json_object_array_length(profile); i++) {
        json_object *p = json_object_array_get_idx(profile, i);
        char flags[64];
        flags_str(json_object_object_get(p, "flags"), flags, sizeof flags);
        fprintf(out, "  %3zu %-32s gain %9.4g  output rms %9.4g  %s\n", i + 1,
                json_object_get_string(json_object_object_get(p, "name")), num(p, "factor"),
                num(p, "running"), flags);
    }
    json_object *s = json_object_object_get(audit, "summary");
    fprintf(out, "\nsummary: %d weights, %d flagged %s; model output rms %.4g on N(0,1) inputs\n",
            json_object_get_int(json_object_object_get(s, "weights")),
            json_object_get_int(json_object_object_get(s, "flagged")),
            json_object_to_json_string(json_object_object_get(s, "flags")),
            num(s, "output_rms"));
}
