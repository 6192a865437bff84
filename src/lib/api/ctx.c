/* The context: every option of a run, set through functions so the ABI can grow. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

unsigned oi_version_number(void) { return ONNXINIT_VERSION_NUMBER; }
const char *oi_version_string(void) { return ONNXINIT_VERSION; }

/* The integer parameters, the one place their names, defaults and ranges are
 * written: the context starts from these, the setters check against them, and
 * the program and the binding read them through oi_param_describe. */
typedef struct {
    oi_param param;
    const char *name;
    size_t offset;
    int is_u64;
    int64_t dflt, min, max;
} param_info;

#define INT_PARAM(p, field, dflt, lo, hi) {p, #field, offsetof(oi_ctx, field), 0, dflt, lo, hi}
static const param_info params[] = {
    INT_PARAM(OI_P_THREADS, threads, 0, 0, 4096),
    INT_PARAM(OI_P_FORGET_BIAS, forget_bias, 1, 0, 1),
    INT_PARAM(OI_P_MATERIALIZE, materialize, 0, 0, 1),
    INT_PARAM(OI_P_RESIDUAL_SCALE, residual_scale, 0, 0, 1),
    INT_PARAM(OI_P_FULL_ENCODE, full_encode, 0, 0, 1),
    INT_PARAM(OI_P_OVERWRITE, overwrite, 0, 0, 1),
    INT_PARAM(OI_P_IN_PLACE, in_place, 0, 0, 1),
    INT_PARAM(OI_P_EXTERNALIZE, externalize, 0, 0, 1),
    {OI_P_EXTERNAL_THRESHOLD, "external_threshold", offsetof(oi_ctx, external_threshold), 1, 1024,
     0, INT64_MAX},
    {OI_P_STREAM, "stream", offsetof(oi_ctx, seed.version), 0, OI_STREAM_LATEST, OI_STREAM_V1,
     OI_STREAM_LATEST},
    INT_PARAM(OI_P_SIGNAL, signal, OI_SIGNAL_AUTO, 0, 2),
    INT_PARAM(OI_P_NO_SYNC, no_sync, 0, 0, 1),
};

static void param_store(oi_ctx *ctx, const param_info *pi, int64_t value)
{
    char *field = (char *)ctx + pi->offset;
    if (pi->is_u64)
        *(uint64_t *)field = (uint64_t)value;
    else
        *(int *)field = (int)value;
}

oi_ctx *oi_ctx_new(void)
{
    oi_ctx *ctx = calloc(1, sizeof *ctx);
    for (size_t i = 0; ctx && i < sizeof params / sizeof *params; i++)
        param_store(ctx, &params[i], params[i].dflt);
    if (ctx)
        ctx->layer_scale = OI_LAYER_SCALE_DEFAULT;
    return ctx;
}

static void globs_free(oi_glob_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static oi_status globs_add(oi_glob_list *l, const char *glob, oi_error *err)
{
    if (!glob || !*glob)
        return oi_fail(err, OI_ERR_USAGE, "an empty glob selects nothing");
    const char **items = realloc(l->items, (l->n + 2) * sizeof *items);
    if (!items)
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    l->items = items;
    if (!(items[l->n] = strdup(glob)))
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    items[++l->n] = NULL;
    return OI_OK;
}

/* Every setter given no context says so, with its name. */
static oi_status no_context(oi_error *err, const char *fn)
{
    return oi_fail(err, OI_ERR_USAGE, "%s: no context (NULL)", fn);
}

void oi_ctx_free(oi_ctx *ctx)
{
    if (!ctx)
        return;
    globs_free(&ctx->only);
    globs_free(&ctx->exclude);
    oi_rules_free(ctx->rules);
    free(ctx->rules_text);
    free(ctx->rules_label);
    free(ctx->external_name);
    free(ctx->base_dir);
    free(ctx->label);
    free(ctx->backup_suffix);
    free(ctx);
}

static int dup_or_null(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

oi_ctx *oi_ctx_clone(const oi_ctx *ctx)
{
    if (!ctx)
        return NULL;
    oi_ctx *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *ctx;
    c->only = c->exclude = (oi_glob_list){0};
    c->rules = NULL;
    c->external_name = c->base_dir = c->label = c->backup_suffix = c->rules_text = c->rules_label = NULL;
    int ok = dup_or_null(&c->external_name, ctx->external_name) &&
             dup_or_null(&c->base_dir, ctx->base_dir) && dup_or_null(&c->label, ctx->label) &&
             dup_or_null(&c->backup_suffix, ctx->backup_suffix) &&
             dup_or_null(&c->rules_text, ctx->rules_text) &&
             dup_or_null(&c->rules_label, ctx->rules_label);
    for (size_t i = 0; ok && i < ctx->only.n; i++)
        ok = globs_add(&c->only, ctx->only.items[i], NULL) == OI_OK;
    for (size_t i = 0; ok && i < ctx->exclude.n; i++)
        ok = globs_add(&c->exclude, ctx->exclude.items[i], NULL) == OI_OK;
    if (ok && ctx->rules)
        ok = oi_rules_parse(c->rules_text, c->rules_label, &c->rules, NULL) == OI_OK;
    if (!ok) {
        oi_ctx_free(c);
        return NULL;
    }
    return c;
}

oi_status oi_ctx_set_seed(oi_ctx *ctx, uint64_t seed)
{
    if (!ctx)
        return OI_ERR_USAGE;
    ctx->seed.value = seed;
    return OI_OK;
}

oi_status oi_ctx_set_preset(oi_ctx *ctx, const char *name, oi_error *err)
{
    int p = name ? oi_preset_parse(name) : -1;
    if (!ctx)
        return no_context(err, __func__);
    if (p < 0)
        return oi_fail(err, OI_ERR_USAGE, "unknown preset '%s' (default, torch, keras, transformer)",
                       name ? name : "(null)");
    ctx->preset = (oi_preset)p;
    return OI_OK;
}

const char *oi_ctx_preset(const oi_ctx *ctx) { return ctx ? oi_preset_name(ctx->preset) : NULL; }

static const param_info *param_find(oi_param p)
{
    for (size_t i = 0; i < sizeof params / sizeof *params; i++)
        if (params[i].param == p)
            return &params[i];
    return NULL;
}

oi_status oi_ctx_set_param(oi_ctx *ctx, oi_param param, int64_t value, oi_error *err)
{
    const param_info *pi = param_find(param);
    if (!ctx)
        return no_context(err, __func__);
    if (!pi)
        return oi_fail(err, OI_ERR_USAGE, "unknown parameter %d", (int)param);
    if (value < pi->min || value > pi->max)
        return oi_fail(err, OI_ERR_USAGE, "%s: %lld is out of range [%lld, %lld]", pi->name,
                       (long long)value, (long long)pi->min, (long long)pi->max);
    param_store(ctx, pi, value);
    return OI_OK;
}

oi_status oi_param_describe(oi_param param, const char **name, int64_t *dflt, int64_t *min,
                            int64_t *max)
{
    const param_info *pi = param_find(param);
    if (!pi)
        return OI_ERR_USAGE;
    if (name)
        *name = pi->name;
    if (dflt)
        *dflt = pi->dflt;
    if (min)
        *min = pi->min;
    if (max)
        *max = pi->max;
    return OI_OK;
}

oi_status oi_ctx_get_param(const oi_ctx *ctx, oi_param param, int64_t *value)
{
    const param_info *pi = param_find(param);
    if (!ctx || !pi || !value)
        return OI_ERR_USAGE;
    const char *field = (const char *)ctx + pi->offset;
    *value = pi->is_u64 ? (int64_t) * (const uint64_t *)field : *(const int *)field;
    return OI_OK;
}

static oi_status set_rules(oi_ctx *ctx, char *text, const char *label, oi_error *err)
{
    oi_rules *rules = NULL;
    char *lab = strdup(label);
    oi_status s = lab ? oi_rules_parse(text, label, &rules, err)
                      : oi_fail(err, OI_ERR_NOMEM, "out of memory");
    if (s != OI_OK) {
        free(text);
        free(lab);
        return s;
    }
    oi_rules_free(ctx->rules);
    free(ctx->rules_text);
    free(ctx->rules_label);
    ctx->rules = rules;
    ctx->rules_text = text;
    ctx->rules_label = lab;
    return OI_OK;
}

oi_status oi_ctx_set_rules_json(oi_ctx *ctx, const char *json, oi_error *err)
{
    if (!ctx)
        return no_context(err, __func__);
    if (!json)
        return oi_fail(err, OI_ERR_USAGE, "oi_ctx_set_rules_json: no rules given");
    char *text = strdup(json);
    return text ? set_rules(ctx, text, "rules", err) : oi_fail(err, OI_ERR_NOMEM, "out of memory");
}

oi_status oi_ctx_set_rules_file(oi_ctx *ctx, const char *path, oi_error *err)
{
    if (!ctx)
        return no_context(err, __func__);
    if (!path)
        return oi_fail(err, OI_ERR_USAGE, "oi_ctx_set_rules_file: no file given");
    char *text = NULL;
    oi_status s = oi_rules_read_file(path, &text, err);
    return s ? s : set_rules(ctx, text, path, err);
}

oi_status oi_ctx_add_only(oi_ctx *ctx, const char *glob, oi_error *err)
{
    return ctx ? globs_add(&ctx->only, glob, err) : no_context(err, __func__);
}

oi_status oi_ctx_add_exclude(oi_ctx *ctx, const char *glob, oi_error *err)
{
    return ctx ? globs_add(&ctx->exclude, glob, err) : no_context(err, __func__);
}

static oi_status set_string(char **field, const char *value, oi_error *err)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return oi_fail(err, OI_ERR_NOMEM, "out of memory");
    free(*field);
    *field = copy;
    return OI_OK;
}

oi_status oi_ctx_set_external_name(oi_ctx *ctx, const char *name, oi_error *err)
{
    return ctx ? set_string(&ctx->external_name, name, err) : no_context(err, __func__);
}

oi_status oi_ctx_set_base_dir(oi_ctx *ctx, const char *dir, oi_error *err)
{
    return ctx ? set_string(&ctx->base_dir, dir, err) : no_context(err, __func__);
}

oi_status oi_ctx_set_layer_scale(oi_ctx *ctx, double value, oi_error *err)
{
    if (!ctx)
        return no_context(err, __func__);
    if (!(value >= 0 && value <= 1e3))
        return oi_fail(err, OI_ERR_USAGE, "layer scale %g: wants a value in [0, 1000]", value);
    ctx->layer_scale = value;
    return OI_OK;
}

oi_status oi_ctx_set_label(oi_ctx *ctx, const char *label, oi_error *err)
{
    return ctx ? set_string(&ctx->label, label, err) : no_context(err, __func__);
}

oi_status oi_ctx_set_backup_suffix(oi_ctx *ctx, const char *suffix, oi_error *err)
{
    if (!ctx)
        return no_context(err, __func__);
    if (suffix && (!*suffix || strchr(suffix, '/')))
        return oi_fail(err, OI_ERR_USAGE, "backup suffix '%s': wants a non-empty name part "
                       "without '/'", suffix);
    return set_string(&ctx->backup_suffix, suffix, err);
}

oi_status oi_ctx_set_cancel(oi_ctx *ctx, oi_cancel_fn fn, void *opaque)
{
    if (!ctx)
        return OI_ERR_USAGE;
    ctx->cancel.fn = fn;
    ctx->cancel.opaque = opaque;
    return OI_OK;
}

oi_status oi_ctx_set_progress(oi_ctx *ctx, oi_progress_fn fn, void *opaque)
{
    if (!ctx)
        return OI_ERR_USAGE;
    ctx->cancel.progress = fn;
    ctx->cancel.progress_opaque = opaque;
    return OI_OK;
}

oi_policy oi_ctx_policy(const oi_ctx *ctx, oi_preset preset)
{
    oi_policy p = oi_policy_default(preset);
    p.no_forget_bias = !ctx->forget_bias;
    p.only = ctx->only.items;
    p.exclude = ctx->exclude.items;
    p.materialize = ctx->materialize;
    p.residual_scale = ctx->residual_scale;
    p.layer_scale = ctx->layer_scale;
    p.rules = ctx->rules;
    p.signal = (oi_signal_mode)ctx->signal;
    return p;
}
