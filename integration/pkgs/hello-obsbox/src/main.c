/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include "greet.h"

int main(int argc, char **argv)
{
    char buf[256];

    greet(buf, sizeof buf, argc > 1 ? argv[1] : NULL);
    if (puts(buf) == EOF)
        return EXIT_FAILURE;
    return EXIT_SUCCESS;
}
