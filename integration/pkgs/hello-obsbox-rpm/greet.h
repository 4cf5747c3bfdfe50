/* SPDX-License-Identifier: Apache-2.0 */
#ifndef GREET_H
#define GREET_H
#include <stddef.h>

/* Writes "Hello, NAME, from obsbox!" into BUF (at most SIZE bytes, always
 * terminated) and returns the length the full greeting needs, like snprintf. */
int greet(char *buf, size_t size, const char *name);

#endif
