/* CARRY_TAG's core: tags at line starts, partial writes, streams. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tag.h"
#include "tagbuf.h"

#define ID_A ((carry__tag_who){UINT64_C(0x0071e40000000001), 0, 0, 0})
#define ID_B ((carry__tag_who){UINT64_C(0x0071e4000000beef), 0, 0, 0})
/* A request (rule R) of the connection 0071e40000000002. */
#define ID_R ((carry__tag_who){UINT64_C(0x0071e40000000401), UINT64_C(0x0071e40000000002), 0, 0})
#define NONE ((carry__tag_who){0, 0, 0, 0})
#define TAG_A "[carry 0071e40000000001] "
#define TAG_B "[carry 0071e4000000beef] "
#define TAG_R "[carry 0071e40000000401 0071e40000000002] "
#define TAG_LEN (sizeof TAG_A - 1)

/* A fake fd: writev appends to sink, at most budget bytes per call (0: no
 * limit), or fails with fail_errno once fail_after calls succeeded. */
static char sink[1 << 20];
static size_t sink_len, budget;
static int calls, fail_errno, fail_after = -1, plain_calls;

static ssize_t fake_writev(int fd, const struct iovec *iov, int cnt)
{
    (void)fd;
    if (fail_after >= 0 && calls >= fail_after) {
        calls++;
        errno = fail_errno;
        return -1;
    }
    calls++;
    size_t n = 0;
    for (int i = 0; i < cnt; i++) {
        size_t len = iov[i].iov_len;
        if (budget && n + len > budget)
            len = budget - n;
        memcpy(sink + sink_len, iov[i].iov_base, len);
        sink_len += len;
        n += len;
        if (budget && n == budget)
            break;
    }
    return (ssize_t)n;
}

static ssize_t fake_plain(int fd, const struct iovec *iov, int cnt)
{
    plain_calls++;
    return fake_writev(fd, iov, cnt);
}

static void reset(void)
{
    carry__tag_reset();
    sink_len = 0;
    budget = 0;
    calls = 0;
    plain_calls = 0;
    fail_after = -1;
    fail_errno = 0;
}

TestSuite(tag, .init = reset);

static ssize_t tag_write(const char *s, carry__tag_who id)
{
    struct iovec v = {(void *)s, strlen(s)};
    return carry__tag_writev(2, &v, 1, id, fake_writev, fake_plain, false);
}

/* Writes all of s as a careful program does, retrying partial writes. */
static void write_all(const char *s, carry__tag_who id)
{
    size_t len = strlen(s), done = 0;
    while (done < len) {
        struct iovec v = {(void *)(s + done), len - done};
        ssize_t n = carry__tag_writev(2, &v, 1, id, fake_writev, fake_plain, false);
        cr_assert_gt(n, 0, "a write of %zu bytes returned %zd", len - done, n);
        done += (size_t)n;
    }
}

static void assert_sink(const char *want)
{
    cr_assert_eq(sink_len, strlen(want), "got %zu bytes:\n%.*s\nwant:\n%s", sink_len,
                 (int)sink_len, sink, want);
    cr_assert_eq(memcmp(sink, want, sink_len), 0, "got:\n%.*s\nwant:\n%s", (int)sink_len, sink,
                 want);
}

Test(tag, format)
{
    char out[CARRY__TAG_MAX + 1] = {0};
    cr_assert_eq(carry__tag_format(out, ID_A), TAG_LEN);
    cr_assert_str_eq(out, TAG_A);
    cr_assert_eq(carry__tag_format(out, (carry__tag_who){UINT64_MAX, 0, 0, 0}), TAG_LEN);
    cr_assert_str_eq(out, "[carry ffffffffffffffff] ");
    /* A request's names its connection too. */
    memset(out, 0, sizeof out);
    cr_assert_eq(carry__tag_format(out, ID_R), sizeof TAG_R - 1);
    cr_assert_str_eq(out, TAG_R);
}

/* Lines of a request, of its connection and of no context, mixed, and a
 * request's tag cut short by a partial write, finished by the next. */
Test(tag, a_requests_tag_names_its_connection)
{
    cr_assert_eq(tag_write("req\nreq2\n", ID_R), 9);
    cr_assert_eq(tag_write("conn\n", (carry__tag_who){ID_R.conn, 0, 0, 0}), 5);
    /* 30 bytes of the tag go out, then the fd would block. */
    budget = 30;
    fail_after = calls + 1;
    fail_errno = EAGAIN;
    cr_assert_eq(tag_write("cut\n", ID_R), -1);
    budget = 0;
    fail_after = -1;
    cr_assert_eq(tag_write("cut\n", NONE), 4);
    assert_sink(TAG_R "req\n" TAG_R "req2\n[carry 0071e40000000002] conn\n" TAG_R "cut\n");
}

Test(tag, one_writev_for_lines_and_tags)
{
    errno = 1234;
    cr_assert_eq(tag_write("one\ntwo\nthree\n", ID_A), 14, "the program's bytes only");
    cr_assert_eq(errno, 1234);
    assert_sink(TAG_A "one\n" TAG_A "two\n" TAG_A "three\n");
    cr_assert_eq(calls, 1);
    cr_assert_eq(plain_calls, 0);
}

Test(tag, pieces_of_a_line_get_one_tag)
{
    tag_write("wr", ID_A);
    tag_write("it", ID_B);
    tag_write("e\nnext", ID_B);
    tag_write(" line\n", ID_A);
    assert_sink(TAG_A "write\n" TAG_B "next line\n");
}

Test(tag, a_line_begun_without_context_stays_untagged)
{
    tag_write("no context ", NONE);
    cr_assert_eq(plain_calls, 1, "no context: the program's own call");
    tag_write("then a context\n", ID_A);
    tag_write("tagged\n", ID_A);
    tag_write("untagged\n", NONE);
    assert_sink("no context then a context\n" TAG_A "tagged\nuntagged\n");
}

Test(tag, writev_across_buffers)
{
    struct iovec v[] = {{"wv-a", 4}, {"", 0}, {"b\nwv-", 5}, {"c\n", 2}};
    cr_assert_eq(carry__tag_writev(2, v, 4, ID_A, fake_writev, fake_plain, false), 11);
    assert_sink(TAG_A "wv-ab\n" TAG_A "wv-c\n");
}

Test(tag, empty_write_and_bad_buffer_pass_through)
{
    cr_assert_eq(tag_write("", ID_A), 0);
    cr_assert_eq(plain_calls, 1);
    struct iovec bad = {NULL, 5};
    fail_after = 0;
    fail_errno = EFAULT;
    cr_assert_eq(carry__tag_writev(2, &bad, 1, ID_A, fake_writev, fake_plain, false), -1);
    cr_assert_eq(errno, EFAULT);
    cr_assert_eq(plain_calls, 2, "the kernel judges the buffer, not carry");
}

Test(tag, errors_are_the_kernels)
{
    fail_after = 0;
    fail_errno = EBADF;
    cr_assert_eq(tag_write("lost\n", ID_A), -1);
    cr_assert_eq(errno, EBADF);
    fail_after = -1;
    tag_write("next\n", ID_A);
    assert_sink(TAG_A "next\n");
}

/* Every cut: partial writes of every size, retried by the program, give
 * exactly the output of one whole write. */
Test(tag, partial_writes_cut_anywhere)
{
    const char *text = "first line\nsecond\n\nthird without end";
    const char *want = TAG_A "first line\n" TAG_A "second\n" TAG_A "\n" TAG_A "third without end";
    for (size_t b = 1; b <= strlen(want) + 1; b++) {
        reset();
        budget = b;
        write_all(text, ID_A);
        assert_sink(want);
    }
}

Test(tag, a_tag_cut_short_is_finished_by_the_next_write)
{
    /* 10 bytes of the tag go out, then the fd would block. */
    budget = 10;
    fail_after = 1;
    fail_errno = EAGAIN;
    cr_assert_eq(tag_write("line\n", ID_A), -1, "none of the program's bytes got out");
    cr_assert_eq(errno, EAGAIN);
    cr_assert_eq(calls, 2, "retried once at once");
    /* The program retries later, in another context: the line keeps the
     * tag it began with. */
    budget = 0;
    fail_after = -1;
    cr_assert_eq(tag_write("line\n", ID_B), 5);
    tag_write("more\n", ID_B);
    assert_sink(TAG_A "line\n" TAG_B "more\n");
}

Test(tag, a_partial_write_in_a_tag_with_bytes_before_it)
{
    /* "a\n" and 5 bytes of the next tag go out: the write returns 2. */
    budget = (size_t)TAG_LEN + 2 + 5;
    cr_assert_eq(tag_write("a\nb\n", ID_A), 2);
    budget = 0;
    cr_assert_eq(tag_write("b\n", NONE), 2, "no context: the tag is finished all the same");
    assert_sink(TAG_A "a\n" TAG_A "b\n");
}

static char *lines(int n)
{
    char *s = malloc((size_t)n * 8 + 1), *p = s;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "l%05d\n", i);
    return s;
}

static char *tagged_lines(int n)
{
    char *s = malloc((size_t)n * (8 + TAG_LEN) + 1), *p = s;
    for (int i = 0; i < n; i++)
        p += sprintf(p, TAG_A "l%05d\n", i);
    return s;
}

Test(tag, many_lines_take_one_writev_per_round)
{
    char *text = lines(100), *want = tagged_lines(100);
    cr_assert_eq(tag_write(text, ID_A), 700);
    assert_sink(want);
    int per_round = CARRY__TAG_PIECES / 2;
    cr_assert_eq(calls, (100 + per_round - 1) / per_round);
    free(text);
    free(want);
}

Test(tag, a_later_round_that_fails_is_a_partial_write)
{
    char *text = lines(100);
    fail_after = 1;
    fail_errno = EPIPE;
    errno = 77;
    int per_round = CARRY__TAG_PIECES / 2;
    cr_assert_eq(tag_write(text, ID_A), per_round * 7);
    cr_assert_eq(errno, 77, "a partial write leaves errno alone");
    free(text);
}

Test(tag, all_mode_writes_everything)
{
    budget = 3;
    struct iovec v = {"x\ny\n", 4};
    cr_assert_eq(carry__tag_writev(2, &v, 1, ID_A, fake_writev, fake_plain, true), 4);
    assert_sink(TAG_A "x\n" TAG_A "y\n");
    fail_after = calls;
    fail_errno = EIO;
    cr_assert_eq(carry__tag_writev(2, &v, 1, ID_A, fake_writev, fake_plain, true), -1);
    cr_assert_eq(errno, EIO);
}

Test(tag, without_tags_the_buffers_go_as_they_are)
{
    char *text = lines(100);
    struct iovec v = {text, 700};
    cr_assert_eq(carry__tag_writev(2, &v, 1, NONE, fake_writev, fake_plain, true), 700);
    cr_assert_eq(calls, 1, "dprintf with no context: one write, as glibc's");
    assert_sink(text);
    free(text);
}

Test(tag, stdout_and_stderr_have_their_own_lines)
{
    struct iovec v = {"partial", 7};
    carry__tag_writev(1, &v, 1, ID_A, fake_writev, fake_plain, false);
    tag_write("err\n", ID_B);
    carry__tag_writev(1, &(struct iovec){"\n", 1}, 1, ID_A, fake_writev, fake_plain, false);
    assert_sink(TAG_A "partial" TAG_B "err\n\n");
}

/* ---- Streams ------------------------------------------------------------- */

static FILE *mem;
static char *mem_buf;
static size_t mem_len;

static void mem_open(void)
{
    mem = open_memstream(&mem_buf, &mem_len);
    cr_assert_not_null(mem);
}

static void assert_mem(const char *want)
{
    fflush(mem);
    cr_assert_eq(mem_len, strlen(want), "got %zu bytes:\n%s\nwant:\n%s", mem_len, mem_buf, want);
    cr_assert_str_eq(mem_buf, want);
}

static void mem_close(void)
{
    fclose(mem);
    free(mem_buf);
}

static size_t put(const char *s, carry__tag_who id)
{
    struct iovec v = {(void *)s, strlen(s)};
    return carry__tag_put_copy(mem, 1, &v, 1, id);
}

__attribute__((format(printf, 2, 3))) static size_t put_format(carry__tag_who id, const char *fmt, ...)
{
    struct carry__tag_buf b __attribute__((cleanup(carry__tag_buf_free)));
    carry__tag_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int n = carry__tag_buf_vformat(&b, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0);
    return carry__tag_put(mem, 1, &b, id);
}

Test(tag, stream_lines)
{
    mem_open();
    cr_assert_eq(put("one\ntwo\n", ID_A), 8);
    cr_assert_eq(put("half ", ID_A), 5);
    cr_assert_eq(put("and half\nx", ID_B), 10);
    cr_assert_eq(put("\n", NONE), 1);
    cr_assert_eq(put("none ", NONE), 5);
    cr_assert_eq(put("end\n", ID_A), 4);
    assert_mem(TAG_A "one\n" TAG_A "two\n" TAG_A "half and half\n" TAG_B "x\nnone end\n");
    mem_close();
}

Test(tag, stream_formats_small_and_huge)
{
    mem_open();
    errno = ENOENT;
    cr_assert_eq(put_format(ID_A, "%s %d %m\n", "fmt", 7), strlen("fmt 7 No such file or directory\n"));
    /* Larger than the stack buffer, and with more lines than fit. */
    char *big = malloc(10001);
    memset(big, 'b', 10000);
    big[10000] = '\0';
    cr_assert_eq(put_format(ID_A, "%s\n%s\n", big, "tail"), 10006);
    char *many = lines(1000), *want_many = tagged_lines(1000);
    cr_assert_eq(put_format(ID_A, "%s", many), 7000);
    char *want = malloc(20000 + 40000);
    cr_assert_not_null(want);
    sprintf(want, TAG_A "fmt 7 No such file or directory\n" TAG_A "%s\n" TAG_A "tail\n%s", big,
            want_many);
    assert_mem(want);
    free(big);
    free(many);
    free(want_many);
    free(want);
    mem_close();
}
