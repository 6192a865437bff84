#include "cli.h"
#include "cli_internal.h"
#include "common/decimal.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: onnxinit [OPTIONS] INPUT -o OUTPUT\n"
"       onnxinit [OPTIONS] -r DIR|FILE... --output-dir OUT   (or --in-place)\n"
"       onnxinit plan [OPTIONS] INPUT [--json|--all]\n"
"       onnxinit audit INPUT [--json] [--strict]\n"
"Give the weights of an ONNX model the right starting values.\n"
"\n"
"Every weight is matched to its layer and the activation after it, and filled\n"
"with the scheme that fits (He for ReLU-like, Xavier for tanh/sigmoid/linear,\n"
"LeCun for SELU, orthogonal for recurrent weights, norms 1/0, biases 0).\n"
"The input is never modified; the output is written atomically.\n"
"'plan' shows, per tensor, what would be done and why, writing nothing.\n"
"'audit' reads a model's current weights and flags what looks wrong: all-zero or\n"
"constant weights, NaN/Inf, std far from what the layer wants (>= 3x or <= 1/3),\n"
"dead norms, and paths whose forward variance vanishes or explodes.\n"
"\n"
"Options:\n"
"  -o, --output FILE          write the re-initialized model to FILE\n"
"  -f, --force                overwrite an existing output\n"
"      --seed N               random seed (default 0); same seed, same bytes\n"
"      --stream V             random stream version: 3 (default), 2 (0.2's bytes)\n"
"                             or 1 (0.1's); a seed's bytes are kept per version\n"
"      --preset NAME          default (activation-aware), torch (PyTorch's own\n"
"                             reset_parameters), keras, transformer (N(0,0.02)),\n"
"                             normfree (default + signal-preserving gains)\n"
"      --signal MODE          auto (default): where a deep graph has no\n"
"                             normalization (BatchNorm folded by an eval-mode\n"
"                             export), rescale each layer so the signal neither\n"
"                             explodes nor vanishes; on: always; off: never\n"
"      --no-forget-bias       LSTM forget-gate bias 0 instead of 1\n"
"      --layer-scale V        LayerScale's initial value (default 1e-6, ConvNeXt's);\n"
"                             scalar ReZero/SkipInit gates start at 0\n"
"      --residual-scale       transformer preset: std 0.02/sqrt(2*layers) on\n"
"                             projections that feed a residual Add (GPT-2)\n"
"      --materialize          untrained graphs: create the weights declared only as\n"
"                             graph inputs with static shapes (or shapes without data)\n"
"      --rules FILE.json      ordered rules (name glob, op, role, activation ->\n"
"                             scheme); first match wins; see the README\n"
"      --only GLOB            re-initialize only tensors whose name or module path\n"
"                             (encoder.layers.3.attn) matches (repeatable)\n"
"      --exclude GLOB         leave tensors whose name or module matches alone\n"
"      --external-data[=NAME] store tensors of at least --external-threshold bytes\n"
"                             in a side file NAME (default OUTPUT.data) next to OUTPUT\n"
"      --external-threshold BYTES   (default 1024)\n"
"      --no-sync              write and rename a new output as cp does, without\n"
"                             fsync (after a power loss it may be empty or missing;\n"
"                             the input is never at risk; replacing a file, -f or\n"
"                             --in-place, is always fsynced)\n"
"      --full-encode          encode the whole model even when only values change\n"
"                             (slower; the default patches a copy of the input)\n"
"      --json                 plan, audit: one JSON document instead of tables\n"
"      --all                  plan: list every constant kept, not counts by reason\n"
"      --strict               audit: exit 3 when anything is flagged (for CI)\n"
"  -j, --threads N            one model: fill with N threads; many models: N at\n"
"                             once (default, or 0: one per CPU); bytes never\n"
"                             depend on N\n"
"\n"
"Many models (any of these turns batch mode on):\n"
"  -r, --recursive            take every *.onnx below the folders given\n"
"      --output-dir OUT       write each output to OUT/INPUT-PATH (mirrors the tree)\n"
"      --in-place             replace each input atomically (its data file too)\n"
"      --backup SUFFIX        with --in-place: keep the original as INPUT+SUFFIX\n"
"      --files-from FILE      read input paths from FILE, one a line ('-': stdin)\n"
"      --skip-existing        leave outputs that are newer than their input\n"
"      --fail-fast            stop at the first model that fails\n"
"      --shard K/N            only this machine's share (1 <= K <= N) of the inputs\n"
"      --max-memory SIZE      memory models may hold at once (e.g. 8G; each counts its\n"
"                             size + 256 B per protobuf message); big models wait;\n"
"                             0 (the default): no limit\n"
"      --report FILE.json     one record per model (status, error, tensors,\n"
"                             seconds, output size, sha256) and totals\n"
"  -q, --quiet                print nothing but errors\n"
"  -v, --verbose              print timings\n"
"  -h, --help                 show this help\n"
"  -V, --version              show the version\n"
"\n"
"Examples:\n"
"  onnxinit resnet18.onnx -o resnet18-init.onnx\n"
"  onnxinit plan resnet18.onnx                   what each weight gets, and why\n"
"  onnxinit plan --json model.onnx | jq '.tensors[] | {name, scheme}'\n"
"  onnxinit audit --strict trained.onnx           CI: fail on dead or broken weights\n"
"  onnxinit --preset torch model.onnx -o fresh.onnx   what PyTorch would give\n"
"  onnxinit --only 'head.*' model.onnx -o new-head.onnx   reset a classifier head\n"
"  onnxinit --materialize untrained.onnx -o ready.onnx   weights from graph inputs\n"
"  onnxinit -r models/ --output-dir fresh/ --report run.json    a whole tree\n"
"  find . -name '*.onnx' | onnxinit --files-from - --in-place --backup .orig\n"
"  onnxinit --seed 7 model.onnx -o fresh.onnx        reproducible: same seed, same bytes\n"
"  onnxinit --exclude '*' model.onnx -o copy.onnx     nothing changed: a byte-identical copy\n"
"  onnxinit --external-data big.onnx -o out.onnx      weights go to out.onnx.data\n"
"\n"
"Exit status: 0 done; 1 an input failed (the message names file and tensor;\n"
"the others are still done); 2 usage error (a bad rules file too); 3 audit\n"
"--strict found something; 130 interrupted (SIGINT, SIGTERM, SIGHUP: nothing\n"
"partial is left).  Models that came with external data are saved with a new\n"
"data file next to the output; the input's data file is never touched.\n";

static const char plan_usage_text[] =
"Usage: onnxinit plan [OPTIONS] INPUT [--json|--all]\n"
"What would be done to each tensor of INPUT, and why; writes nothing.\n"
"\n"
"  --json                one JSON document: tensors (role, layer, fans, activation,\n"
"                        scheme and its numbers), untouched ones with their reason,\n"
"                        a summary (learned, re-initialized, warning)\n"
"  --all                 list every kept constant, not counts by reason\n"
"  --seed, --stream, --preset, --signal, --rules, --only, --exclude,\n"
"  --layer-scale, --residual-scale, --no-forget-bias, --materialize\n"
"                        as for a run: the plan is what that run would do\n"
"\n"
"Exit status: 0 done, 1 the input could not be read, 2 usage error.\n";

static const char audit_usage_text[] =
"Usage: onnxinit audit [OPTIONS] INPUT [--json] [--strict]\n"
"What the current weights of INPUT look like: all-zero or constant weights,\n"
"NaN/Inf, std far from what the layer wants (>= 3x or <= 1/3), dead norms, and\n"
"the output's spread when the signal is propagated through the graph\n"
"(vanishing or exploding).\n"
"\n"
"  --json                one JSON document (per tensor, depth profile, summary)\n"
"  --strict              exit 3 when anything is flagged (for CI)\n"
"\n"
"Exit status: 0 done, 1 the input could not be read, 2 usage error, 3 flagged\n"
"(with --strict).\n";

/* The options that are not context parameters (those are cli_params.c's table). */
enum {
    OPT_SEED = 256, OPT_ONLY, OPT_EXCLUDE, OPT_EXTERNAL, OPT_PRESET, OPT_LAYER_SCALE, OPT_ALL,
    OPT_JSON, OPT_RULES, OPT_OUTPUT_DIR, OPT_BACKUP, OPT_FILES_FROM, OPT_SKIP_EXISTING,
    OPT_FAIL_FAST, OPT_SHARD, OPT_MAX_MEMORY, OPT_REPORT, OPT_STRICT,
};

static const struct option own_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"seed", required_argument, NULL, OPT_SEED},
    {"only", required_argument, NULL, OPT_ONLY},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"external-data", optional_argument, NULL, OPT_EXTERNAL},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"json", no_argument, NULL, OPT_JSON},
    {"rules", required_argument, NULL, OPT_RULES},
    {"layer-scale", required_argument, NULL, OPT_LAYER_SCALE},
    {"all", no_argument, NULL, OPT_ALL},
    {"recursive", no_argument, NULL, 'r'},
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"backup", required_argument, NULL, OPT_BACKUP},
    {"files-from", required_argument, NULL, OPT_FILES_FROM},
    {"skip-existing", no_argument, NULL, OPT_SKIP_EXISTING},
    {"fail-fast", no_argument, NULL, OPT_FAIL_FAST},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"report", required_argument, NULL, OPT_REPORT},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
};
#define N_OWN (sizeof own_options / sizeof *own_options)

/* Every long option: the parameters' table, then the program's own. */
typedef struct {
    struct option o[N_OWN + OI_CLI_PARAMS + 1];
} option_table;

static void all_options(option_table *t)
{
    size_t n = oi_cli_param_longopts(t->o);
    memcpy(t->o + n, own_options, sizeof own_options);
    t->o[n + N_OWN] = (struct option){NULL, 0, NULL, 0};
}

static int push_item(cli_list *l, const char *g)
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

int oi_cli_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "onnxinit: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'onnxinit --help' for more information.\n");
    return OI_EXIT_USAGE;
}

/* "8G", "512M", "100K", "4096" -> bytes. */
/* Digits only from the first byte: strtoull would skip spaces and wrap "-1". */
static int parse_count(const char *s, char **end, unsigned long long max, unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, end, 10);
    return errno || *out > max ? -1 : 0;
}

/* K/N exactly: "1/3x", " 1/2", "2/2/2" and 1/4294967297 are refused. */
static int parse_shard(const char *s, unsigned *k, unsigned *n)
{
    char *end;
    unsigned long long a, b;
    if (parse_count(s, &end, UINT_MAX, &a) || *end != '/' ||
        parse_count(end + 1, &end, UINT_MAX, &b) || *end || b == 0 || a < 1 || a > b)
        return -1;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (parse_count(s, &end, UINT64_MAX, &v))
        return -1;
    int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
              : *end == 'G' || *end == 'g' ? 30 : *end == 'T' || *end == 't' ? 40 : 0;
    if (shift)
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* "--no-sycn": the option meant, if one is within two edits. */
static int unknown_option(const struct option *long_options, const char *given)
{
    const char *word = given;
    while (*word == '-')
        word++;
    char name[40];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(word, "="), word);
    for (const struct option *o = long_options; o->name; o++)
        if (strcmp(name, o->name) == 0)
            return oi_cli_usage_error("option '%s' wants a value", given);
    for (const struct option *o = long_options; o->name; o++)
        if (strlen(name) > 2 && oi_cli_edits(name, o->name) <= 2) {
            char msg[96];
            snprintf(msg, sizeof msg, "'%.30s' (did you mean '--%s'?)", given, o->name);
            return oi_cli_usage_error("unknown option %s", msg);
        }
    return oi_cli_usage_error("unknown or incomplete option '%s'", given);
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    int c;
    option_table t;
    all_options(&t);
    opterr = 0;
    optind = 0;   /* glibc: a full restart, so the parser can run more than once (fuzzing) */
    while ((c = getopt_long(argc, argv, "o:fj:rqvhV", t.o, NULL)) != -1) {
        int short_param = c > 0 && c < 256 ? oi_cli_param_code(c) : -1;   /* -f, -j */
        int code = short_param >= 0 ? short_param : c;
        if (code >= OI_CLI_PARAM_OPTION) {
            int rc = oi_cli_param_option(a, code, optarg);
            if (rc >= 0)
                return rc;
            continue;
        }
        switch (c) {
        case 'o': a->output = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'r': a->recursive = 1; break;
        case OPT_OUTPUT_DIR: a->output_dir = optarg; break;
        case OPT_BACKUP:
            if (!*optarg)
                return oi_cli_usage_error("%s", "--backup wants a non-empty SUFFIX (e.g. .orig)");
            a->backup = optarg;
            break;
        case OPT_FILES_FROM: a->files_from = optarg; break;
        case OPT_SKIP_EXISTING: a->skip_existing = 1; break;
        case OPT_FAIL_FAST: a->fail_fast = 1; break;
        case OPT_REPORT: a->report = optarg; break;
        case OPT_STRICT: a->strict = 1; break;
        case OPT_SHARD:
            if (parse_shard(optarg, &a->shard_k, &a->shard_n))
                return oi_cli_usage_error("--shard wants K/N with 1 <= K <= N, not '%s'", optarg);
            break;
        case OPT_MAX_MEMORY:
            if (parse_size(optarg, &a->max_memory))
                return oi_cli_usage_error("--max-memory wants a size like 512M or 8G, not '%s'",
                                          optarg);
            break;
        case 'v': a->verbose = 1; break;
        case 'h':
            fputs(a->plan_mode == 1 ? plan_usage_text : a->plan_mode == 2 ? audit_usage_text
                                                                          : usage_text, stdout);
            return OI_EXIT_OK;
        case 'V': printf("onnxinit %s\n", ONNXINIT_VERSION); return OI_EXIT_OK;
        case OPT_SEED:
            if (oi_parse_u64(optarg, &a->seed))
                return oi_cli_usage_error("--seed wants a non-negative integer, not '%s'", optarg);
            break;
        case OPT_ONLY:
        case OPT_EXCLUDE:
            if (push_item(c == OPT_ONLY ? &a->only : &a->exclude, optarg))
                return oi_cli_usage_error("%s", "out of memory");
            break;
        case OPT_EXTERNAL:   /* a parameter and a name */
            oi_cli_param_set(a, OI_P_EXTERNALIZE, 1);
            a->external_name = optarg;
            break;
        case OPT_PRESET:
            a->preset = optarg;
            break;
        case OPT_JSON: a->json = 1; break;
        case OPT_ALL: a->all = 1; break;
        case OPT_RULES: a->rules = optarg; break;
        case OPT_LAYER_SCALE: {
            char *end;
            errno = 0;
            a->layer_scale = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(a->layer_scale >= 0 && a->layer_scale <= 1e3))
                return oi_cli_usage_error("--layer-scale wants a value from 0 to 1000, not '%s'",
                                          optarg);
            a->layer_scale_given = 1;
            break;
        }
        default:
            return unknown_option(t.o, argv[optind - 1]);
        }
    }
    for (; optind < argc; optind++)
        if (push_item(&a->inputs, argv[optind]))
            return oi_cli_usage_error("%s", "out of memory");
    if (a->plan_mode && a->inputs.n != 1)
        return oi_cli_usage_error("%s", "plan and audit read one model");
    if (a->plan_mode && a->output)
        return oi_cli_usage_error("%s", "plan and audit write no model; drop -o");
    int in_place = (int)oi_cli_param(a, OI_P_IN_PLACE);
    if (oi_cli_param(a, OI_P_RESIDUAL_SCALE) && (!a->preset || strcmp(a->preset, "transformer") != 0))
        return oi_cli_usage_error("%s", "--residual-scale goes with --preset transformer");
    if (oi_cli_param_given(a, OI_P_EXTERNAL_THRESHOLD) && !oi_cli_param(a, OI_P_EXTERNALIZE))
        return oi_cli_usage_error("%s", "--external-threshold goes with --external-data");
    if (a->backup && !in_place)
        return oi_cli_usage_error("%s", "--backup goes with --in-place");
    static const oi_param init_params[] = {OI_P_MATERIALIZE, OI_P_RESIDUAL_SCALE, OI_P_FORGET_BIAS,
                                           OI_P_SIGNAL};
    int init_given = 0;
    for (size_t i = 0; i < sizeof init_params / sizeof *init_params; i++)
        init_given |= oi_cli_param_given(a, init_params[i]);
    if (a->plan_mode == 2 && (a->preset || a->rules || a->only.n || a->exclude.n || init_given ||
                              a->layer_scale_given))
        return oi_cli_usage_error("%s", "audit measures against the default policy; --preset, "
                                  "--rules, --only, --exclude and the init options do not apply");
    if (a->all && a->plan_mode != 1)
        return oi_cli_usage_error("%s", "--all goes with 'plan'");
    if (a->strict && a->plan_mode != 2)
        return oi_cli_usage_error("%s", "--strict goes with 'audit'");
    if (!a->plan_mode && a->json)
        return oi_cli_usage_error("%s", "--json goes with 'plan' (use --report for the main job)");
    if (!a->plan_mode && oi_cli_is_batch(a)) {
        if (a->output)
            return oi_cli_usage_error("%s", "-o names one output; with several models use "
                                      "--output-dir or --in-place");
        if (!a->output_dir == !in_place)
            return oi_cli_usage_error("%s", "several models need exactly one of --output-dir "
                                      "and --in-place");
        if (!a->inputs.n && !a->files_from)
            return oi_cli_usage_error("%s", "no input models given");
    } else if (!a->plan_mode) {
        if (a->inputs.n == 0)
            return oi_cli_usage_error("%s", "no input model given");
        if (!a->output)
            return oi_cli_usage_error("%s", "no output given (use -o OUTPUT)");
    }
    return -1;
}

int oi_cli_make_ctx(cli_args *a)
{
    oi_error err;
    oi_error_clear(&err);
    oi_ctx *c = a->ctx = oi_ctx_new();
    if (!c)
        return oi_cli_usage_error("%s", "out of memory");
    oi_status s = oi_ctx_set_seed(c, a->seed);
    if (s == OI_OK && a->preset)
        s = oi_ctx_set_preset(c, a->preset, &err);
    if (s == OI_OK && a->rules)
        s = oi_ctx_set_rules_file(c, a->rules, &err);
    for (size_t i = 0; s == OI_OK && i < a->only.n; i++)
        s = oi_ctx_add_only(c, a->only.items[i], &err);
    for (size_t i = 0; s == OI_OK && i < a->exclude.n; i++)
        s = oi_ctx_add_exclude(c, a->exclude.items[i], &err);
    if (s == OI_OK)
        s = oi_cli_params_apply(a, c, &err);
    if (s == OI_OK && a->backup)   /* an in-place run keeps the original (the library's job) */
        s = oi_ctx_set_backup_suffix(c, a->backup, &err);
    if (s == OI_OK && a->external_name)
        s = oi_ctx_set_external_name(c, a->external_name, &err);
    if (s == OI_OK && a->layer_scale_given)
        s = oi_ctx_set_layer_scale(c, a->layer_scale, &err);
    if (s != OI_OK) {
        fprintf(stderr, "onnxinit: %s\n", err.msg);
        return s == OI_ERR_USAGE ? OI_EXIT_USAGE : OI_EXIT_FAILED;
    }
    return 0;
}

/* SIGINT/SIGTERM: a flag the workers poll (the one piece of process state,
 * and it lives here, in the program, not in the library). */
static atomic_int interrupted;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

static int poll_interrupted(void *flag) { return atomic_load((atomic_int *)flag); }

/* An input truncated by another program while mapped: reading past its new
 * end faults (SIGBUS).  Zeros mapped over that page let the read finish; the
 * library then finds the file changed and fails that model alone, before any
 * commit (a batch goes on).  Anything else keeps SIGBUS's default. */
static long page_size;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (si->si_code == BUS_ADRERR && si->si_addr && page_size > 0) {
        void *page = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(page_size - 1));
        if (mmap(page, (size_t)page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                 0) != MAP_FAILED)
            return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Every mode stops cleanly on SIGINT, SIGTERM and SIGHUP: temp files removed, exit 130. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    page_size = sysconf(_SC_PAGESIZE);
    sa.sa_handler = NULL;
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
}

static int failure_exit(const oi_error *err)
{
    fprintf(stderr, "onnxinit: %s%s\n", err->msg, oi_cli_hint(err->msg));
    if (atomic_load(&interrupted))
        return OI_EXIT_INTERRUPTED;
    return err->status == OI_ERR_USAGE ? OI_EXIT_USAGE : OI_EXIT_FAILED;
}

int oi_cli_parse(int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc > 1 && oi_cli_misspelled_command(argv[1]))
        return OI_EXIT_USAGE;
    if (argc > 1 && (strcmp(argv[1], "plan") == 0 || strcmp(argv[1], "audit") == 0)) {
        a->plan_mode = strcmp(argv[1], "plan") == 0 ? 1 : 2;
        argv[1] = argv[0];   /* parse the rest as if "plan" were the program name */
        argc--;
        argv++;
    }
    return parse_args(argc, argv, a);
}

void oi_cli_args_free(cli_args *a)
{
    oi_ctx_free(a->ctx);
    free(a->only.items);
    free(a->exclude.items);
    free(a->inputs.items);
    memset(a, 0, sizeof *a);
}

int oi_cli_main(int argc, char **argv)
{
    cli_args a;
    /* past a file-size limit, write() should fail with EFBIG (reported, temp
     * file removed) rather than the signal killing us mid-write */
    signal(SIGXFSZ, SIG_IGN);
    /* The workers already spread orthogonal fills over the cores: OpenBLAS,
     * loaded by the first, should not start a thread pool whose idle threads
     * spin on them for its first 0.1 s (a tenth of an LSTM model's run).  A
     * user's own setting stands. */
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    int rc = oi_cli_parse(argc, argv, &a);
    if (rc < 0) {
        int made = oi_cli_make_ctx(&a);
        rc = made ? made : -1;
    }
    if (rc < 0) {
        catch_signals();
        oi_ctx_set_cancel(a.ctx, poll_interrupted, &interrupted);
    }
    if (rc < 0 && a.plan_mode == 2) {
        oi_error err;
        oi_error_clear(&err);
        int flagged = 0;
        rc = OI_EXIT_OK;
        if (oi_audit_file(a.ctx, a.inputs.items[0], a.json ? OI_FORMAT_JSON : OI_FORMAT_TABLE,
                          stdout, &flagged, &err)) {
            rc = failure_exit(&err);
        } else if (a.strict && flagged) {
            rc = OI_EXIT_FLAGGED;
        }
    } else if (rc < 0 && a.plan_mode) {
        oi_error err;
        oi_error_clear(&err);
        rc = OI_EXIT_OK;
        if (oi_plan_file(a.ctx, a.inputs.items[0],
                         a.json ? OI_FORMAT_JSON : a.all ? OI_FORMAT_TABLE_ALL : OI_FORMAT_TABLE,
                         stdout, &err))
            rc = failure_exit(&err);
    } else if (rc < 0 && oi_cli_is_batch(&a)) {
        rc = oi_cli_batch(&a, &interrupted);
    } else if (rc < 0) {
        oi_summary sum = OI_SUMMARY_INIT;
        oi_error err;
        oi_error_clear(&err);
        oi_cli_progress progress = {0};
        clock_gettime(CLOCK_MONOTONIC, &progress.start);
        if (!a.quiet && isatty(STDERR_FILENO))
            oi_ctx_set_progress(a.ctx, oi_cli_show_progress, &progress);
        oi_status done = oi_reinit_file(a.ctx, a.inputs.items[0], a.output, &sum, &err);
        if (atomic_load(&progress.shown))
            fputs("\r\033[K", stderr);
        if (done) {
            rc = failure_exit(&err);
        } else {
            if (!a.quiet) {
                printf("%s -> %s (seed %llu, stream %lld)\n", a.inputs.items[0], a.output,
                       (unsigned long long)a.seed, (long long)oi_cli_param(&a, OI_P_STREAM));
                printf("  re-initialized %llu of %llu learned tensors (%llu values): %s\n",
                       (unsigned long long)sum.rewritten, (unsigned long long)sum.learned,
                       (unsigned long long)sum.elements, sum.rewritten ? sum.by_scheme : "none");
                if (sum.left_alone)
                    printf("  left alone %llu: %s\n", (unsigned long long)sum.left_alone,
                           sum.left_why);
                if (sum.rewritten == 0 && sum.learned == 0)
                    fprintf(stderr, "onnxinit: warning: no learned tensor found%s\n",
                            oi_cli_param(&a, OI_P_MATERIALIZE) ? "" : " (an untrained graph? --materialize creates "
                                                 "weights declared as graph inputs)");
            }
            if (sum.warning && !a.quiet)   /* -q: errors only (the warning is in plan and report) */
                fprintf(stderr, "onnxinit: warning: %s\n", sum.warning);
            if (a.verbose)
                fprintf(stderr, "time: load %.3fs, re-initialize %.3fs, save %.3fs\n",
                        sum.seconds_load, sum.seconds_work, sum.seconds_save);
            rc = OI_EXIT_OK;
        }
        oi_summary_clear(&sum);
    }
    oi_cli_args_free(&a);
    return rc;
}
