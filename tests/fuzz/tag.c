/*
 * Fuzz target: CARRY_TAG's raw writes (tag.h), which put a tag in front of
 * each line a program writes to stderr.  The input is the program's bytes,
 * how it cuts them into writes, the context each write runs in (none, a
 * context, a request with its connection), and how much of each writev
 * the output takes (none: EAGAIN).  The program writes until all its bytes
 * are out; then the output, read line by line, holds exactly its bytes,
 * with whole tags only, at line starts only, naming only contexts it wrote
 * in: every line start a tag when every write had a context, none when
 * none had.  Each write told the program of its own bytes only, never of 0.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "tag.h"

#define FD 2
#define WRITES 4
#define BUDGETS 8
#define CONTROL (1 + 2 * WRITES + BUDGETS)

/* A context, a request of connection 7, another context. */
static const carry__tag_who whos[] = {
    {0, 0, 0, 0},
    {0x1111111111111111, 0, 0, 0},
    {0x2222222222222222, 0x7777777777777777, 0, 0},
    {0x3333333333333333, 0, 0, 0},
};

static struct fuzz_peer peer;

/* stderr: the peer's budgets, then everything. */
static ssize_t output(int fd, const struct iovec *iov, int cnt)
{
    FUZZ_CHECK(fd == FD, "a write on fd %d", fd);
    return fuzz_peer_take(&peer, iov, cnt);
}

/* The length of the tag at p (n bytes left), or 0 when there is none:
 * aborts on a tag cut short or naming a context no write ran in. */
static size_t tag_at(const char *p, size_t n, const bool used[4])
{
    if (n == 0 || p[0] != '[')
        return 0;
    for (int w = 1; w < 4; w++) {
        char tag[CARRY__TAG_MAX];
        size_t len = carry__tag_format(tag, whos[w]);
        if (n >= len && memcmp(p, tag, len) == 0) {
            FUZZ_CHECK(used[w], "a tag of a context no write ran in");
            return len;
        }
    }
    FUZZ_CHECK(false, "a tag cut short or malformed: %.*s", (int)(n < 42 ? n : 42), p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size <= CONTROL)
        return 0;
    const uint8_t *control = data;
    size_t len = size - CONTROL;
    char *msg = fuzz_exact_copy(data + CONTROL, len);
    /* A line of the program's never starts with '[', so that the tags
     * can be told from its bytes. */
    for (size_t i = 0; i < len; i++)
        if (msg[i] == '[')
            msg[i] = '{';
    int writes = 1 + control[0] % WRITES;
    size_t ends[WRITES];
    int who[WRITES];
    bool used[4] = {false, false, false, false};
    for (int w = 0; w < writes; w++) {
        who[w] = control[1 + 2 * w] % 4;
        used[who[w]] = true;
        ends[w] = w == writes - 1 ? len : len * control[2 + 2 * w] / 255;
        if (w > 0 && ends[w] < ends[w - 1])
            ends[w] = ends[w - 1];
    }
    peer = (struct fuzz_peer){malloc(2 * len * CARRY__TAG_MAX + 64), 0, control + 1 + 2 * WRITES,
                              BUDGETS};
    FUZZ_CHECK(peer.bytes != NULL, "out of memory");
    carry__tag_reset();

    size_t off = 0;
    for (int w = 0, calls = 0; w < writes; w++) {
        while (off < ends[w]) {
            FUZZ_CHECK(++calls < 64 + (int)len, "the program never got its bytes out");
            struct iovec v = {msg + off, ends[w] - off};
            ssize_t r = carry__tag_writev(FD, &v, 1, whos[who[w]], output, output, false);
            if (r < 0) {
                FUZZ_CHECK(errno == EAGAIN, "errno %d, where the output said EAGAIN", errno);
                continue;
            }
            FUZZ_CHECK(r > 0 && (size_t)r <= ends[w] - off, "told of %zd bytes with %zu to go",
                       r, ends[w] - off);
            off += (size_t)r;
        }
    }

    /* The output, line by line. */
    size_t in = 0, at = 0;
    while (at < peer.len) {
        size_t tag = tag_at(peer.bytes + at, peer.len - at, used);
        FUZZ_CHECK(tag != 0 || !(used[1] || used[2] || used[3]) || used[0],
                   "a line without a tag, every write in a context");
        at += tag;
        FUZZ_CHECK(at < peer.len, "a tag with no line after it");
        const char *nl = memchr(peer.bytes + at, '\n', peer.len - at);
        size_t line = nl ? (size_t)(nl - (peer.bytes + at)) + 1 : peer.len - at;
        FUZZ_CHECK(in + line <= len && memcmp(peer.bytes + at, msg + in, line) == 0,
                   "the output's bytes are not the program's");
        at += line;
        in += line;
    }
    FUZZ_CHECK(in == len, "%zu of the program's %zu bytes in the output", in, len);
    free(peer.bytes);
    free(msg);
    return 0;
}
