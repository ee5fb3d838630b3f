/*
 * What the fuzz targets share: the entry point libFuzzer calls (and
 * replay.c, in the test suite, over a corpus), the check that ends a run
 * as a crash, which both report with the input that caused it, the
 * input's exact copy and a reader of it, and a peer that takes part of
 * each write.
 */
#ifndef CARRY_FUZZ_H
#define CARRY_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

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

/* The input, read from the front, a byte at a time: 0 once it is spent. */
struct fuzz_input {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_take(struct fuzz_input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/*
 * A peer that takes part of each write, as a non-blocking socket or pipe
 * does: each call takes what the next of its budgets allows (0: none,
 * EAGAIN; 255: all), and everything once they are spent, appending what it
 * took to bytes.
 */
struct fuzz_peer {
    char *bytes;
    size_t len;
    const uint8_t *budgets;
    size_t budgets_left;
};

static inline ssize_t fuzz_peer_take(struct fuzz_peer *peer, const struct iovec *iov, int cnt)
{
    size_t take = SIZE_MAX;
    if (peer->budgets_left > 0) {
        peer->budgets_left--;
        take = *peer->budgets == 255 ? SIZE_MAX : *peer->budgets;
        peer->budgets++;
    }
    if (take == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t n = 0;
    for (int i = 0; i < cnt && n < take; i++) {
        size_t len = iov[i].iov_len < take - n ? iov[i].iov_len : take - n;
        memcpy(peer->bytes + peer->len, iov[i].iov_base, len);
        peer->len += len;
        n += len;
    }
    return (ssize_t)n;
}

#endif /* CARRY_FUZZ_H */
