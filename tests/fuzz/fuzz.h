/*
 * What the fuzz targets share: the entry point libFuzzer calls (and
 * replay.c, in the test suite, over a corpus), and the check that ends a
 * run as a crash, which both report with the input that caused it.
 */
#ifndef CARRY_FUZZ_H
#define CARRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

/* The input in a buffer of exactly its size, so that AddressSanitizer
 * catches a read one byte past it (libFuzzer's own buffer may be bigger). */
static inline char *fuzz_exact_copy(const uint8_t *data, size_t size)
{
    char *copy = calloc(size > 0 ? size : 1, 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    if (size > 0)
        memcpy(copy, data, size);
    return copy;
}

#endif /* CARRY_FUZZ_H */
