/*
 * micro - microbenchmarks of carry's API and of its pthread_create wrapper.
 *
 * Prints one line per benchmark, "NAME ns_per_op", on stdout:
 *
 *   carry_id             carry_id() inside a context made with carry_begin()
 *   carry_get            carry_get() of one of 4 keys (alternating) in a
 *                        store holding those 4 keys
 *   carry_get_miss       carry_get() of a key the store does not hold
 *   carry_get_large      carry_get() of one of the same 4 keys (alternating)
 *                        in a store holding them and 99,996 others (a
 *                        hash-indexed store, against carry_get's short list)
 *   carry_set            carry_set() of one key to 2 alternating values (a
 *                        real replacement each time); a fresh context every
 *                        1000 sets, its carry_begin/carry_release amortised
 *                        into the figure (replaced values are kept until
 *                        the context dies)
 *   capture_release      carry_capture() + carry_release()
 *   carry_run            carry_run() of an empty function with a captured
 *                        context, from a thread with no current context (a
 *                        worker running a queued job)
 *   pthread_create_join  pthread_create() + pthread_join() of a thread
 *                        running an empty function, created from inside a
 *                        context (so carry captures it and the child adopts
 *                        it)
 *   epoll_event          per delivered event: epoll_wait(epfd, ev, 64, 0) on
 *                        an epoll fd with 64 level-triggered, always
 *                        readable eventfds, each registered from its own
 *                        context; the figure is the time over the events
 *                        returned (without carry a call returns 64, with
 *                        carry in split mode 1, the other 63 coming from
 *                        its queue on the next calls)
 *   epoll_event_same     the same, all 64 registered from one context (the
 *                        path where consecutive events share a context)
 *   epoll_ctl_mod        EPOLL_CTL_MOD of a registered fd (same events and
 *                        data), in the context it was registered from
 *   epoll_ctl_add_del    EPOLL_CTL_ADD + EPOLL_CTL_DEL of one fd, in a
 *                        context; per pair
 *   accept               accept4() + close() of a connection on 127.0.0.1
 *                        that a non-blocking client of this thread opened
 *                        beforehand (only that part is timed; the clients
 *                        connect and are closed outside the timing, in
 *                        batches of 64)
 *   accept_cycle         the whole cycle: socket() + connect() of the
 *                        client, accept4(), close() of both ends
 *   request              rule R, one turn: the server writes a byte to an
 *                        accepted connection, the client answers, and
 *                        the server's read begins a new request context
 *                        (with carry; the previous one dies).  The
 *                        client uses raw system calls, so that carry
 *                        sees the server's side only, as in a real
 *                        deployment: bench_body is all a request costs
 *   datagram             rule R on UDP, one exchange: the client sends a
 *                        datagram (raw system calls again), the server's
 *                        recvfrom begins a new context (peer, local) and
 *                        its sendto answers the peer
 *   handoff              rule H, one hand-off: a byte written to a pipe in
 *                        a context and read back (the read makes the
 *                        writer's context current)
 *   levent_dispatch,     per callback: the library's loop, run without
 *   libev_dispatch,      blocking, over 64 always-readable eventfds each
 *   uv_dispatch          watched by a persistent event / ev_io / uv_poll
 *                        registered from its own context (loops.c)
 *   levent_add_del,      per pair: event_add + event_del, ev_timer_start +
 *   libev_start_stop,    ev_timer_stop, uv_timer_start + uv_timer_stop of
 *   uv_start_stop        one timer, in a context (no syscall)
 *   tag_fprintf          fprintf(stderr, "tag line %d\n", i) in a context,
 *                        stderr (unbuffered) on /dev/null
 *   tag_write            write(2, "tag line\n", 9) in a context, fd 2 on
 *                        /dev/null
 *
 * --tag renames tag_fprintf and tag_write to NAME_tagged (the driver runs
 * them once with CARRY_TAG=stderr and once without carry); with libcarry
 * loaded, micro checks that a line it writes to stderr in a context gets a
 * tag.  Without --tag, libcarry (CARRY_TAG unset) passes them through: the
 * figure is what the wrappers cost when tagging is off.
 *
 * --count N runs each benchmark once, N operations, no calibration: for
 * valgrind --tool=callgrind --toggle-collect=bench_body (every benchmark's
 * operations run inside bench_body, their setup and teardown outside it;
 * accept's bench_body also connects its clients: toggle on accept_close
 * for accept4 + close alone).  scripts/bench/micro --callgrind does that.
 *
 * --epoll-mode MODE renames epoll_event to epoll_event_MODE (the driver
 * runs it once with CARRY_EPOLL=split and once with CARRY_EPOLL=batch);
 * with libcarry loaded, micro checks that CARRY_EPOLL says MODE and that
 * epoll_wait behaves so.  Clients close with SO_LINGER 0 (a reset), so no
 * TIME_WAIT socket is left behind to exhaust the ephemeral ports.
 *
 * Each benchmark is calibrated to run about 75 ms (15 ms with --quick) and
 * repeated 5 times (3 with --quick); the best repetition is reported.
 *
 * Nothing is linked against libcarry: carry.h finds it at run time when it
 * is preloaded.  Without it the API is a no-op and the same names are
 * printed, with the cost of the no-op path.  stderr says which it was.
 * MICRO_DEBUG=1 in the environment prints calibration and repetitions.
 *
 * usage: micro [--quick] [--only NAME]... [--epoll-mode MODE] [--tag] [--count N]
 *              [--list]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "carry.h"
#include "micro.h"

#define NOINLINE __attribute__((noinline))
/* A function callgrind toggles collection on by its name: gcc must not
 * clone it under another (clang does not clone, and has no noclone). */
#ifdef __clang__
#define TOGGLED NOINLINE
#else
#define TOGGLED NOINLINE __attribute__((noclone))
#endif
#define CLOBBER() __asm__ volatile("" ::: "memory")

/* Sinks the compiler must write, so it cannot drop the calls feeding them. */
static volatile uint64_t sink_u64;
static volatile const void *sink_ptr;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Shared state for setup / teardown. */

static carry_ctx *bench_handle;   /* from carry_begin, released at teardown */
static carry_ctx *bench_captured; /* for carry_run */

static const char *const get_keys[4] = {"request", "user", "trace", "tenant"};
static const char *const set_values[2] = {"alice", "bob"};

static void setup_context(void)
{
    bench_handle = carry_begin();
}

/* Leaves the current context and gives the handle back: the context dies. */
static void teardown_context(void)
{
    carry_enter(NULL);
    carry_release(bench_handle);
    bench_handle = NULL;
}

static void setup_store(void)
{
    setup_context();
    for (int i = 0; i < 4; i++)
        carry_set(get_keys[i], set_values[i & 1]);
}

#define LARGE_STORE 100000

static void setup_large_store(void)
{
    setup_store();
    char key[16];
    for (int i = 4; i < LARGE_STORE; i++) {
        snprintf(key, sizeof key, "key%d", i);
        carry_set(key, set_values[i & 1]);
    }
}

static void setup_run(void)
{
    setup_context();
    bench_captured = carry_capture();
    /* Run the jobs from no context, as a worker thread would. */
    carry_enter(NULL);
}

static void teardown_run(void)
{
    carry_release(bench_captured);
    bench_captured = NULL;
    teardown_context();
}

/* ------------------------------------------------------------------ */
/* The timed loops: each runs n operations. */

static void loop_id(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        acc += carry_id();
        CLOBBER();
    }
    sink_u64 = acc;
}

static void loop_get(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_get(get_keys[i & 3]);
        CLOBBER();
    }
}

static void loop_get_miss(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_get("absent");
        CLOBBER();
    }
}

#define SET_BLOCK 1000u

static void loop_set(uint64_t n)
{
    uint64_t acc = 0;
    while (n > 0) {
        uint64_t block = n < SET_BLOCK ? n : SET_BLOCK;
        carry_ctx *h = carry_begin();
        for (uint64_t i = 0; i < block; i++) {
            acc += (uint64_t)carry_set("user", set_values[i & 1]);
            CLOBBER();
        }
        carry_enter(NULL);
        carry_release(h);
        n -= block;
    }
    sink_u64 = acc;
}

static void loop_capture_release(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        carry_ctx *c = carry_capture();
        CLOBBER();
        carry_release(c);
        CLOBBER();
    }
}

/* The job of carry_run and the start routine of the threads: nothing. */
static NOINLINE void *empty_job(void *arg)
{
    CLOBBER();
    return arg;
}

static void loop_run(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_run(bench_captured, empty_job, NULL);
        CLOBBER();
    }
}

static void loop_pthread(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, empty_job, NULL);
        if (rc != 0) {
            fprintf(stderr, "micro: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
        void *ret;
        pthread_join(t, &ret);
        sink_ptr = ret;
    }
}


/* ------------------------------------------------------------------ */
/* epoll and accept: what libcarry's interposers add to the calls. */

void micro_die(const char *what)
{
    fprintf(stderr, "micro: %s: %s\n", what, strerror(errno));
    exit(1);
}

#define EPOLL_FDS 64

static int ep_fd = -1;
static int ep_fds[EPOLL_FDS];
static uint64_t ep_ids[EPOLL_FDS]; /* the context each registration was made in */

/* An epoll fd with EPOLL_FDS eventfds holding a count (so always readable,
 * level-triggered), registered with their index as data: each from a fresh
 * context when distinct, else all from one.  The handles are released at
 * once: the registrations keep the contexts alive.  Returns with no current
 * context, as a thread entering its loop. */
static void setup_epoll_fds(int distinct)
{
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0)
        micro_die("epoll_create1");
    carry_ctx *shared = distinct ? NULL : carry_begin();
    for (int i = 0; i < EPOLL_FDS; i++) {
        ep_fds[i] = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        if (ep_fds[i] < 0)
            micro_die("eventfd");
        carry_ctx *h = distinct ? carry_begin() : NULL;
        ep_ids[i] = carry_id();
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, ep_fds[i], &ev) != 0)
            micro_die("epoll_ctl(ADD)");
        if (h != NULL) {
            carry_enter(NULL);
            carry_release(h);
        }
    }
    carry_enter(NULL);
    carry_release(shared);
}

static void setup_epoll_distinct(void) { setup_epoll_fds(1); }
static void setup_epoll_same(void) { setup_epoll_fds(0); }

/* Closing the epoll fd first ends every registration in one sweep. */
static void teardown_epoll(void)
{
    carry_enter(NULL);
    close(ep_fd);
    ep_fd = -1;
    for (int i = 0; i < EPOLL_FDS; i++)
        close(ep_fds[i]);
}

/* n delivered events: the last call asks for no more than are missing, so
 * exactly n are counted whatever the batch size. */
static void loop_epoll_event(uint64_t n)
{
    struct epoll_event events[EPOLL_FDS];
    uint64_t acc = 0;
    while (n > 0) {
        int max = n < EPOLL_FDS ? (int)n : EPOLL_FDS;
        int got = epoll_wait(ep_fd, events, max, 0);
        if (got <= 0) {
            if (got < 0)
                micro_die("epoll_wait");
            fprintf(stderr, "micro: epoll_wait found no event\n");
            exit(1);
        }
        acc += events[got - 1].data.u64;
        n -= (uint64_t)got;
    }
    sink_u64 = acc;
}

/* One eventfd with no count (never ready: the kernel has no wake-up to
 * do), registered in a context that stays current. */
static int ctl_fd = -1;

static void setup_ctl(void)
{
    setup_context();
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_fd < 0 || ctl_fd < 0)
        micro_die("epoll_create1/eventfd");
}

static void setup_ctl_mod(void)
{
    setup_ctl();
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, ctl_fd, &ev) != 0)
        micro_die("epoll_ctl(ADD)");
}

static void teardown_ctl(void)
{
    close(ep_fd);
    close(ctl_fd);
    ep_fd = ctl_fd = -1;
    teardown_context();
}

static void loop_ctl_mod(uint64_t n)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    for (uint64_t i = 0; i < n; i++)
        if (epoll_ctl(ep_fd, EPOLL_CTL_MOD, ctl_fd, &ev) != 0)
            micro_die("epoll_ctl(MOD)");
}

static void loop_ctl_add_del(uint64_t n)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    for (uint64_t i = 0; i < n; i++) {
        if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, ctl_fd, &ev) != 0)
            micro_die("epoll_ctl(ADD)");
        if (epoll_ctl(ep_fd, EPOLL_CTL_DEL, ctl_fd, NULL) != 0)
            micro_die("epoll_ctl(DEL)");
    }
}

#define ACCEPT_BATCH 64

static int listen_fd = -1;
static struct sockaddr_in listen_addr;

static void setup_accept(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
        micro_die("socket");
    memset(&listen_addr, 0, sizeof listen_addr);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof listen_addr;
    if (bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 ||
        listen(listen_fd, 4 * ACCEPT_BATCH) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) != 0)
        micro_die("listen on 127.0.0.1");
}

static void teardown_accept(void)
{
    carry_enter(NULL); /* the last accepted connection's context */
    close(listen_fd);
    listen_fd = -1;
}

/* A client connecting to the listener without blocking.  On loopback the
 * handshake completes within connect(), so the connection is already in
 * the accept queue when it returns.  SO_LINGER 0: its close sends a reset,
 * which leaves no TIME_WAIT socket on either side. */
static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        micro_die("socket");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
        micro_die("setsockopt(SO_LINGER)");
    if (connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 &&
        errno != EINPROGRESS)
        micro_die("connect");
    return fd;
}

/* accept4 + close, with the peer address asked for as servers do.  Not
 * inlined: scripts/bench/micro --callgrind counts the instructions under it
 * for accept (whose bench_body also connects the clients). */
void accept_close(void);
TOGGLED void accept_close(void)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        micro_die("accept4");
    close(fd);
}

/* Times only the accepts and closes: the clients connect before and are
 * closed after each batch. */
static uint64_t timed_accept(uint64_t n)
{
    int clients[ACCEPT_BATCH];
    uint64_t total = 0;
    while (n > 0) {
        int batch = n < ACCEPT_BATCH ? (int)n : ACCEPT_BATCH;
        for (int i = 0; i < batch; i++)
            clients[i] = dial();
        uint64_t t0 = now_ns();
        for (int i = 0; i < batch; i++)
            accept_close();
        total += now_ns() - t0;
        for (int i = 0; i < batch; i++)
            close(clients[i]);
        n -= (uint64_t)batch;
    }
    return total;
}

static void loop_accept_cycle(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        int client = dial();
        accept_close();
        close(client);
    }
}

/* Rule R: one connection, accepted once, taking turns: the server
 * writes, the client answers, the server's read begins a request. */
static int request_server = -1, request_client = -1;

static void setup_request(void)
{
    setup_accept();
    /* Through syscall(2), which carry passes on untouched. */
    request_client = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (request_client < 0 ||
        syscall(SYS_connect, request_client, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0)
        micro_die("client socket");
    request_server = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (request_server < 0)
        micro_die("accept4");
}

static void teardown_request(void)
{
    syscall(SYS_close, request_client);
    close(request_server);
    teardown_accept();
}

/* The client's side of a turn: a system call no interposer sees, so that
 * every variant counts the server's side only. */
static long micro_raw_syscall(long number, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(number), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Rule R on a datagram socket: the server's socket is made through
 * socket(), which carry sees, the client's through syscall(2). */
static int datagram_server = -1, datagram_client = -1;

static void setup_datagram(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    datagram_server = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (datagram_server < 0 || bind(datagram_server, (struct sockaddr *)&addr, len) != 0 ||
        getsockname(datagram_server, (struct sockaddr *)&addr, &len) != 0)
        micro_die("datagram server");
    datagram_client = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (datagram_client < 0 ||
        syscall(SYS_connect, datagram_client, (struct sockaddr *)&addr, sizeof addr) != 0)
        micro_die("datagram client");
}

static void teardown_datagram(void)
{
    carry_enter(NULL); /* the last datagram's context */
    syscall(SYS_close, datagram_client);
    close(datagram_server);
}

static void loop_datagram(uint64_t n)
{
    char c;
    struct sockaddr_storage peer;
    for (uint64_t i = 0; i < n; i++) {
        socklen_t len = sizeof peer;
        if (micro_raw_syscall(SYS_write, datagram_client, (long)"q", 1) != 1 ||
            recvfrom(datagram_server, &c, 1, 0, (struct sockaddr *)&peer, &len) != 1 ||
            sendto(datagram_server, "r", 1, 0, (struct sockaddr *)&peer, len) != 1 ||
            micro_raw_syscall(SYS_read, datagram_client, (long)&c, 1) != 1)
            micro_die("datagram exchange");
    }
}

/* Rule H: a pipe made through pipe(), which carry sees. */
static int handoff_pipe[2] = {-1, -1};
static carry_ctx *handoff_ctx;

static void setup_handoff(void)
{
    if (pipe(handoff_pipe) != 0)
        micro_die("pipe");
    handoff_ctx = carry_begin();
}

static void teardown_handoff(void)
{
    carry_enter(NULL);
    carry_release(handoff_ctx);
    close(handoff_pipe[0]);
    close(handoff_pipe[1]);
}

static void loop_handoff(uint64_t n)
{
    char c;
    for (uint64_t i = 0; i < n; i++) {
        carry_enter(handoff_ctx);
        if (write(handoff_pipe[1], "h", 1) != 1 || read(handoff_pipe[0], &c, 1) != 1)
            micro_die("hand-off");
    }
}

/* The read that begins a request.  Not inlined: scripts/bench/micro
 * --callgrind counts the instructions under it. */
void request_read(void);
TOGGLED void request_read(void)
{
    char c;
    if (read(request_server, &c, 1) != 1)
        micro_die("read (server)");
}

static void loop_request(uint64_t n)
{
    char c;
    for (uint64_t i = 0; i < n; i++) {
        if (write(request_server, "r", 1) != 1 ||
            micro_raw_syscall(SYS_read, request_client, (long)&c, 1) != 1 ||
            micro_raw_syscall(SYS_write, request_client, (long)"q", 1) != 1)
            micro_die("client's turn");
        /* Blocking on loopback: the byte is there once write returned. */
        request_read();
    }
}

/* Tagging (CARRY_TAG): a short line to stderr, on /dev/null, in a
 * context. */
static int tag_saved_stderr = -1;

static void setup_tag(void)
{
    setup_context();
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    tag_saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (null < 0 || tag_saved_stderr < 0 || dup2(null, 2) != 2)
        micro_die("stderr to /dev/null");
    close(null);
}

static void teardown_tag(void)
{
    dup2(tag_saved_stderr, 2);
    close(tag_saved_stderr);
    tag_saved_stderr = -1;
    teardown_context();
}

static void loop_tag_fprintf(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        fprintf(stderr, "tag line %d\n", (int)i);
}

static void loop_tag_write(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (write(2, "tag line\n", 9) != 9)
            micro_die("write");
}

/* ------------------------------------------------------------------ */

struct bench {
    const char *name;
    void (*setup)(void);
    void (*loop)(uint64_t n);
    void (*teardown)(void);
    /* Instead of loop: runs n operations and returns the nanoseconds of the
     * part it times itself. */
    uint64_t (*timed)(uint64_t n);
    int epoll_moded; /* named NAME_MODE under --epoll-mode MODE */
    int tag_moded;   /* named NAME_tagged under --tag */
};

static const struct bench benches[] = {
    {"carry_id", setup_context, loop_id, teardown_context, NULL, 0, 0},
    {"carry_get", setup_store, loop_get, teardown_context, NULL, 0, 0},
    {"carry_get_miss", setup_store, loop_get_miss, teardown_context, NULL, 0, 0},
    {"carry_get_large", setup_large_store, loop_get, teardown_context, NULL, 0, 0},
    {"carry_set", NULL, loop_set, NULL, NULL, 0, 0},
    {"capture_release", setup_context, loop_capture_release, teardown_context, NULL, 0, 0},
    {"carry_run", setup_run, loop_run, teardown_run, NULL, 0, 0},
    {"pthread_create_join", setup_context, loop_pthread, teardown_context, NULL, 0, 0},
    {"epoll_event", setup_epoll_distinct, loop_epoll_event, teardown_epoll, NULL, 1, 0},
    {"epoll_event_same", setup_epoll_same, loop_epoll_event, teardown_epoll, NULL, 0, 0},
    {"epoll_ctl_mod", setup_ctl_mod, loop_ctl_mod, teardown_ctl, NULL, 0, 0},
    {"epoll_ctl_add_del", setup_ctl, loop_ctl_add_del, teardown_ctl, NULL, 0, 0},
    {"accept", setup_accept, NULL, teardown_accept, timed_accept, 0, 0},
    {"accept_cycle", setup_accept, loop_accept_cycle, teardown_accept, NULL, 0, 0},
    {"request", setup_request, loop_request, teardown_request, NULL, 0, 0},
    {"datagram", setup_datagram, loop_datagram, teardown_datagram, NULL, 0, 0},
    {"handoff", setup_handoff, loop_handoff, teardown_handoff, NULL, 0, 0},
    {"tag_fprintf", setup_tag, loop_tag_fprintf, teardown_tag, NULL, 0, 1},
    {"tag_write", setup_tag, loop_tag_write, teardown_tag, NULL, 0, 1},
    {"levent_dispatch", micro_setup_levent, micro_loop_levent, micro_teardown_levent, NULL, 0, 0},
    {"levent_add_del", NULL, micro_loop_levent_add_del, NULL, NULL, 0, 0},
    {"libev_dispatch", micro_setup_libev, micro_loop_libev, micro_teardown_libev, NULL, 0, 0},
    {"libev_start_stop", NULL, micro_loop_libev_start_stop, NULL, NULL, 0, 0},
    {"uv_dispatch", micro_setup_uv, micro_loop_uv, micro_teardown_uv, NULL, 0, 0},
    {"uv_start_stop", NULL, micro_loop_uv_start_stop, NULL, NULL, 0, 0},
};
#define NBENCH (sizeof benches / sizeof benches[0])

/* The n operations of a benchmark, without its setup and teardown: what
 * scripts/bench/micro --callgrind counts (valgrind --tool=callgrind
 * --toggle-collect=bench_body).  Not inlined nor cloned, so that the symbol
 * exists under this name; extern for the same reason.  Returns the
 * nanoseconds a self-timed benchmark measured, else 0. */
uint64_t bench_body(const struct bench *b, uint64_t n);
TOGGLED uint64_t bench_body(const struct bench *b, uint64_t n)
{
    if (b->timed)
        return b->timed(n);
    b->loop(n);
    return 0;
}

static uint64_t time_loop(const struct bench *b, uint64_t n)
{
    uint64_t t;
    if (b->setup)
        b->setup();
    uint64_t t0 = now_ns();
    t = bench_body(b, n);
    if (!b->timed)
        t = now_ns() - t0;
    if (b->teardown)
        b->teardown();
    return t;
}

#define MIN_CALIBRATE 64

/* MICRO_DEBUG set in the environment: print calibration and every
 * repetition on stderr. */
static int debug;

/* Best ns/op over reps repetitions of about target_ns each. */
static double measure(const struct bench *b, uint64_t target_ns, int reps)
{
    /* Calibrate: grow n until one run takes a tenth of the target (this
     * also warms caches and the allocator up), then scale.  At least
     * MIN_CALIBRATE operations, so that one slow first operation (a cold
     * CPU woken for a new thread can take milliseconds on a VM) cannot make
     * every repetition a handful of operations long. */
    uint64_t n = 1, t;
    for (;;) {
        t = time_loop(b, n);
        if (debug)
            fprintf(stderr, "micro: %s calibrate: n=%llu %llu ns\n", b->name,
                    (unsigned long long)n, (unsigned long long)t);
        if ((t >= target_ns / 10 && n >= MIN_CALIBRATE) || n >= (UINT64_C(1) << 40))
            break;
        n *= t < target_ns / 1000 ? 10 : 2;
    }
    if (t == 0)
        t = 1;
    double scaled = (double)n * (double)target_ns / (double)t;
    n = scaled < 1 ? 1 : (uint64_t)scaled;

    double best = 0;
    for (int r = 0; r < reps; r++) {
        double ns = (double)time_loop(b, n) / (double)n;
        if (debug)
            fprintf(stderr, "micro: %s rep %d: n=%llu %.2f ns/op\n", b->name, r,
                    (unsigned long long)n, ns);
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

/* ------------------------------------------------------------------ */
/* Checks that the benchmarks measure what they claim when carry is loaded:
 * a figure taken on an error path would look good and mean nothing. */

static void *report_id(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)carry_id();
}

static int sanity(void)
{
    int bad = 0;
    carry_ctx *h = carry_begin();
    uint64_t id = carry_id();
    if (h == NULL || id == 0) {
        fprintf(stderr, "micro: carry_begin made no current context\n");
        return 1;
    }
    for (int i = 0; i < 4; i++)
        if (carry_set(get_keys[i], set_values[i & 1]) != 0) {
            fprintf(stderr, "micro: carry_set(%s): %s\n", get_keys[i], strerror(errno));
            bad = 1;
        }
    for (int i = 0; i < 4; i++) {
        const char *v = carry_get(get_keys[i]);
        if (v == NULL || strcmp(v, set_values[i & 1]) != 0) {
            fprintf(stderr, "micro: carry_get(%s) gave %s\n", get_keys[i], v ? v : "NULL");
            bad = 1;
        }
    }
    if (carry_set("user", set_values[0]) != 0 ||
        strcmp(carry_get("user") ? carry_get("user") : "", set_values[0]) != 0) {
        fprintf(stderr, "micro: carry_set did not replace a value\n");
        bad = 1;
    }
    if (carry_get("absent") != NULL) {
        fprintf(stderr, "micro: carry_get of an absent key is not NULL\n");
        bad = 1;
    }
    carry_ctx *c = carry_capture();
    if (c == NULL || carry_ctx_id(c) != id) {
        fprintf(stderr, "micro: carry_capture did not capture the current context\n");
        bad = 1;
    }
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, report_id, NULL) == 0) {
        pthread_join(t, &ret);
        if ((uint64_t)(uintptr_t)ret != id) {
            fprintf(stderr,
                    "micro: a thread created in a context does not start in it "
                    "(CARRY_MODE without threads?): pthread_create_join measures no capture\n");
            bad = 1;
        }
    }
    carry_enter(NULL);
    if ((uint64_t)(uintptr_t)carry_run(c, report_id, NULL) != id || carry_id() != 0) {
        fprintf(stderr, "micro: carry_run did not switch to the context and back\n");
        bad = 1;
    }
    carry_release(c);
    carry_release(h);
    return bad;
}

/* The epoll benchmarks: libcarry must hand out one event per return, in
 * the context of its registration, in split mode, and the whole batch in
 * batch mode (where the context would switch only at the first I/O on an
 * event's fd, which the benchmark does not do); the data must come back.
 * The accept benchmarks: each accepted connection must get a context. */
static int sanity_epoll(int batch)
{
    int bad = 0;
    struct epoll_event events[EPOLL_FDS];
    int seen[EPOLL_FDS] = {0};

    setup_epoll_distinct();
    for (int i = 0; i < EPOLL_FDS; i++)
        if (ep_ids[i] == 0 || (i > 0 && ep_ids[i] == ep_ids[i - 1])) {
            fprintf(stderr, "micro: carry_begin made no fresh context for registration %d\n", i);
            bad = 1;
            break;
        }
    for (int call = 0; call < (batch ? 1 : EPOLL_FDS) && !bad; call++) {
        int n = epoll_wait(ep_fd, events, EPOLL_FDS, 0);
        if (n != (batch ? EPOLL_FDS : 1)) {
            fprintf(stderr,
                    "micro: epoll_wait returned %d events of %d ready, expected %d "
                    "(CARRY_EPOLL=%s): epoll_event does not measure that mode\n",
                    n, EPOLL_FDS, batch ? EPOLL_FDS : 1, batch ? "batch" : "split");
            bad = 1;
            break;
        }
        for (int k = 0; k < n; k++) {
            uint64_t i = events[k].data.u64;
            if (i >= EPOLL_FDS || seen[i]++) {
                fprintf(stderr, "micro: epoll_wait gave back data %llu, not a registration's\n",
                        (unsigned long long)i);
                bad = 1;
                break;
            }
            if (!batch && carry_id() != ep_ids[i]) {
                fprintf(stderr, "micro: an event did not run in its registration's context\n");
                bad = 1;
                break;
            }
        }
    }
    teardown_epoll();

    setup_epoll_same();
    if (!bad && epoll_wait(ep_fd, events, EPOLL_FDS, 0) > 0 && !batch &&
        (ep_ids[0] == 0 || carry_id() != ep_ids[0])) {
        fprintf(stderr, "micro: epoll_event_same: an event did not run in the shared context\n");
        bad = 1;
    }
    teardown_epoll();

    setup_accept();
    int client = dial();
    uint64_t before = carry_id();
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        micro_die("accept4");
    if (carry_id() == 0 || carry_id() == before) {
        fprintf(stderr, "micro: accept4 made no context for the connection\n");
        bad = 1;
    }
    close(fd);
    close(client);
    teardown_accept();
    return bad;
}

/* --tag: a line written to stderr in a context must come out tagged, or
 * tag_*_tagged would measure the untagged path. */
static int sanity_tag(void)
{
    int p[2];
    char got[64] = "";
    if (pipe(p) != 0)
        micro_die("pipe");
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    carry_ctx *h = carry_begin();
    dup2(p[1], 2);
    fprintf(stderr, "x\n");
    dup2(saved, 2);
    carry_enter(NULL);
    carry_release(h);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], got, sizeof got - 1);
    close(p[0]);
    if (n < 7 || strncmp(got, "[carry ", 7) != 0) {
        fprintf(stderr, "micro: --tag but a line in a context is not tagged (CARRY_TAG "
                        "without stderr?): tag_*_tagged measure no tagging\n");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: micro [--quick] [--only NAME]... [--epoll-mode MODE] [--tag] [--count N]\n"
               "             [--list]\n"
               "  --quick            fewer iterations (about 15 ms x 3 per benchmark)\n"
               "  --only NAME        run only this benchmark (may be repeated)\n"
               "  --epoll-mode MODE  print epoll_event as epoll_event_MODE; with libcarry\n"
               "                     loaded, check that CARRY_EPOLL=MODE (split or batch)\n"
               "  --tag              print tag_fprintf and tag_write as NAME_tagged; with\n"
               "                     libcarry loaded, check that CARRY_TAG tags stderr\n"
               "  --count N          run each benchmark once, N operations, no calibration\n"
               "                     (for valgrind --tool=callgrind: instructions per op)\n"
               "  --list             print the benchmark names and exit\n"
               "Prints \"NAME ns_per_op\" per benchmark.\n");
}

static void *micro_nothing(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    uint64_t target_ns = 75000000;
    int reps = 5;
    int selected[NBENCH] = {0};
    int any_selected = 0;
    const char *epoll_mode = NULL;
    uint64_t count = 0;
    int tag = 0;

    debug = getenv("MICRO_DEBUG") != NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            target_ns = 15000000;
            reps = 3;
        } else if (strcmp(argv[i], "--only") == 0 || strncmp(argv[i], "--only=", 7) == 0) {
            const char *name;
            if (argv[i][6] == '=')
                name = argv[i] + 7;
            else if (i + 1 < argc)
                name = argv[++i];
            else {
                usage(stderr);
                return 2;
            }
            size_t k;
            for (k = 0; k < NBENCH; k++)
                if (strcmp(benches[k].name, name) == 0)
                    break;
            if (k == NBENCH) {
                fprintf(stderr, "micro: unknown benchmark '%s' (--list names them)\n", name);
                return 2;
            }
            selected[k] = 1;
            any_selected = 1;
        } else if (strcmp(argv[i], "--epoll-mode") == 0 ||
                   strncmp(argv[i], "--epoll-mode=", 13) == 0) {
            if (argv[i][12] == '=')
                epoll_mode = argv[i] + 13;
            else if (i + 1 < argc)
                epoll_mode = argv[++i];
            else {
                usage(stderr);
                return 2;
            }
            if (strcmp(epoll_mode, "split") != 0 && strcmp(epoll_mode, "batch") != 0) {
                fprintf(stderr, "micro: --epoll-mode takes split or batch, not '%s'\n", epoll_mode);
                return 2;
            }
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtoull(argv[++i], NULL, 10);
            if (count == 0) {
                fprintf(stderr, "micro: --count takes a positive number\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--tag") == 0) {
            tag = 1;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < NBENCH; k++)
                printf("%s\n", benches[k].name);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    if (carry_available()) {
        fprintf(stderr, "micro: libcarry loaded\n");
        /* libcarry reads CARRY_EPOLL (default batch) at start-up. */
        const char *env_mode = getenv("CARRY_EPOLL");
        if (env_mode == NULL || strcmp(env_mode, "split") != 0)
            env_mode = "batch";
        if (epoll_mode != NULL && strcmp(epoll_mode, env_mode) != 0)
            fprintf(stderr,
                    "micro: warning: --epoll-mode %s but libcarry runs with CARRY_EPOLL=%s\n",
                    epoll_mode, env_mode);
        if (sanity() + sanity_epoll(strcmp(env_mode, "batch") == 0) + micro_sanity_loops() +
                (tag ? sanity_tag() : 0) !=
            0)
            fprintf(stderr, "micro: warning: sanity checks failed; figures may not mean "
                            "what their names say\n");
        /* A dispatch point (rule D) ends the batch the checks' loops left
         * on this thread, which would switch the benchmarks' I/O. */
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event none;
        if (ep < 0 || epoll_wait(ep, &none, 1, 0) != 0)
            micro_die("epoll_wait (ending the checks' batch)");
        close(ep);
    } else {
        fprintf(stderr, "micro: libcarry not loaded (the API is a no-op)\n");
    }

    /* libc takes its multi-threaded paths (cancellation points in read,
     * write, ...) once a process has had a second thread, as the sanity
     * checks above give it under carry: the same in every variant. */
    pthread_t t;
    if (pthread_create(&t, NULL, micro_nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
        micro_die("pthread_create");

    for (size_t k = 0; k < NBENCH; k++) {
        if (any_selected && !selected[k])
            continue;
        double ns = count ? (double)time_loop(&benches[k], count) / (double)count
                          : measure(&benches[k], target_ns, reps);
        if (benches[k].epoll_moded && epoll_mode != NULL)
            printf("%s_%s %.2f\n", benches[k].name, epoll_mode, ns);
        else if (benches[k].tag_moded && tag)
            printf("%s_tagged %.2f\n", benches[k].name, ns);
        else
            printf("%s %.2f\n", benches[k].name, ns);
        fflush(stdout);
    }
    return 0;
}
