/*
 * What the wrappers hand the core besides plain values: the shapes of the
 * real functions the core calls (the wrapper binds the program's other
 * arguments in a call record of its own where the real functions differ,
 * epoll_wait and epoll_pwait2, accept and accept4, so that one entry point
 * serves the family), and the application's callbacks for rule L.
 * hooks.h and the modules that take these share them.
 */
#ifndef CARRY_CALLS_H
#define CARRY_CALLS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The real pthread_create, with which the core starts a thread of its own
 * (the span exporter, export.c) that no rule sees. */
typedef int carry__thread_create_fn(pthread_t *thread, const pthread_attr_t *attr,
                                    void *(*start)(void *), void *arg);

/* The real accept or accept4, its other arguments bound in call. */
typedef int carry__accept_fn(void *call, struct sockaddr *addr, socklen_t *len);

/* The real recvfrom, its other arguments bound in call. */
typedef ssize_t carry__recvfrom_fn(void *call, struct sockaddr *addr, socklen_t *len);

/* The real recvmsg or recvmmsg (a system call's result: -1 and errno on
 * failure), all its arguments bound in call. */
typedef ssize_t carry__recv_fn(void *call);

/* The real epoll_ctl. */
typedef int carry__ctl_fn(int epfd, int op, int fd, struct epoll_event *event);

/* The real epoll_wait, or a wait of the family with the caller's further
 * arguments bound by its wrapper (timeout: the caller's, or for
 * epoll_pwait2 -1 when it has none and 0 otherwise). */
typedef int carry__wait_fn(int epfd, struct epoll_event *events, int maxevents, int timeout);

/* The real writev, or the program's own call on the same arguments (write
 * or writev). */
typedef ssize_t carry__writev_fn(int fd, const struct iovec *iov, int cnt);

/* The real write, send and sendmsg, or the wrapper's own path for the
 * same call (hooks.h: the common write). */
typedef ssize_t carry__write_fn(int fd, const void *buf, size_t n);
typedef ssize_t carry__send_fn(int fd, const void *buf, size_t n, int flags);
typedef ssize_t carry__sendmsg_fn(int fd, const struct msghdr *msg, int flags);

/* The real read, readv and recv, or the wrapper's own path for the same
 * call (hooks.h: the common read). */
typedef ssize_t carry__read_fn(int fd, void *buf, size_t n);
typedef ssize_t carry__readv_fn(int fd, const struct iovec *iov, int cnt);
typedef ssize_t carry__recv_into_fn(int fd, void *buf, size_t n, int flags);

/* The real writev or sendmsg, writing iov to fd as the program's write or
 * send would (its flags, destination and ancillary data bound in call). */
typedef ssize_t carry__sendv_fn(const void *call, int fd, const struct iovec *iov, int cnt);

/* stdio, dprintf and syslog: the plain or the fortified (_chk) function by
 * flag, the fortify level, or -1 for the plain one. */
typedef int carry__vfprintf_fn(FILE *fp, int flag, const char *fmt, va_list ap);
typedef int carry__vdprintf_fn(int fd, int flag, const char *fmt, va_list ap);
typedef void carry__vsyslog_fn(int pri, int flag, const char *fmt, va_list ap);

/* The real fputs, puts, fwrite or fputc, with its arguments bound in call,
 * where it leaves its result. */
typedef void carry__put_fn(void *call);

/* The application's callbacks the core runs itself (hooks.h): a libevent
 * event's, a libev watcher's, and libuv's, by what follows the handle or
 * request libuv hands each first. */
struct ev_loop;
struct addrinfo;
typedef void carry__levent_cb(int fd, short what, void *arg);
typedef void carry__ev_cb(struct ev_loop *loop, void *watcher, int revents);
typedef void carry__uv_cb(void *obj);
typedef void carry__uv_int_cb(void *obj, int status);
typedef void carry__uv_poll_cb(void *obj, int status, int events);
typedef void carry__uv_alloc_cb(void *obj, size_t suggested, void *buf);
typedef void carry__uv_read_cb(void *obj, ssize_t nread, const void *buf);
typedef void carry__uv_udp_recv_cb(void *obj, ssize_t nread, const void *buf,
                                   const struct sockaddr *addr, unsigned flags);
typedef void carry__uv_addrinfo_cb(void *obj, int status, struct addrinfo *res);
typedef void carry__uv_nameinfo_cb(void *obj, int status, const char *host, const char *service);
typedef void carry__uv_random_cb(void *obj, int status, void *buf, size_t len);
typedef void carry__uv_fs_event_cb(void *obj, const char *filename, int events, int status);
typedef void carry__uv_fs_poll_cb(void *obj, int status, const void *prev, const void *curr);

/* A signal handler as signal() takes it (what __sighandler_t points to),
 * and the real signal, bsd_signal, sysv_signal or __sysv_signal. */
typedef void carry__sighandler(int sig);
typedef carry__sighandler *carry__signal_fn(int sig, carry__sighandler *handler);

/* The application's callbacks for one library object (an event, a
 * watcher, a handle, a request), as the wrappers of libevent, libev and
 * libuv give them and their trampolines and the libraries' getters read
 * them: the first member of the core's record (records.h). */
struct carry__cb {
    void (*fn)(void); /* the callback */
    union {
        void (*finalize)(void);   /* libevent: the event's finalizer */
        void (*alloc)(void);      /* libuv: a stream's or udp handle's alloc_cb */
        void (*after_work)(void); /* libuv: uv_queue_work's after_work_cb */
    };
    union {
        void *arg;           /* libevent, libev's ev_once: the callback's argument */
        void (*close)(void); /* libuv: uv_close's callback */
    };
};

/* What a wrapper says about the object: its library (one of the first
 * three), and flags. */
enum {
    CARRY__CB_LIBEVENT = 0,
    CARRY__CB_LIBEV = 1,
    CARRY__CB_LIBUV = 2,
    CARRY__CB_LIBRARY = 3,       /* the mask of the library */
    CARRY__CB_PERSIST = 1u << 2, /* it may run again after its callback (EV_PERSIST, a
                                  * started watcher or handle, uv_queue_work's work) */
    CARRY__CB_TIMER = 1u << 3,   /* a libuv timer, which libuv re-arms itself */
    CARRY__CB_REQUEST = 1u << 4  /* a libuv request, whose record goes with its last
                                  * callback: each submission makes one afresh */
};

/* The head of every libuv request on Unix (uv.h's UV_REQ_FIELDS): the
 * core keeps a request's record in its last reserved word (records.c). */
struct carry__uv_req_head {
    void *data;
    int type;
    void *reserved[6];
};

#endif /* CARRY_CALLS_H */
