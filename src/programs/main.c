#include "cli.h"

int main(int argc, char **argv)
{
    return oi_cli_main(argc, argv);
}
