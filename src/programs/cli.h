/* cli — the onnxinit program: arguments in, exit code out (0 ok, 1 an input
 * failed, 2 usage).  The only place that prints for people. */
#ifndef OI_CLI_H
#define OI_CLI_H

enum { OI_EXIT_OK = 0, OI_EXIT_FAILED = 1, OI_EXIT_USAGE = 2, OI_EXIT_FLAGGED = 3 };

int oi_cli_main(int argc, char **argv);

#endif
