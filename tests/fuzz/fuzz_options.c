/* libFuzzer harness: the command line.  The input is NUL-separated arguments
 * (at most 40) after "onnxinit"; they are parsed and turned into a library
 * context as the program does, then what the parser accepted is checked
 * against what it promises (a parse that returns "go on" has a usable,
 * consistent set of options).  Nothing is run and no file is read: --rules is
 * dropped before the context is made (it names a file to read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

#define MAX_ARGS 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (!freopen("/dev/null", "w", stdout))   /* --help; usage errors: -close_fd_mask=2 */
        abort();
    return 0;
}

/* What a parse that said "go on" must hold. */
static void check(const cli_args *a)
{
    int batch = oi_cli_is_batch(a);
    int64_t threads = oi_cli_param(a, OI_P_THREADS), lo, hi;
    int in_place = (int)oi_cli_param(a, OI_P_IN_PLACE);
    if (oi_param_describe(OI_P_THREADS, NULL, NULL, &lo, &hi) || threads < lo || threads > hi ||
        (a->shard_n && (a->shard_k < 1 || a->shard_k > a->shard_n)))
        abort();
    if (a->plan_mode && (a->inputs.n != 1 || a->output))
        abort();
    if (!a->plan_mode && !batch && (a->inputs.n != 1 || !a->output))
        abort();
    if (!a->plan_mode && batch && (a->output || !a->output_dir == !in_place))
        abort();
    if ((a->backup && !in_place) || !a->ctx ||
        (oi_cli_param_given(a, OI_P_EXTERNAL_THRESHOLD) && !oi_cli_param(a, OI_P_EXTERNALIZE)))
        abort();
    /* the context holds each parameter as asked, the library's default when not */
    for (int p = 1; p < OI_CLI_PARAMS; p++) {
        int64_t v;
        if (oi_param_describe((oi_param)p, NULL, NULL, NULL, NULL) == OI_OK &&
            (oi_ctx_get_param(a->ctx, (oi_param)p, &v) != OI_OK || v != oi_cli_param(a, (oi_param)p)))
            abort();
    }
    for (size_t i = 0; i < a->inputs.n; i++)
        if (!a->inputs.items[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 2];
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int argc = 0;
    argv[argc++] = "onnxinit";
    for (char *p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    cli_args a;
    int rc = oi_cli_parse(argc, argv, &a);
    if (rc < 0) {
        a.rules = NULL;
        rc = oi_cli_make_ctx(&a);
        if (rc == 0)
            check(&a);
    }
    if (rc > 0 && rc != 2)   /* refused: always the usage exit code */
        abort();
    oi_cli_args_free(&a);
    free(buf);
    return 0;
}
