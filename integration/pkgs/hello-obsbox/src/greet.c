/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include "greet.h"

int greet(char *buf, size_t size, const char *name)
{
    if (name == NULL || *name == '\0')
        name = "world";
    return snprintf(buf, size, "Hello, %s, from obsbox!", name);
}
