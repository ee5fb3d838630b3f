/*
 * micro's event-loop benchmarks: what rule L adds per callback dispatch and
 * per registration, on libevent 2.1, libev 4 and libuv 1.x.
 *
 * A dispatch benchmark watches 64 eventfds that always hold a count (so are
 * always readable, level-triggered), each watcher registered from a fresh
 * context, and runs the library's loop without blocking until n callbacks
 * have run: the figure is per callback, the loop's own epoll_wait shared by
 * the 64.  A registration benchmark starts (adds) and stops (deletes) one
 * timer in a context: no syscall, only the library's timer heap and carry.
 */
#include <errno.h>
#include <ev.h>
#include <event2/event.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include "carry.h"
#include "micro.h"

#define WATCHERS 64

static int fds[WATCHERS];
static uint64_t ids[WATCHERS]; /* the context each watcher was registered from */
static uint64_t ran;           /* callbacks run */
static int checking, wrong;    /* micro_sanity_loops */

static void callback_ran(int i)
{
    ran++;
    if (checking && carry_id() != ids[i])
        wrong++;
}

/* Calls start(i) for every watcher, each from a fresh context, and returns
 * with no current context, as a thread entering its loop. */
static void register_all(void (*start)(int i))
{
    for (int i = 0; i < WATCHERS; i++) {
        fds[i] = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fds[i] < 0)
            micro_die("eventfd");
        carry_ctx *h = carry_begin();
        ids[i] = carry_id();
        start(i);
        carry_enter(NULL);
        carry_release(h);
    }
}

static void close_all(void)
{
    for (int i = 0; i < WATCHERS; i++)
        close(fds[i]);
}

/* ---- libevent --------------------------------------------------------- */

static struct event_base *base;
static struct event *events[WATCHERS];

static void levent_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    callback_ran((int)(intptr_t)arg);
}

static void levent_start(int i)
{
    events[i] = event_new(base, fds[i], EV_READ | EV_PERSIST, levent_cb, (void *)(intptr_t)i);
    if (events[i] == NULL || event_add(events[i], NULL) != 0)
        micro_die("event_add");
}

void micro_setup_levent(void)
{
    base = event_base_new();
    if (base == NULL)
        micro_die("event_base_new");
    register_all(levent_start);
}

void micro_loop_levent(uint64_t n)
{
    for (uint64_t end = ran + n; ran < end;)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

void micro_teardown_levent(void)
{
    for (int i = 0; i < WATCHERS; i++)
        event_free(events[i]);
    event_base_free(base);
    close_all();
}

void micro_loop_levent_add_del(uint64_t n)
{
    struct event_base *b = event_base_new();
    struct event *timer = evtimer_new(b, levent_cb, NULL);
    struct timeval tv = {60, 0};
    carry_ctx *h = carry_begin();
    for (uint64_t i = 0; i < n; i++) {
        event_add(timer, &tv);
        event_del(timer);
    }
    carry_enter(NULL);
    carry_release(h);
    event_free(timer);
    event_base_free(b);
}

/* ---- libev ------------------------------------------------------------ */

static struct ev_loop *ev_loop_;
static ev_io watchers[WATCHERS];

static void libev_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    callback_ran((int)(w - watchers));
}

static void libev_start(int i)
{
    ev_io_init(&watchers[i], libev_cb, fds[i], EV_READ);
    ev_io_start(ev_loop_, &watchers[i]);
}

void micro_setup_libev(void)
{
    ev_loop_ = ev_loop_new(EVBACKEND_EPOLL);
    if (ev_loop_ == NULL)
        micro_die("ev_loop_new");
    register_all(libev_start);
}

void micro_loop_libev(uint64_t n)
{
    for (uint64_t end = ran + n; ran < end;)
        ev_run(ev_loop_, EVRUN_NOWAIT);
}

void micro_teardown_libev(void)
{
    for (int i = 0; i < WATCHERS; i++)
        ev_io_stop(ev_loop_, &watchers[i]);
    ev_loop_destroy(ev_loop_);
    close_all();
}

static void libev_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

void micro_loop_libev_start_stop(uint64_t n)
{
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    ev_timer timer;
    ev_timer_init(&timer, libev_timer_cb, 60., 0.);
    carry_ctx *h = carry_begin();
    for (uint64_t i = 0; i < n; i++) {
        ev_timer_start(loop, &timer);
        ev_timer_stop(loop, &timer);
    }
    carry_enter(NULL);
    carry_release(h);
    ev_loop_destroy(loop);
}

/* ---- libuv ------------------------------------------------------------ */

static uv_loop_t uv_loop_;
static uv_poll_t polls[WATCHERS];

static void uv_poll_ran(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    callback_ran((int)(handle - polls));
}

static void uv_start(int i)
{
    if (uv_poll_init(&uv_loop_, &polls[i], fds[i]) != 0 ||
        uv_poll_start(&polls[i], UV_READABLE, uv_poll_ran) != 0)
        micro_die("uv_poll_start");
}

void micro_setup_uv(void)
{
    if (uv_loop_init(&uv_loop_) != 0)
        micro_die("uv_loop_init");
    register_all(uv_start);
}

void micro_loop_uv(uint64_t n)
{
    for (uint64_t end = ran + n; ran < end;)
        uv_run(&uv_loop_, UV_RUN_NOWAIT);
}

void micro_teardown_uv(void)
{
    for (int i = 0; i < WATCHERS; i++)
        uv_close((uv_handle_t *)&polls[i], NULL);
    uv_run(&uv_loop_, UV_RUN_DEFAULT); /* runs the closes */
    uv_loop_close(&uv_loop_);
    close_all();
}

static void uv_timer_ran(uv_timer_t *timer)
{
    (void)timer;
}

void micro_loop_uv_start_stop(uint64_t n)
{
    uv_loop_t loop;
    uv_timer_t timer;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &timer);
    carry_ctx *h = carry_begin();
    for (uint64_t i = 0; i < n; i++) {
        uv_timer_start(&timer, uv_timer_ran, 60000, 0);
        uv_timer_stop(&timer);
    }
    carry_enter(NULL);
    carry_release(h);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* ---- Sanity ----------------------------------------------------------- */

int micro_sanity_loops(void)
{
    static const struct {
        const char *name;
        void (*setup)(void), (*loop)(uint64_t), (*teardown)(void);
    } libs[] = {
        {"libevent", micro_setup_levent, micro_loop_levent, micro_teardown_levent},
        {"libev", micro_setup_libev, micro_loop_libev, micro_teardown_libev},
        {"libuv", micro_setup_uv, micro_loop_uv, micro_teardown_uv},
    };
    int bad = 0;
    checking = 1;
    for (size_t k = 0; k < sizeof libs / sizeof libs[0]; k++) {
        wrong = 0;
        uint64_t before = ran;
        libs[k].setup();
        libs[k].loop(WATCHERS);
        libs[k].teardown();
        if (wrong != 0 || ran - before < WATCHERS) {
            fprintf(stderr, "micro: %s: %d of %llu callbacks ran outside their context\n",
                    libs[k].name, wrong, (unsigned long long)(ran - before));
            bad++;
        }
    }
    checking = 0;
    return bad;
}
