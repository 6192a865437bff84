/* The options that set a context parameter, as one table: each row gives the
 * getopt entry, how its argument reads and the parameter it sets.  Names,
 * defaults and ranges are the library's (oi_param_describe); nothing here
 * repeats them. */
#include "cli_internal.h"
#include "common/decimal.h"   /* the library's own source, built into the program too */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PARAM_FLAG, PARAM_NUMBER, PARAM_WORD } param_arg;

typedef struct {
    const char *name;     /* the long option */
    int short_name;       /* or 0 */
    oi_param param;
    param_arg arg;
    int64_t value;        /* PARAM_FLAG: the value it sets */
    const char *words;    /* PARAM_WORD: the words of the values 0, 1, ... */
} param_option;

static const param_option param_options[] = {
    {"threads", 'j', OI_P_THREADS, PARAM_NUMBER, 0, NULL},
    {"no-forget-bias", 0, OI_P_FORGET_BIAS, PARAM_FLAG, 0, NULL},
    {"materialize", 0, OI_P_MATERIALIZE, PARAM_FLAG, 1, NULL},
    {"residual-scale", 0, OI_P_RESIDUAL_SCALE, PARAM_FLAG, 1, NULL},
    {"full-encode", 0, OI_P_FULL_ENCODE, PARAM_FLAG, 1, NULL},
    {"force", 'f', OI_P_OVERWRITE, PARAM_FLAG, 1, NULL},
    {"in-place", 0, OI_P_IN_PLACE, PARAM_FLAG, 1, NULL},
    {"external-threshold", 0, OI_P_EXTERNAL_THRESHOLD, PARAM_NUMBER, 0, NULL},
    {"stream", 0, OI_P_STREAM, PARAM_NUMBER, 0, NULL},
    {"signal", 0, OI_P_SIGNAL, PARAM_WORD, 0, "auto on off"},
    {"no-sync", 0, OI_P_NO_SYNC, PARAM_FLAG, 1, NULL},
};
#define N_PARAM_OPTIONS (sizeof param_options / sizeof *param_options)

size_t oi_cli_param_longopts(struct option *out)
{
    for (size_t i = 0; i < N_PARAM_OPTIONS; i++)
        out[i] = (struct option){param_options[i].name,
                                 param_options[i].arg == PARAM_FLAG ? no_argument
                                                                    : required_argument,
                                 NULL, OI_CLI_PARAM_OPTION + (int)i};
    return N_PARAM_OPTIONS;
}

int oi_cli_param_code(int short_name)
{
    for (size_t i = 0; i < N_PARAM_OPTIONS; i++)
        if (param_options[i].short_name && param_options[i].short_name == short_name)
            return OI_CLI_PARAM_OPTION + (int)i;
    return -1;
}

void oi_cli_param_set(cli_args *a, oi_param p, int64_t value)
{
    if ((size_t)p < OI_CLI_PARAMS) {
        a->param[p] = value;
        a->given[p] = 1;
    }
}

int oi_cli_param_given(const cli_args *a, oi_param p)
{
    return (size_t)p < OI_CLI_PARAMS && a->given[p];
}

int64_t oi_cli_param(const cli_args *a, oi_param p)
{
    int64_t dflt = 0;
    if (oi_cli_param_given(a, p))
        return a->param[p];
    oi_param_describe(p, NULL, &dflt, NULL, NULL);
    return dflt;
}

/* The value of word among the space-separated words (0, 1, ...), or -1. */
static int64_t word_value(const char *words, const char *word)
{
    size_t n = strlen(word);
    int64_t k = 0;
    for (const char *w = words; *w; k++) {
        size_t len = strcspn(w, " ");
        if (len == n && strncmp(w, word, n) == 0)
            return k;
        w += len + (w[len] == ' ');
    }
    return -1;
}

int oi_cli_param_option(cli_args *a, int code, const char *arg)
{
    const param_option *o = &param_options[code - OI_CLI_PARAM_OPTION];
    const char *name = NULL;
    int64_t v = o->value, lo = 0, hi = 0;
    oi_param_describe(o->param, &name, NULL, &lo, &hi);
    char want[160];
    if (o->arg == PARAM_WORD && (v = word_value(o->words, arg)) < 0) {
        snprintf(want, sizeof want, "--%s wants one of: %s; not '%%s'", o->name, o->words);
        return oi_cli_usage_error(want, arg);
    }
    uint64_t u = 0;
    if (o->arg == PARAM_NUMBER &&
        (oi_parse_u64(arg, &u) || u > INT64_MAX || (v = (int64_t)u) < lo || v > hi)) {
        snprintf(want, sizeof want, "--%s wants a number from %lld to %lld, not '%%s'", o->name,
                 (long long)lo, (long long)hi);
        return oi_cli_usage_error(want, arg);
    }
    oi_cli_param_set(a, o->param, v);
    return -1;
}

oi_status oi_cli_params_apply(const cli_args *a, oi_ctx *ctx, oi_error *err)
{
    oi_status s = OI_OK;
    for (size_t p = 0; s == OI_OK && p < OI_CLI_PARAMS; p++)
        if (a->given[p])
            s = oi_ctx_set_param(ctx, (oi_param)p, a->param[p], err);
    return s;
}
