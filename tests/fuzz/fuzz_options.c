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
    if (a->jobs < 0 || a->jobs > 64 || (a->shard_n && (a->shard_k < 1 || a->shard_k > a->shard_n)))
        abort();
    if (a->plan_mode && (a->inputs.n != 1 || a->output))
        abort();
    if (!a->plan_mode && !batch && (a->inputs.n != 1 || !a->output))
        abort();
    if (!a->plan_mode && batch && (a->output || !a->output_dir == !a->in_place))
        abort();
    if ((a->backup && !a->in_place) || (a->threshold_given && !a->externalize) || !a->ctx)
        abort();
    int64_t stream = 0;   /* the context holds the stream asked for, 2 when none was */
    if (oi_ctx_get_param(a->ctx, OI_P_STREAM, &stream) != OI_OK || stream != (a->stream ? a->stream : 2))
        abort();
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
