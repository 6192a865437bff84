/* plan_rules — the --rules file: ordered rules, first match wins.
 *
 *   {"rules": [
 *     {"name": "head.*", "scheme": "normal", "std": 0.01},
 *     {"op": "Conv", "role": "weight", "scheme": "kaiming_normal", "mode": "fan_out"},
 *     {"role": "bias", "scheme": "zeros"},
 *     {"name": "encoder.*", "scheme": "keep"}]}
 *
 * Match keys (all given must hold): name (fnmatch glob on the tensor name),
 * op (the layer's op type), role, activation.  The file is checked whole
 * when loaded: unknown keys, schemes or values are errors naming the rule. */
#ifndef OI_PLAN_RULES_H
#define OI_PLAN_RULES_H

#include "analyze/analyze.h"
#include "common/status.h"
#include "model/model.h"

typedef enum {
    OI_SCHEME_KEEP, OI_SCHEME_PRESET, OI_SCHEME_ZEROS, OI_SCHEME_ONES, OI_SCHEME_CONSTANT,
    OI_SCHEME_UNIFORM, OI_SCHEME_NORMAL, OI_SCHEME_TRUNC_NORMAL, OI_SCHEME_XAVIER_UNIFORM,
    OI_SCHEME_XAVIER_NORMAL, OI_SCHEME_KAIMING_UNIFORM, OI_SCHEME_KAIMING_NORMAL,
    OI_SCHEME_LECUN_UNIFORM, OI_SCHEME_LECUN_NORMAL, OI_SCHEME_ORTHOGONAL, OI_SCHEME_IDENTITY,
    OI_SCHEME_SPARSE,
} oi_scheme;

typedef struct oi_rule_action {
    int index;              /* rule number, from 1 */
    oi_scheme scheme;
    const char *scheme_name;
    int preset;             /* OI_SCHEME_PRESET: which */
    double value, low, high, mean, std, sparsity;
    double gain;            /* NAN: the scheme's default; INFINITY: "auto" (the analysis' gain) */
    double a;               /* kaiming negative slope */
    int fan_out;            /* kaiming/lecun mode "fan_out" */
} oi_rule_action;

typedef struct oi_rules oi_rules;

oi_status oi_rules_load(const char *path, oi_rules **out, oi_error *err);
/* The file's text, NUL-terminated (malloc'd); at most 64 MiB. */
oi_status oi_rules_read_file(const char *path, char **text, oi_error *err);
oi_status oi_rules_parse(const char *text, const char *label, oi_rules **out, oi_error *err);
void oi_rules_free(oi_rules *rules);
/* The action of the first rule matching this tensor, or NULL. */
const oi_rule_action *oi_rules_match(const oi_rules *rules, const oi_tensor *t,
                                     const oi_weight *w);

#endif
