#include "cli.h"
#include "fill.h"
#include "onnxinit.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
"Usage: onnxinit [OPTIONS] INPUT -o OUTPUT\n"
"       onnxinit plan [OPTIONS] INPUT [--json]\n"
"Give the weights of an ONNX model the right starting values.\n"
"\n"
"Every weight is matched to its layer and the activation after it, and filled\n"
"with the scheme that fits (He for ReLU-like, Xavier for tanh/sigmoid/linear,\n"
"LeCun for SELU, orthogonal for recurrent weights, norms 1/0, biases 0).\n"
"The input is never modified; the output is written atomically.\n"
"'plan' shows, per tensor, what would be done and why, writing nothing.\n"
"\n"
"Options:\n"
"  -o, --output FILE          write the re-initialized model to FILE\n"
"  -f, --force                overwrite an existing output\n"
"      --seed N               random seed (default 0); same seed, same bytes\n"
"      --preset NAME          default (activation-aware), torch (PyTorch's own\n"
"                             reset_parameters), keras, transformer (N(0,0.02))\n"
"      --no-forget-bias       LSTM forget-gate bias 0 instead of 1\n"
"      --residual-scale       transformer preset: std 0.02/sqrt(2*layers) on\n"
"                             projections that feed a residual Add (GPT-2)\n"
"      --materialize          untrained graphs: create the weights declared only as\n"
"                             graph inputs with static shapes (or shapes without data)\n"
"      --rules FILE.json      ordered rules (name glob, op, role, activation ->\n"
"                             scheme); first match wins; see the README\n"
"      --only GLOB            re-initialize only tensors whose name matches (repeatable)\n"
"      --exclude GLOB         leave tensors whose name matches alone (repeatable)\n"
"      --external-data[=NAME] store tensors of at least --external-threshold bytes\n"
"                             in a side file NAME (default OUTPUT.data) next to OUTPUT\n"
"      --external-threshold BYTES   (default 1024)\n"
"      --full-encode          encode the whole model even when only values change\n"
"                             (slower; the default patches a copy of the input)\n"
"      --json                 plan: one JSON document instead of a table\n"
"  -j, --threads N            fill with N threads (default: one per CPU); the\n"
"                             output bytes never depend on N\n"
"  -q, --quiet                print nothing but errors\n"
"  -v, --verbose              print timings\n"
"  -h, --help                 show this help\n"
"  -V, --version              show the version\n"
"\n"
"Examples:\n"
"  onnxinit resnet18.onnx -o resnet18-init.onnx\n"
"  onnxinit plan resnet18.onnx                   what each weight gets, and why\n"
"  onnxinit plan --json model.onnx | jq '.tensors[] | {name, scheme}'\n"
"  onnxinit --preset torch model.onnx -o fresh.onnx   what PyTorch would give\n"
"  onnxinit --only 'head.*' model.onnx -o new-head.onnx   reset a classifier head\n"
"  onnxinit --materialize untrained.onnx -o ready.onnx   weights from graph inputs\n"
"  onnxinit --seed 7 model.onnx -o fresh.onnx        reproducible: same seed, same bytes\n"
"  onnxinit --exclude '*' model.onnx -o copy.onnx     nothing changed: a byte-identical copy\n"
"  onnxinit --external-data big.onnx -o out.onnx      weights go to out.onnx.data\n"
"\n"
"Exit status: 0 done, 1 an input failed (the message names file and tensor),\n"
"2 usage error.  Models that came with external data are saved with a new\n"
"data file next to the output; the input's data file is never touched.\n";

enum {
    OPT_SEED = 256, OPT_ONLY, OPT_EXCLUDE, OPT_EXTERNAL, OPT_EXT_THRESHOLD, OPT_PRESET,
    OPT_NO_FORGET, OPT_JSON, OPT_RULES, OPT_MATERIALIZE, OPT_RESIDUAL, OPT_FULL_ENCODE,
};

static const struct option long_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, 'f'},
    {"seed", required_argument, NULL, OPT_SEED},
    {"only", required_argument, NULL, OPT_ONLY},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"external-data", optional_argument, NULL, OPT_EXTERNAL},
    {"external-threshold", required_argument, NULL, OPT_EXT_THRESHOLD},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"no-forget-bias", no_argument, NULL, OPT_NO_FORGET},
    {"json", no_argument, NULL, OPT_JSON},
    {"rules", required_argument, NULL, OPT_RULES},
    {"materialize", no_argument, NULL, OPT_MATERIALIZE},
    {"residual-scale", no_argument, NULL, OPT_RESIDUAL},
    {"full-encode", no_argument, NULL, OPT_FULL_ENCODE},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char **items;
    size_t n, cap;
} glob_list;

typedef struct {
    oi_options opts;
    glob_list only, exclude;
    const char *output;
    const char *input;
    int quiet, verbose, json;
    int plan_mode;
} cli_args;

static int push_glob(glob_list *l, const char *g)
{
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        const char **p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return -1;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = g;
    l->items[l->n] = NULL;
    return 0;
}

static int parse_u64_arg(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "onnxinit: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'onnxinit --help' for more information.\n");
    return OI_EXIT_USAGE;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:fj:qvhV", long_options, NULL)) != -1) {
        switch (c) {
        case 'o': a->output = optarg; break;
        case 'f': a->opts.overwrite = 1; break;
        case 'q': a->quiet = 1; break;
        case 'j': {
            uint64_t n;
            if (parse_u64_arg(optarg, &n) || n < 1 || n > 64)
                return usage_error("-j wants a thread count from 1 to 64, not '%s'", optarg);
            a->opts.threads = (int)n;
            break;
        }
        case 'v': a->verbose = 1; break;
        case 'h': fputs(usage_text, stdout); return OI_EXIT_OK;
        case 'V': printf("onnxinit %s\n", ONNXINIT_VERSION); return OI_EXIT_OK;
        case OPT_SEED:
            if (parse_u64_arg(optarg, &a->opts.seed))
                return usage_error("--seed wants a non-negative integer, not '%s'", optarg);
            break;
        case OPT_ONLY:
        case OPT_EXCLUDE:
            if (push_glob(c == OPT_ONLY ? &a->only : &a->exclude, optarg))
                return usage_error("%s", "out of memory");
            break;
        case OPT_EXTERNAL:
            a->opts.externalize = 1;
            a->opts.external_name = optarg;
            break;
        case OPT_PRESET:
            if ((a->opts.preset = oi_options_preset(optarg)) < 0)
                return usage_error("unknown preset '%s' (default, torch, keras, transformer)",
                                   optarg);
            break;
        case OPT_NO_FORGET: a->opts.no_forget_bias = 1; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_RULES: a->opts.rules_path = optarg; break;
        case OPT_MATERIALIZE: a->opts.materialize = 1; break;
        case OPT_RESIDUAL: a->opts.residual_scale = 1; break;
        case OPT_FULL_ENCODE: a->opts.full_encode = 1; break;
        case OPT_EXT_THRESHOLD:
            if (parse_u64_arg(optarg, &a->opts.external_threshold))
                return usage_error("--external-threshold wants a byte count, not '%s'", optarg);
            break;
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "no input model given");
    a->input = argv[optind++];
    if (optind < argc)
        return usage_error("one input at a time for now (extra argument '%s')", argv[optind]);
    if (a->plan_mode && a->output)
        return usage_error("%s", "plan writes no model; drop -o");
    if (!a->plan_mode && !a->output)
        return usage_error("%s", "no output given (use -o OUTPUT)");
    if (!a->plan_mode && a->json)
        return usage_error("%s", "--json goes with 'plan' (use --report for the main job)");
    a->opts.only = a->only.items;
    a->opts.exclude = a->exclude.items;
    return -1;
}

int oi_cli_main(int argc, char **argv)
{
    cli_args a;
    memset(&a, 0, sizeof a);
    oi_fill_serial_blas();
    oi_options_init(&a.opts);
    if (argc > 1 && strcmp(argv[1], "plan") == 0) {
        a.plan_mode = 1;
        argv[1] = argv[0];   /* parse the rest as if "plan" were the program name */
        argc--;
        argv++;
    }
    int rc = parse_args(argc, argv, &a);
    if (rc < 0 && a.plan_mode) {
        oi_error err;
        oi_error_clear(&err);
        rc = OI_EXIT_OK;
        if (oi_plan_file(a.input, &a.opts, a.json, stdout, &err)) {
            fprintf(stderr, "onnxinit: %s\n", err.msg);
            rc = err.status == OI_ERR_USAGE ? OI_EXIT_USAGE : OI_EXIT_FAILED;
        }
    } else if (rc < 0) {
        oi_summary sum;
        oi_error err;
        oi_error_clear(&err);
        if (oi_reinit_file(a.input, a.output, &a.opts, &sum, &err)) {
            fprintf(stderr, "onnxinit: %s\n", err.msg);
            rc = err.status == OI_ERR_USAGE ? OI_EXIT_USAGE : OI_EXIT_FAILED;
        } else {
            if (!a.quiet) {
                printf("%s -> %s (seed %llu)\n", a.input, a.output,
                       (unsigned long long)a.opts.seed);
                printf("  re-initialized %zu of %zu tensors (%llu values): %s\n", sum.rewritten,
                       sum.tensors, (unsigned long long)sum.elements,
                       sum.rewritten ? sum.by_scheme : "none");
                if (sum.left_alone)
                    printf("  left alone %zu: %s\n", sum.left_alone, sum.left_why);
            }
            if (a.verbose)
                fprintf(stderr, "time: load %.3fs, re-initialize %.3fs, save %.3fs\n",
                        sum.seconds_load, sum.seconds_work, sum.seconds_save);
            rc = OI_EXIT_OK;
        }
    }
    free(a.only.items);
    free(a.exclude.items);
    return rc;
}
