#include "plan/rules.h"

#include <fnmatch.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

typedef struct {
    char *name, *op, *role, *activation, *module;   /* NULL: any */
    oi_rule_action action;
} rule;

struct oi_rules {
    rule *items;
    size_t n;
};

static const struct { const char *name; oi_scheme scheme; } schemes[] = {
    {"keep", OI_SCHEME_KEEP}, {"zeros", OI_SCHEME_ZEROS}, {"ones", OI_SCHEME_ONES},
    {"constant", OI_SCHEME_CONSTANT}, {"uniform", OI_SCHEME_UNIFORM},
    {"normal", OI_SCHEME_NORMAL}, {"trunc_normal", OI_SCHEME_TRUNC_NORMAL},
    {"xavier_uniform", OI_SCHEME_XAVIER_UNIFORM}, {"glorot_uniform", OI_SCHEME_XAVIER_UNIFORM},
    {"xavier_normal", OI_SCHEME_XAVIER_NORMAL}, {"glorot_normal", OI_SCHEME_XAVIER_NORMAL},
    {"kaiming_uniform", OI_SCHEME_KAIMING_UNIFORM}, {"he_uniform", OI_SCHEME_KAIMING_UNIFORM},
    {"kaiming_normal", OI_SCHEME_KAIMING_NORMAL}, {"he_normal", OI_SCHEME_KAIMING_NORMAL},
    {"lecun_uniform", OI_SCHEME_LECUN_UNIFORM}, {"lecun_normal", OI_SCHEME_LECUN_NORMAL},
    {"orthogonal", OI_SCHEME_ORTHOGONAL}, {"identity", OI_SCHEME_IDENTITY},
    {"dirac", OI_SCHEME_IDENTITY}, {"eye", OI_SCHEME_IDENTITY}, {"sparse", OI_SCHEME_SPARSE},
};

static const char *const number_keys[] = {"value", "low", "high", "mean", "std", "gain", "a",
                                          "sparsity", NULL};

/* The parameters each scheme reads: a key it does not read ("std" on
 * xavier_uniform) is refused, not silently ignored. */
static const struct { oi_scheme scheme; const char *keys; } scheme_keys[] = {
    {OI_SCHEME_CONSTANT, " value "}, {OI_SCHEME_UNIFORM, " low high "},
    {OI_SCHEME_NORMAL, " mean std "}, {OI_SCHEME_TRUNC_NORMAL, " mean std "},
    {OI_SCHEME_XAVIER_UNIFORM, " gain "}, {OI_SCHEME_XAVIER_NORMAL, " gain "},
    {OI_SCHEME_KAIMING_UNIFORM, " a mode gain "}, {OI_SCHEME_KAIMING_NORMAL, " a mode gain "},
    {OI_SCHEME_LECUN_UNIFORM, " mode gain "}, {OI_SCHEME_LECUN_NORMAL, " mode gain "},
    {OI_SCHEME_ORTHOGONAL, " gain "}, {OI_SCHEME_IDENTITY, " gain "},
    {OI_SCHEME_SPARSE, " sparsity std "},
};

static int scheme_reads(oi_scheme scheme, const char *key)
{
    char word[16];
    snprintf(word, sizeof word, " %s ", key);
    for (size_t i = 0; i < sizeof scheme_keys / sizeof *scheme_keys; i++)
        if (scheme_keys[i].scheme == scheme)
            return strstr(scheme_keys[i].keys, word) != NULL;
    return 0;   /* keep, zeros, ones, a preset: no parameters */
}
static const char *const match_keys[] = {"name", "op", "role", "activation", "module", NULL};

/* The ops a learned tensor's layer can be (analyze/roles.c): a rule naming
 * another op could never match, which is almost always a typo. */
static const char *const layer_ops[] = {
    "Conv", "FusedConv", "ConvTranspose", "Gemm", "FusedGemm", "MatMul", "FusedMatMul", "Add",
    "Mul", "Concat", "Expand", "Tile", "LSTM", "GRU", "RNN", "Gather", "PRelu", "Attention",
    "MultiHeadAttention", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
    "GroupNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization", "Sub", "Div", "Where", "NhwcConv", "BiasGelu",
    "FastGelu", "BiasAdd", "BiasSoftmax", "EmbedLayerNormalization", "ConvInteger", "MatMulInteger",
    "QLinearConv", "QLinearMatMul", "QGemm", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
    "QAttention", "MatMulNBits", "GatherBlockQuantized", NULL,
};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static int valid_role(const char *s)
{
    for (int r = 0; r < OI_ROLE_COUNT; r++)
        if (strcmp(s, oi_role_name((oi_role)r)) == 0)
            return 1;
    return 0;
}

static int valid_act(const char *s)
{
    for (int a = 0; a <= OI_ACT_SOFTSIGN; a++)
        if (strcmp(s, oi_act_name((oi_act)a)) == 0)
            return 1;
    return 0;
}

static oi_status bad(oi_error *err, const char *label, size_t i, const char *what, const char *v)
{
    return oi_fail(err, OI_ERR_USAGE, "%s: rule %zu: %s%s%s%s", label, i + 1, what,
                   v ? " '" : "", v ? v : "", v ? "'" : "");
}

static oi_status parse_scheme(json_object *o, rule *r, const char *label, size_t i,
                              oi_error *err)
{
    json_object *v;
    if (!json_object_object_get_ex(o, "scheme", &v) || !json_object_is_type(v, json_type_string))
        return bad(err, label, i, "needs a \"scheme\" (string)", NULL);
    const char *s = json_object_get_string(v);
    oi_rule_action *a = &r->action;
    a->scheme_name = NULL;
    int preset = oi_preset_parse(s);
    if (preset >= 0) {
        a->scheme = OI_SCHEME_PRESET;
        a->preset = preset;
        a->scheme_name = oi_preset_name((oi_preset)preset);
    }
    for (size_t k = 0; !a->scheme_name && k < sizeof schemes / sizeof schemes[0]; k++)
        if (strcmp(s, schemes[k].name) == 0) {
            a->scheme = schemes[k].scheme;
            a->scheme_name = schemes[k].name;
        }
    if (!a->scheme_name)
        return bad(err, label, i, "unknown scheme", s);
    return OI_OK;
}

static oi_status parse_params(json_object *o, rule *r, const char *label, size_t i,
                              oi_error *err)
{
    oi_rule_action *a = &r->action;
    *a = (oi_rule_action){.index = (int)i + 1, .scheme = a->scheme, .scheme_name = a->scheme_name,
                          .preset = a->preset, .high = 1, .std = NAN, .gain = NAN,
                          .sparsity = 0.1};
    json_object_object_foreach(o, key, v) {
        if ((in_list(key, number_keys) || strcmp(key, "mode") == 0) && !scheme_reads(a->scheme, key))
            return bad(err, label, i, "its scheme does not read the key", key);
        if (in_list(key, number_keys)) {
            if (strcmp(key, "gain") == 0 && json_object_is_type(v, json_type_string) &&
                strcmp(json_object_get_string(v), "auto") == 0) {
                a->gain = INFINITY;
                continue;
            }
            if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                return bad(err, label, i, "wants a number for", key);
            double x = json_object_get_double(v);
            if (!isfinite(x))   /* json-c reads NaN, Infinity and 1e400: all-NaN weights */
                return bad(err, label, i, "wants a finite number for", key);
            double *slot[] = {&a->value, &a->low, &a->high, &a->mean, &a->std, &a->gain, &a->a,
                              &a->sparsity};
            for (int k = 0; number_keys[k]; k++)
                if (strcmp(key, number_keys[k]) == 0)
                    *slot[k] = x;
        } else if (strcmp(key, "mode") == 0) {
            const char *m = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                      : NULL;
            if (!m || (strcmp(m, "fan_in") != 0 && strcmp(m, "fan_out") != 0))
                return bad(err, label, i, "mode is \"fan_in\" or \"fan_out\", not",
                           m ? m : json_object_to_json_string(v));
            a->fan_out = strcmp(m, "fan_out") == 0;
        }
    }
    if (a->std != a->std)
        a->std = a->scheme == OI_SCHEME_SPARSE ? 0.01 : 1.0;
    if (a->scheme == OI_SCHEME_SPARSE && (a->sparsity < 0 || a->sparsity > 1))
        return bad(err, label, i, "sparsity must be in [0, 1]", NULL);
    if (a->std < 0)
        return bad(err, label, i, "std must not be negative", NULL);
    if (a->scheme == OI_SCHEME_UNIFORM && !(a->low <= a->high))
        return bad(err, label, i, "uniform needs low <= high", NULL);
    return OI_OK;
}

static oi_status parse_match(json_object *o, rule *r, const char *label, size_t i,
                             oi_error *err)
{
    json_object_object_foreach(o, key, val) {
        (void)val;
        if (!in_list(key, match_keys) && !in_list(key, number_keys) &&
            strcmp(key, "scheme") != 0 && strcmp(key, "mode") != 0 && strcmp(key, "comment") != 0)
            return bad(err, label, i, "unknown key", key);
    }
    char **slot[] = {&r->name, &r->op, &r->role, &r->activation, &r->module};
    for (int k = 0; match_keys[k]; k++) {
        json_object *v;
        if (!json_object_object_get_ex(o, match_keys[k], &v))
            continue;
        if (!json_object_is_type(v, json_type_string))
            return bad(err, label, i, "wants a string for", match_keys[k]);
        const char *s = json_object_get_string(v);
        if (k == 2 && !valid_role(s))
            return bad(err, label, i, "unknown role", s);
        if (k == 3 && !valid_act(s))
            return bad(err, label, i, "unknown activation", s);
        if (k == 1 && !in_list(s, layer_ops))
            return bad(err, label, i, "no learned tensor's layer is the op", s);
        if (!(*slot[k] = strdup(s)))
            return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    }
    return OI_OK;
}

oi_status oi_rules_parse(const char *text, const char *label, oi_rules **out, oi_error *err)
{
    *out = NULL;
    /* strict: a trailing comma or a comment is a mistake to report, not to guess past */
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, text, (int)strlen(text));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (root && jerr == json_tokener_success && tok->char_offset < (int)strlen(text)) {
        json_object_put(root);   /* something after the document */
        root = NULL;
        jerr = json_tokener_error_parse_unexpected;
    }
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success)
        return oi_fail(err, OI_ERR_USAGE, "%s: not valid JSON: %s", label,
                       json_tokener_error_desc(jerr == json_tokener_success
                                                   ? json_tokener_error_parse_eof : jerr));
    json_object *list = root;
    if (json_object_is_type(root, json_type_object) &&
        !json_object_object_get_ex(root, "rules", &list))
        list = NULL;
    if (!list || !json_object_is_type(list, json_type_array)) {
        json_object_put(root);
        return oi_fail(err, OI_ERR_USAGE, "%s: expected {\"rules\": [...]} or a list of rules",
                       label);
    }
    oi_rules *rs = calloc(1, sizeof *rs);
    size_t n = json_object_array_length(list);
    if (rs)
        rs->items = calloc(n ? n : 1, sizeof *rs->items);
    oi_status s = rs && rs->items ? OI_OK : oi_fail(err, OI_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; s == OI_OK && i < n; i++) {
        json_object *o = json_object_array_get_idx(list, i);
        rs->n = i + 1;
        if (!json_object_is_type(o, json_type_object))
            s = bad(err, label, i, "is not an object", NULL);
        else if (!(s = parse_match(o, &rs->items[i], label, i, err)) &&
                 !(s = parse_scheme(o, &rs->items[i], label, i, err)))
            s = parse_params(o, &rs->items[i], label, i, err);
    }
    json_object_put(root);
    if (s != OI_OK) {
        oi_rules_free(rs);
        return s;
    }
    *out = rs;
    return OI_OK;
}

oi_status oi_rules_read_file(const char *path, char **text, oi_error *err)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return oi_fail(err, OI_ERR_USAGE, "%s: cannot open rules file", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *p = realloc(buf, cap = 2 * cap + 8192);
            if (!p || cap > (64u << 20)) {
                free(p ? p : buf);
                fclose(f);
                return oi_fail(err, OI_ERR_USAGE, "%s: rules file too large", path);
            }
            buf = p;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    *text = buf;
    return OI_OK;
}

oi_status oi_rules_load(const char *path, oi_rules **out, oi_error *err)
{
    char *text;
    oi_status s = oi_rules_read_file(path, &text, err);
    if (s == OI_OK)
        s = oi_rules_parse(text, path, out, err);
    free(text);
    return s;
}

void oi_rules_free(oi_rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->items[i].name);
        free(rs->items[i].op);
        free(rs->items[i].role);
        free(rs->items[i].activation);
        free(rs->items[i].module);
    }
    free(rs->items);
    free(rs);
}

const oi_rule_action *oi_rules_match(const oi_rules *rs, const oi_tensor *t, const oi_weight *w)
{
    for (size_t i = 0; rs && i < rs->n; i++) {
        const rule *r = &rs->items[i];
        if ((r->name && fnmatch(r->name, t->name, 0) != 0) ||
            (r->op && strcmp(r->op, w->op) != 0) ||
            (r->role && strcmp(r->role, oi_role_name(w->role)) != 0) ||
            (r->activation && strcmp(r->activation, oi_act_name(w->act)) != 0) ||
            (r->module && fnmatch(r->module, w->module, 0) != 0))
            continue;
        return &r->action;
    }
    return NULL;
}
