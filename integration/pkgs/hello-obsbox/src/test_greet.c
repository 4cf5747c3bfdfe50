/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include "greet.h"

static int failures;

static void expect(const char *name, const char *want)
{
    char buf[256];
    int n = greet(buf, sizeof buf, name);

    if (strcmp(buf, want) != 0 || n != (int)strlen(want)) {
        fprintf(stderr, "FAIL: greet(%s) = \"%s\" (%d), want \"%s\"\n",
                name ? name : "NULL", buf, n, want);
        failures++;
    }
}

int main(void)
{
    char small[6];

    expect(NULL, "Hello, world, from obsbox!");
    expect("", "Hello, world, from obsbox!");
    expect("OBS", "Hello, OBS, from obsbox!");
    /* A short buffer is truncated and terminated; the full length is returned. */
    if (greet(small, sizeof small, "OBS") != 24 || strcmp(small, "Hello") != 0) {
        fprintf(stderr, "FAIL: truncation gave \"%s\"\n", small);
        failures++;
    }
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("all greet checks passed");
    return 0;
}
