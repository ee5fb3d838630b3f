/*
 * Real servers from their Debian packages, unmodified, under libcarry with
 * CARRY_TAG: memcached (libevent, a dispatcher thread and 4 workers),
 * redis-server (its own ae loop on epoll) and nginx (epoll, a master and
 * worker processes).  Each runs on a free port of 127.0.0.1 in a temporary
 * directory, in the foreground, driven by concurrent connections
 * (tests/fixtures/server_client), and the tests check from the tagged logs
 * that every line about a connection carries that connection's id, that
 * ids differ between connections, and that the replies are byte for byte
 * those of the same server without carry.
 *
 * Readiness and progress are read from the server's own log (the pipe its
 * stdout and stderr go to): no sleeps, no timing.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otlp.h"
#include "run.h"

/* ---- Text ---------------------------------------------------------------- */

/* The lines of text, split in place (text is modified). */
struct lines {
    char **v;
    size_t n;
};

static struct lines split_lines(char *text)
{
    struct lines l = {0};
    size_t cap = 0;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (l.n == cap) {
            cap = cap * 2 + 64;
            l.v = realloc(l.v, cap * sizeof *l.v);
            cr_assert_not_null(l.v);
        }
        l.v[l.n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    return l;
}

/* A log line: carry's tag, if any, taken off. */
struct tagged {
    bool tagged;
    uint64_t id;      /* 0 if untagged (or tagged 0, which carry never does) */
    uint64_t conn;    /* a request's connection (rule R), else 0 */
    const char *text; /* the server's own line */
};

/* "[carry <id>] " or, in a request, "[carry <id> <conn>] ". */
static struct tagged untag(const char *line)
{
    struct tagged t = {false, 0, 0, line};
    static const char prefix[] = "[carry ";
    size_t n = sizeof prefix - 1;
    const char *p = line + n;
    if (strncmp(line, prefix, n) != 0 || strspn(p, "0123456789abcdef") != 16)
        return t;
    uint64_t id = strtoull(p, NULL, 16), conn = 0;
    p += 16;
    if (p[0] == ' ' && strspn(p + 1, "0123456789abcdef") == 16) {
        conn = strtoull(p + 1, NULL, 16);
        p += 17;
    }
    if (p[0] == ']' && p[1] == ' ')
        t = (struct tagged){true, id, conn, p + 2};
    return t;
}

/* The client's output without its "conn I ADDR" lines (local addresses
 * differ from run to run; the replies must not). */
static char *replies_only(const char *out)
{
    struct carry_text t = {0};
    carry_text_add(&t, "", 0);
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "conn ", 5) != 0) {
            carry_text_add(&t, p, len);
            carry_text_add(&t, "\n", 1);
        }
        p += len;
        if (*p)
            p++;
    }
    return t.s;
}

/* ---- Servers ------------------------------------------------------------- */

/* The program's path, from PATH or the usual directories, or NULL. */
static char *find_binary(const char *name)
{
    const char *path = getenv("PATH");
    char *dirs;
    cr_assert(asprintf(&dirs, "%s:/usr/sbin:/usr/bin:/sbin:/bin", path ? path : "") > 0);
    char *save = NULL, *found = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *candidate;
        cr_assert(asprintf(&candidate, "%s/%s", dir, name) > 0);
        if (access(candidate, X_OK) == 0)
            found = candidate;
        else
            free(candidate);
    }
    free(dirs);
    return found;
}

static char *need_binary(const char *name, const char *package)
{
    char *path = find_binary(name);
    if (path == NULL)
        cr_skip_test("%s is not installed (Debian package %s; scripts/test installs it when run "
                     "as root)",
                     name, package);
    return path;
}

struct server {
    const char *name;
    int pid; /* also its process group */
    int out;
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct carry_text log; /* its stdout and stderr, as written */
    bool eof;
    int status;
};

/* Servers still running, for the test's fini (a failed assertion leaves
 * the test function early). */
static struct server *live[4];

static void kill_live_servers(void)
{
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i] != NULL && live[i]->pid > 0) {
            kill(-live[i]->pid, SIGKILL);
            waitpid(live[i]->pid, NULL, 0);
            live[i] = NULL;
        }
}

static void *server_reader(void *arg)
{
    struct server *s = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(s->out, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        pthread_mutex_lock(&s->lock);
        if (n > 0)
            carry_text_add(&s->log, buf, (size_t)n);
        else
            s->eof = true;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        if (n <= 0)
            return NULL;
    }
}

/* Waits until the log holds needle count times (true) or the server
 * closed its output (false). */
static bool server_wait(struct server *s, const char *needle, int count)
{
    pthread_mutex_lock(&s->lock);
    int seen;
    while ((seen = s->log.s ? carry_count(s->log.s, needle) : 0) < count && !s->eof)
        pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return seen >= count;
}

/* Stops the server and its process group with sig, waits for it and for
 * the end of its output.  A server that looks at its stop flag only
 * between waits (nginx with master_process off) can take the signal just
 * before it blocks in epoll_wait with no timeout, and sleep on: while it
 * has not exited a second later, the signal goes again. */
static void server_stop(struct server *s, int sig)
{
    int exited = (int)syscall(SYS_pidfd_open, s->pid, 0);
    kill(s->pid, sig);
    if (exited >= 0) {
        struct pollfd p = {.fd = exited, .events = POLLIN};
        int rc;
        while ((rc = poll(&p, 1, 1000)) <= 0) {
            cr_assert(rc == 0 || errno == EINTR, "poll: %s", strerror(errno));
            if (rc == 0)
                kill(s->pid, sig);
        }
        close(exited);
    }
    int status;
    while (waitpid(s->pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    s->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* Its children (nginx's workers) exit with it; none may linger. */
    kill(-s->pid, SIGKILL);
    pthread_join(s->reader, NULL);
    close(s->out);
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i] == s)
            live[i] = NULL;
    s->pid = 0;
}

/* The environment of a server under carry: libcarry preloaded (after the
 * sanitizer runtime it needs, in the sanitizer builds: a Debian binary has
 * none of its own, and ASan and TSan must come first), every line tagged,
 * and the n NAME=VALUE strings of extra (NULL ones skipped). */
static const char *const *carry_env_list(const char *const *extra, size_t n_extra)
{
    static char *env[16];
    static char *preload, *asan;
    free(preload);
    free(asan);
    const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
    if (runtime != NULL && runtime[0] != '\0')
        cr_assert(asprintf(&preload, "LD_PRELOAD=%s:%s", runtime, carry_test_lib()) > 0);
    else
        cr_assert(asprintf(&preload, "LD_PRELOAD=%s", carry_test_lib()) > 0);
    size_t n = 0;
    env[n++] = preload;
    env[n++] = "CARRY_TAG=stdout,stderr";
    /* The servers' own leaks at exit are theirs, not carry's. */
    const char *options = getenv("ASAN_OPTIONS");
    asan = NULL;
    if (options != NULL) {
        cr_assert(asprintf(&asan, "ASAN_OPTIONS=%s:detect_leaks=0", options) > 0);
        env[n++] = asan;
    }
    for (size_t i = 0; i < n_extra; i++)
        if (extra[i] != NULL && n < sizeof env / sizeof *env - 1)
            env[n++] = (char *)extra[i];
    env[n] = NULL;
    return (const char *const *)env;
}

static const char *const *carry_env2(const char *extra, const char *extra2)
{
    const char *list[] = {extra, extra2};
    return carry_env_list(list, 2);
}

static const char *const *carry_env(const char *extra)
{
    return carry_env2(extra, NULL);
}

/*
 * Starts argv (under carry if env is not NULL) and waits for ready in its
 * log.  argv may hold "PORT", replaced by a free port (set in *port); if
 * the server exits before it is ready because that port was taken
 * meanwhile, it is started again on another.  config, if not NULL, is
 * called with the port before each start (to write a configuration file).
 */
static void server_start(struct server *s, const char *name, const char *const *env,
                         const char *const *argv, const char *ready, int *port,
                         void (*config)(int port, void *arg), void *arg)
{
    for (int attempt = 1;; attempt++) {
        *s = (struct server){.name = name};
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        *port = carry_free_port(SOCK_STREAM);
        char port_text[16];
        snprintf(port_text, sizeof port_text, "%d", *port);
        const char *args[32];
        size_t n = 0;
        for (; argv[n] && n < 31; n++)
            args[n] = strcmp(argv[n], "PORT") == 0 ? port_text : argv[n];
        args[n] = NULL;
        if (config)
            config(*port, arg);
        s->pid = carry_spawn_group(false, env, args, &s->out);
        for (size_t i = 0; i < sizeof live / sizeof *live; i++)
            if (live[i] == NULL) {
                live[i] = s;
                break;
            }
        cr_assert_eq(pthread_create(&s->reader, NULL, server_reader, s), 0);
        if (server_wait(s, ready, 1))
            return;
        server_stop(s, SIGKILL);
        bool taken = strstr(s->log.s ? s->log.s : "", "in use") != NULL;
        cr_assert(taken && attempt < 5, "%s did not start (exit %d):\n%s", name, s->status,
                  s->log.s ? s->log.s : "");
        free(s->log.s);
    }
}

/* Runs server_client PROTO PORT ARGS... against s and returns its output;
 * if it failed, stops s and fails the test with both outputs (the
 * server's last: what a truncated log keeps). */
static char *run_client(struct server *s, const char *proto, int port, const char *const *args)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *argv[16] = {carry_test_fixture("server_client"), proto, port_text};
    size_t n = 3;
    for (; args && *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    struct carry_run_result r = carry_run_program(false, NULL, argv);
    if (r.status != 0) {
        server_stop(s, SIGTERM);
        cr_assert_fail("server_client %s failed:\n%s%s\n%s (exit %d) wrote:\n%s", proto, r.out,
                       r.err, s->name, s->status, s->log.s ? s->log.s : "");
    }
    free(r.err);
    return r.out;
}

static char *temp_dir(void)
{
    char *dir = strdup("/tmp/carry-servers-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    /* nginx's workers drop root for nobody and look into it. */
    chmod(dir, 0755);
    return dir;
}

static void remove_dir(char *dir)
{
    char *cmd;
    cr_assert(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

/* Fails the test unless ids[0..n) are all different. */
static void assert_distinct(const uint64_t *ids, size_t n, const char *what, const char *log)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(ids[i], ids[j], "%s %zu and %zu share id %016" PRIx64 ":\n%s", what, j,
                          i, ids[i], log);
}

/* ---- Mismatches under load ------------------------------------------------ */

/* 50 clients at once, as in issue reports' redis-benchmark -c 50: enough
 * that one epoll_wait returns the events of several connections. */
#define LOAD_CONNECTIONS "50"

/* The sum of the numbers after label over every CARRY_STATS report in log
 * (a process each); *reports is how many there were. */
static long stats_sum(const char *log, const char *label, int *reports)
{
    long sum = 0;
    *reports = 0;
    for (const char *p = strstr(log, "carry stats: pid "); p != NULL;
         p = strstr(p + 1, "carry stats: pid ")) {
        const char *at = strstr(p, label);
        cr_assert_not_null(at, "a report without \"%s\":\n%s", label, log);
        long n = 0;
        for (at += strlen(label); *at == ' ' || *at == ',' || (*at >= '0' && *at <= '9'); at++)
            if (*at >= '0' && *at <= '9')
                n = n * 10 + (*at - '0');
        sum += n;
        ++*reports;
    }
    return sum;
}

/*
 * The server s (started with CARRY_STATS=stderr, listening on port) serves
 * LOAD_CONNECTIONS concurrent clients of proto, rounds rounds each, in the
 * default CARRY_EPOLL (batch), then stops with SIGTERM: each of its
 * reports (reports processes) counts the connections, and not one I/O on a
 * connection's fd while another context was current.
 */
static void assert_no_mismatches(struct server *s, const char *proto, int port, const char *rounds,
                                 int reports)
{
    const char *args[] = {"--connections", LOAD_CONNECTIONS, "--requests", rounds, NULL};
    char *out = run_client(s, proto, port, args);
    cr_assert_not_null(strstr(out, "ok connections=" LOAD_CONNECTIONS " "), "%s", out);
    server_stop(s, SIGTERM);
    int seen;
    long accepted = stats_sum(s->log.s, "connections:", &seen);
    cr_assert_eq(seen, reports, "%d reports, %d processes:\n%s", seen, reports, s->log.s);
    cr_assert_geq(accepted, atol(LOAD_CONNECTIONS), "%s", s->log.s);
    long mismatches = stats_sum(s->log.s, "mismatches:", &seen);
    cr_assert_eq(mismatches, 0, "%s: %ld I/O on a connection in another's context:\n%s", s->name,
                 mismatches, s->log.s);
    free(out);
    free(s->log.s);
}

/* ---- memcached ----------------------------------------------------------- */

/* 8 connections at once, twice (the second wave reuses the first's fds),
 * 3 rounds of 6 commands each. */
#define MC_CONNECTIONS 8
#define MC_WAVES 2
#define MC_CLIENTS (MC_CONNECTIONS * MC_WAVES)
/* Rule R's test: 50 connections at once, 4 rounds (24 commands) each. */
#define MC_REQUEST_CLIENTS 50
#define MC_REQUEST_ROUNDS 4
#define MC_MAX_CLIENTS MC_REQUEST_CLIENTS

struct mc_run {
    char *log;
    char *replies;
};

static void memcached_start(struct server *s, const char *const *env, int *port)
{
    char *bin = need_binary("memcached", "memcached");
    const char *argv[16] = {bin, "-t", "4", "-vv", "-U", "0", "-l", "127.0.0.1", "-p", "PORT"};
    /* memcached refuses to run as root without -u. */
    if (geteuid() == 0) {
        argv[10] = "-u";
        argv[11] = "root";
    }
    server_start(s, "memcached", env, argv, "server listening", port, NULL, NULL);
    free(bin);
}

static struct mc_run memcached_run_in(const char *const *env, const char *const *client_args,
                                      int connections)
{
    struct server s;
    int port;
    memcached_start(&s, env, &port);
    char *out = run_client(&s, "memcached", port, client_args);
    /* Every connection's end is in the log before it stops. */
    cr_assert(server_wait(&s, "connection closed.", connections), "memcached stopped:\n%s",
              s.log.s);
    server_stop(&s, SIGTERM);
    struct mc_run r = {s.log.s, replies_only(out)};
    free(out);
    return r;
}

/* scope: CARRY_SCOPE's value under carry, NULL without carry. */
static struct mc_run memcached_run(const char *scope, const char *const *client_args,
                                   int connections)
{
    char var[32];
    snprintf(var, sizeof var, "CARRY_SCOPE=%s", scope ? scope : "");
    return memcached_run_in(scope ? carry_env(var) : NULL, client_args, connections);
}

/*
 * memcached's log, as statements: "<fd ...", ">fd ...", "fd: ...".  Its
 * worker threads write them to an unbuffered stderr, mostly one fprintf a
 * line, but ">fd sending key KEY" goes out a character at a time, so
 * another thread's line can land in the middle of it (as without carry):
 *
 *   [carry A] >29 sending key c<30 append c3:k1 0 0 2
 *   [carry A] 2:k1
 *
 * The tag of a line is the context of the thread that wrote its first
 * byte: the leading statement's.  A statement inside another's line
 * cannot have a tag of its own; a line that starts with the rest of a
 * broken one (a fragment, "2:k1") has its writer's.
 */
struct mc_statement {
    int fd;
    const char *text; /* from its marker to the end of the physical line */
    size_t len;       /* up to the next statement in the line */
};

/* A statement's marker at p: [<>]digits and a space, or (leading only)
 * digits, a colon and a space.  Its fd, or -1. */
static int mc_marker(const char *p, bool leading)
{
    const char *q = p;
    if (*q == '<' || *q == '>')
        q++;
    else if (!leading)
        return -1;
    if (*q < '0' || *q > '9')
        return -1;
    /* memcached prints an fd with %d: digits with a leading zero are the
     * rest of a broken line ("sending key c1" "0" "30: Client ..."). */
    if (q[0] == '0' && q[1] >= '0' && q[1] <= '9')
        return -1;
    char *end;
    long fd = strtol(q, &end, 10);
    if (q != p ? *end == ' ' : (end[0] == ':' && end[1] == ' '))
        return fd < 4096 ? (int)fd : -1;
    return -1;
}

/* Splits text into statements; returns how many (at most max). */
static size_t mc_statements(const char *text, struct mc_statement *st, size_t max)
{
    size_t n = 0;
    for (const char *p = text; *p && n < max; p++) {
        int fd = mc_marker(p, p == text);
        if (fd < 0)
            continue;
        if (n > 0)
            st[n - 1].len = (size_t)(p - st[n - 1].text);
        st[n++] = (struct mc_statement){fd, p, strlen(p)};
    }
    return n;
}

static bool mc_is_new(const struct mc_statement *st)
{
    return st->text[0] == '<' && memmem(st->text, st->len, " new ", 5) != NULL &&
           memmem(st->text, st->len, " client connection", 18) != NULL;
}

/* One connection's lifetime in memcached's log: from its "new ... client
 * connection" line to its "connection closed." line. */
struct mc_life {
    int fd;
    uint64_t id;      /* of its tagged lines after the "new" line */
    int lines;
    bool new_leading; /* its "new" line was a line of its own */
    bool new_tagged;
    uint64_t new_id;
    int client;       /* whose keys it carried, -1 if none */
    uint64_t conn;    /* its requests' connection id (rule R), 0 before */
    bool unseen;      /* a command echoed inside another's line: its id is its next line's */
    bool closed;
};

struct mc_check {
    struct mc_life life[MC_MAX_CLIENTS * 2];
    size_t lives;
    /* Rule R: the ids of the commands' lines, one per command. */
    uint64_t commands[MC_MAX_CLIENTS * MC_REQUEST_ROUNDS * 6];
    size_t n_commands; /* those whose id a line shows */
    int echoes;        /* command echoes ("<fd get KEY"), in lines of their own or not */
    int new_untagged;  /* "new" lines of their own without a tag */
    int interleaved;   /* statements inside another's line (memcached's doing) */
    int fragments;     /* lines that start with the rest of a broken line */
};

static bool mc_command_id(const struct mc_check *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_commands; i++)
        if (c->commands[i] == id)
            return true;
    return false;
}

/* per_request (rule R): each command's lines carry an id of their own,
 * which no other command's lines carry, instead of the connection's. */
static void memcached_check(char *log, int clients, bool per_request, struct mc_check *c)
{
    char *copy = strdup(log);
    struct lines l = split_lines(copy);
    static int open_life[4096];
    static bool listener[4096];
    for (size_t i = 0; i < 4096; i++) {
        open_life[i] = -1;
        listener[i] = false;
    }
    int client_life[MC_MAX_CLIENTS * 2];
    for (int i = 0; i < clients; i++)
        client_life[i] = -1;
    memset(c, 0, sizeof *c);

    for (size_t i = 0; i < l.n; i++) {
        struct tagged t = untag(l.v[i]);
        struct mc_statement st[8];
        size_t n = mc_statements(t.text, st, 8);
        bool fragment = n == 0 || st[0].text != t.text;
        if (fragment && t.text[0] != '\0' && strncmp(t.text, "slab class", 10) != 0 &&
            strstr(t.text, "Signal handled") == NULL && strcmp(t.text, "Exiting normally") != 0) {
            /* The rest of a connection's broken line: its writer's tag
             * (per request: a command's whose echo may have been broken
             * too, so only a tag). */
            c->fragments++;
            bool open = per_request && t.id != 0;
            for (size_t k = 0; k < c->lives && !open; k++)
                open = open_life[c->life[k].fd] == (int)k && c->life[k].id == t.id;
            cr_assert(t.tagged && open, "fragment \"%s\" not tagged with an open connection's id\n%s",
                      l.v[i], log);
        }
        for (size_t k = 0; k < n; k++) {
            bool leading = k == 0 && !fragment;
            int fd = st[k].fd;
            if (memmem(st[k].text, st[k].len, "server listening", 16)) {
                listener[fd] = true;
                continue;
            }
            if (listener[fd])
                continue;
            if (!leading)
                c->interleaved++;
            if (mc_is_new(&st[k])) {
                cr_assert_eq(open_life[fd], -1, "fd %d reused without a close line: %s\n%s", fd,
                             l.v[i], log);
                cr_assert_lt(c->lives, sizeof c->life / sizeof *c->life, "too many connections");
                c->life[c->lives] = (struct mc_life){.fd = fd, .new_leading = leading,
                                                     .new_tagged = leading && t.tagged,
                                                     .new_id = leading ? t.id : 0, .client = -1};
                if (leading && !t.tagged)
                    c->new_untagged++;
                open_life[fd] = (int)c->lives++;
                continue;
            }
            /* memcached's threads write a line in pieces: one cut into by
             * another's ("sending key c1" "28: Client ..." "5") leaves a
             * line about an fd number that is no connection. */
            if (open_life[fd] == -1) {
                c->interleaved++;
                continue;
            }
            struct mc_life *life = &c->life[open_life[fd]];
            bool closing = memmem(st[k].text, st[k].len, "connection closed.", 18) != NULL;
            bool command = per_request && !closing && st[k].text[0] == '<';
            c->echoes += command;
            if (command && !leading)
                life->unseen = true;
            if (leading && per_request && (closing || command || life->unseen)) {
                cr_assert(t.tagged && t.id != 0, "untagged line about a connection: \"%s\"\n%s",
                          l.v[i], log);
                /* A command's echo ("<fd get KEY") begins its request; the
                 * close line is the connection's, after its end of file. */
                cr_assert(!mc_command_id(c, t.id),
                          "fd %d: \"%s\" does not have an id of its own\n%s", fd, l.v[i], log);
                /* A request's tag names its connection, the close line's
                 * is the connection's own. */
                uint64_t conn = closing ? t.id : t.conn;
                cr_assert(conn != 0 && (closing ? t.conn == 0 : t.conn != t.id),
                          "fd %d: \"%s\" does not name its connection\n%s", fd, l.v[i], log);
                if (life->conn == 0)
                    life->conn = conn;
                cr_assert_eq(conn, life->conn, "fd %d: two connections' ids: %016" PRIx64
                             " then \"%s\"\n%s", fd, life->conn, l.v[i], log);
                if (!closing) {
                    life->unseen = false;
                    cr_assert_lt(c->n_commands, sizeof c->commands / sizeof *c->commands);
                    c->commands[c->n_commands++] = t.id;
                    life->id = t.id;
                    life->lines++;
                }
            } else if (leading) {
                /* Every line about the connection (its request), from the
                 * worker that serves it, carries one non-zero id. */
                cr_assert(t.tagged && t.id != 0, "untagged line about a connection: \"%s\"\n%s",
                          l.v[i], log);
                if (life->lines++ == 0)
                    life->id = t.id;
                cr_assert_eq(t.id, life->id,
                             "two ids on one connection (fd %d): %016" PRIx64 " then \"%s\"\n%s",
                             fd, life->id, l.v[i], log);
            }
            /* Its keys name the client: one connection per client.  Only
             * the commands it echoes ("<fd get KEY"), which are written
             * whole: ">fd sending key" may mix other threads' characters
             * into its key. */
            int client = -1;
            char *text = strndup(st[k].text, st[k].text[0] == '<' ? st[k].len : 0);
            for (const char *key = strstr(text, " c"); key && client < 0;
                 key = strstr(key + 1, " c")) {
                int end = 0; /* a whole key: c<I>:k<J> */
                if (sscanf(key, " c%d:k%*d%n", &client, &end) != 1 || end == 0)
                    client = -1;
            }
            free(text);
            if (client >= 0) {
                cr_assert_lt(client, clients, "%s", l.v[i]);
                if (life->client == -1) {
                    life->client = client;
                    cr_assert_eq(client_life[client], -1,
                                 "client %d's keys on two connections:\n%s", client, log);
                    client_life[client] = open_life[fd];
                }
                cr_assert_eq(life->client, client,
                             "keys of clients %d and %d on one connection: \"%s\"\n%s",
                             life->client, client, l.v[i], log);
            }
            if (closing) {
                life->closed = true;
                open_life[fd] = -1;
            }
        }
    }

    uint64_t ids[MC_MAX_CLIENTS * 2] = {0};
    for (size_t i = 0; i < c->lives; i++) {
        struct mc_life *life = &c->life[i];
        cr_assert(life->closed && life->lines > 0,
                  "connection on fd %d: no close line or no tagged line\n%s", life->fd, log);
        /* The "new" line, when tagged, is never another connection's. */
        cr_assert(per_request || !life->new_tagged || life->new_id == life->id,
                  "fd %d: \"new\" line tagged %016" PRIx64 ", its other lines %016" PRIx64 "\n%s",
                  life->fd, life->new_id, life->id, log);
        ids[i] = life->id;
    }
    assert_distinct(ids, c->lives, "connections", log);
    for (int i = 0; i < clients; i++)
        cr_assert_neq(client_life[i], -1, "no line names client %d's keys:\n%s", i, log);
    cr_assert_eq(c->lives, (size_t)clients, "%zu connections in the log, %d clients:\n%s",
                 c->lives, clients, log);
    free(l.v);
    free(copy);
}

TestSuite(memcached, .fini = kill_live_servers, .timeout = 120);

/* memcached's workers run their connections in libevent callbacks (rule
 * L); its dispatcher thread hands each connection over. */
Test(memcached, no_mismatch_under_concurrent_clients)
{
    struct server s;
    int port;
    memcached_start(&s, carry_env("CARRY_STATS=stderr"), &port);
    assert_no_mismatches(&s, "memcached", port, "10", 1);
}

/* CARRY_SCOPE=connection: one context per connection (rule C alone). */
Test(memcached, every_connection_line_carries_its_connections_id)
{
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", "2", NULL};
    struct mc_run plain = memcached_run(NULL, args, MC_CLIENTS);
    struct mc_run carry = memcached_run("connection", args, MC_CLIENTS);
    /* The same replies, byte for byte. */
    cr_assert_str_eq(carry.replies, plain.replies);
    cr_assert_eq(carry_count(carry.replies, "reply "), MC_CLIENTS * 3 * 6, "%s", carry.replies);

    struct mc_check c;
    memcached_check(carry.log, MC_CLIENTS, false, &c);
    cr_log_info("memcached: %zu connections, each of their lines tagged with its own id; %d "
                "\"new client connection\" lines untagged (see new_connection_line); %d "
                "statements inside another's line and %d broken-line fragments (memcached's "
                "own interleaving)",
                c.lives, c.new_untagged, c.interleaved, c.fragments);
    /* Without carry: not one tag. */
    cr_assert_null(strstr(plain.log, "[carry "), "%s", plain.log);
    free(plain.log);
    free(plain.replies);
    free(carry.log);
    free(carry.replies);
}

/*
 * The default scope (rule R): memcached with 4 workers, 50 clients at once
 * sending 24 commands each, one at a time, on one connection: the "<fd"
 * echo of every command and its ">fd" reply lines share one id, which no
 * other command's lines carry; a connection's commands never mix with
 * another's.
 */
Test(memcached, every_commands_lines_carry_its_requests_id)
{
    char connections[16], rounds[16];
    snprintf(connections, sizeof connections, "%d", MC_REQUEST_CLIENTS);
    snprintf(rounds, sizeof rounds, "%d", MC_REQUEST_ROUNDS);
    const char *args[] = {"--connections", connections, "--requests", rounds, NULL};
    struct mc_run carry = memcached_run("request", args, MC_REQUEST_CLIENTS);
    struct mc_check c;
    memcached_check(carry.log, MC_REQUEST_CLIENTS, true, &c);
    cr_assert_eq(c.echoes, MC_REQUEST_CLIENTS * MC_REQUEST_ROUNDS * 6, "%s", carry.log);
    /* A command whose echo and replies all land inside other threads'
     * lines (memcached's interleaving) shows no id; most show theirs. */
    cr_assert_geq(c.n_commands, (size_t)c.echoes * 9 / 10, "%s", carry.log);
    cr_log_info("memcached: %zu commands, each with an id of its own, of %d", c.n_commands,
                c.echoes);
    free(carry.log);
    free(carry.replies);
}

/*
 * memcached's worker prints "<fd new ... client connection" in the
 * callback of its notify eventfd or pipe (thread_libevent_process ->
 * conn_new), before it registers the connection's fd with libevent: the
 * dispatcher, in the connection's context since its accept, hands the fd
 * over through a queue of its own and a write to that channel, and the
 * worker's read of it makes that context current (rule H).  So each
 * connection's "new" line carries the connection's id: under
 * CARRY_SCOPE=connection the id of its other lines, under requests (rule
 * R) the connection its requests name.
 */
Test(memcached, new_connection_line)
{
    const char *args[] = {"--connections", "4", "--requests", "1", NULL};
    const char *scopes[] = {"connection", "request"};
    for (int s = 0; s < 2; s++) {
        bool per_request = s == 1;
        struct mc_run carry = memcached_run(scopes[s], args, 4);
        struct mc_check c;
        memcached_check(carry.log, 4, per_request, &c);
        cr_assert_eq(c.new_untagged, 0, "%s: %d of %zu \"new\" lines untagged\n%s", scopes[s],
                     c.new_untagged, c.lives, carry.log);
        int checked = 0;
        for (size_t i = 0; i < c.lives; i++) {
            const struct mc_life *life = &c.life[i];
            if (!life->new_leading)
                continue; /* cut into another line: its tag is that line's */
            uint64_t want = per_request ? life->conn : life->id;
            cr_assert(life->new_tagged && want != 0 && life->new_id == want,
                      "%s: fd %d's \"new\" line tagged %016" PRIx64 ", its connection %016" PRIx64
                      "\n%s", scopes[s], life->fd, life->new_id, want, carry.log);
            checked++;
        }
        cr_assert_gt(checked, 0, "%s: no \"new\" line of its own\n%s", scopes[s], carry.log);
        free(carry.log);
        free(carry.replies);
    }
}

/*
 * carry's own allocations fail (tests/fixtures/failalloc.c), the server's
 * succeed: memcached starts (its notify pipes and listener go through
 * epoll_ctl on epoll fds carry cannot track), answers every command as it
 * does without carry, and the report counts what ran without a context.
 * Once with no memory for carry at all, once with only its fd maps.
 */
Test(memcached, serves_every_command_when_carry_cannot_allocate)
{
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", "2", NULL};
    struct mc_run plain = memcached_run(NULL, args, MC_CLIENTS);
    const char *mmap_vars[] = {"CARRY_TEST_FAILALLOC_MMAP=1", "CARRY_TEST_FAILALLOC_MMAP=0"};
    for (int i = 0; i < 2; i++) {
        /* carry_env's, with the failing preload in place of libcarry's. */
        const char *const *base = carry_env("CARRY_STATS=stderr");
        const char *env[12];
        size_t n = 0;
        for (; base[n] != NULL; n++)
            env[n] = strncmp(base[n], "LD_PRELOAD=", 11) == 0 ? carry_failalloc_preload()
                                                                : base[n];
        env[n++] = mmap_vars[i];
        env[n] = NULL;
        struct mc_run failing = memcached_run_in(env, args, MC_CLIENTS);
        cr_assert_str_eq(failing.replies, plain.replies, "%s", mmap_vars[i]);
        cr_assert_gt(carry_lost_to_memory(failing.log), 0, "%s:\n%s", mmap_vars[i],
                     failing.log);
        free(failing.log);
        free(failing.replies);
    }
    free(plain.log);
    free(plain.replies);
}

/* How many allocations carry asks for while memcached serves WAVES waves of
 * 8 connections (tests/fixtures/failalloc.c counts them, failing none). */
static long memcached_carry_allocations(const char *waves)
{
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", waves, NULL};
    char path[] = "/tmp/carry-allocs-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    char count_var[64];
    snprintf(count_var, sizeof count_var, "CARRY_TEST_FAILALLOC_COUNT=%s", path);
    /* Connections only: a request's keys take store memory (see README). */
    const char *const *base = carry_env("CARRY_SCOPE=connection");
    const char *env[12];
    size_t n = 0;
    for (; base[n] != NULL; n++)
        env[n] = strncmp(base[n], "LD_PRELOAD=", 11) == 0 ? carry_failalloc_preload() : base[n];
    env[n++] = "CARRY_TEST_FAILALLOC_AFTER=1000000000";
    env[n++] = "CARRY_TEST_FAILALLOC_MMAP=0";
    env[n++] = count_var;
    env[n] = NULL;
    struct mc_run r = memcached_run_in(env, args, 8 * atoi(waves));
    char text[32] = "";
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(path);
    cr_assert_gt(len, 0, "no allocation count:\n%s", r.log);
    free(r.log);
    free(r.replies);
    return atol(text);
}

/* A connection costs carry no allocation once its pools hold what the
 * concurrency needs: 80 connections ask for no more than 16. */
Test(memcached, connections_cost_no_allocation_in_steady_state)
{
    long few = memcached_carry_allocations("2"), many = memcached_carry_allocations("10");
    cr_assert_eq(many, few, "carry allocated %ld times for 16 connections, %ld for 80", few,
                 many);
}

/* ---- redis-server -------------------------------------------------------- */

#define REDIS_CLIENTS 16

struct redis_run {
    char *log;
    char *out; /* the client's output, with its "conn I ADDR" lines */
};

static void redis_start(struct server *s, const char *const *env, const char *dir, int *port)
{
    char *bin = need_binary("redis-server", "redis-server");
    const char *argv[] = {bin, "--port", "PORT", "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--loglevel", "verbose", "--logfile", "",
                          "--daemonize", "no", "--dir", dir, NULL};
    server_start(s, "redis-server", env, argv, "Ready to accept connections", port, NULL, NULL);
    free(bin);
}

static struct redis_run redis_run(bool carry)
{
    char *dir = temp_dir();
    struct server s;
    int port;
    redis_start(&s, carry ? carry_env(NULL) : NULL, dir, &port);
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", "2", "--peers",
                          NULL};
    char *out = run_client(&s, "redis", port, args);
    cr_assert(server_wait(&s, "Client closed connection", REDIS_CLIENTS), "redis stopped:\n%s",
              s.log.s);
    server_stop(&s, SIGTERM);
    cr_assert_eq(s.status, 0, "redis-server exited %d:\n%s", s.status, s.log.s);
    remove_dir(dir);
    return (struct redis_run){s.log.s, out};
}

TestSuite(redis, .fini = kill_live_servers, .timeout = 120);

/* redis reads a batch of requests, then writes every reply in beforeSleep,
 * after the last event of the batch: in batch mode each write must run in
 * its own connection's context. */
Test(redis, no_mismatch_under_concurrent_clients)
{
    char *dir = temp_dir();
    struct server s;
    int port;
    redis_start(&s, carry_env("CARRY_STATS=stderr"), dir, &port);
    assert_no_mismatches(&s, "redis", port, "10", 1);
    remove_dir(dir);
}

Test(redis, accept_and_close_lines_carry_the_connections_id)
{
    struct redis_run plain = redis_run(false);
    struct redis_run carry = redis_run(true);
    char *want = replies_only(plain.out), *got = replies_only(carry.out);
    cr_assert_str_eq(got, want);
    cr_assert_eq(carry_count(got, "reply "), REDIS_CLIENTS * 3 * 6, "%s", got);

    char *copy = strdup(carry.log);
    struct lines l = split_lines(copy);
    uint64_t ids[REDIS_CLIENTS];
    for (int i = 0; i < REDIS_CLIENTS; i++) {
        char needle[64], accepted[96], closed[96];
        snprintf(needle, sizeof needle, "conn %d ", i);
        const char *conn = strstr(carry.out, needle);
        cr_assert_not_null(conn, "%s", carry.out);
        char *peer = strndup(conn + strlen(needle), strcspn(conn + strlen(needle), "\n"));
        snprintf(accepted, sizeof accepted, " - Accepted %s", peer);
        snprintf(closed, sizeof closed, " - Client closed connection id=");
        uint64_t accept_id = 0, close_id = 0;
        int accepts = 0, closes = 0;
        for (size_t k = 0; k < l.n; k++) {
            struct tagged t = untag(l.v[k]);
            const char *a = strstr(t.text, accepted);
            if (a && a[strlen(accepted)] == '\0') {
                accepts++;
                cr_assert(t.tagged && t.id != 0, "untagged: \"%s\"\n%s", l.v[k], carry.log);
                accept_id = t.id;
            }
            char addr[96];
            snprintf(addr, sizeof addr, " addr=%s ", peer);
            if (strstr(t.text, closed) && strstr(t.text, addr)) {
                closes++;
                cr_assert(t.tagged && t.id != 0, "untagged: \"%s\"\n%s", l.v[k], carry.log);
                close_id = t.id;
            }
        }
        cr_assert(accepts == 1 && closes == 1, "client %d (%s): %d Accepted, %d closed lines:\n%s",
                  i, peer, accepts, closes, carry.log);
        /* The accept and the close of one client: one id. */
        cr_assert_eq(close_id, accept_id,
                     "client %d (%s): Accepted in %016" PRIx64 ", closed in %016" PRIx64 "\n%s", i,
                     peer, accept_id, close_id, carry.log);
        ids[i] = accept_id;
        free(peer);
    }
    assert_distinct(ids, REDIS_CLIENTS, "clients", carry.log);
    /* And no Accepted or closed line anywhere without its tag. */
    for (size_t k = 0; k < l.n; k++) {
        struct tagged t = untag(l.v[k]);
        if (strstr(t.text, " - Accepted ") || strstr(t.text, " - Client closed connection"))
            cr_assert(t.tagged && t.id != 0, "untagged: \"%s\"", l.v[k]);
    }
    cr_assert_null(strstr(plain.log, "[carry "), "%s", plain.log);
    free(l.v);
    free(copy);
    free(want);
    free(got);
    free(plain.log);
    free(plain.out);
    free(carry.log);
    free(carry.out);
}

/* ---- nginx --------------------------------------------------------------- */

struct nginx_config {
    const char *dir;
    bool master; /* master_process on, 2 workers; else one process */
    const char *level;
    int upstream; /* a reverse proxy to 127.0.0.1:upstream; 0: answers itself */
};

static void nginx_write_config(int port, void *arg)
{
    const struct nginx_config *c = arg;
    char *path;
    cr_assert(asprintf(&path, "%s/nginx.conf", c->dir) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    /* access_log "" is nginx's stderr (its empty file name), so that the
     * access log is tagged too: carry tags fds 1 and 2, not files. */
    fprintf(f,
            "daemon off;\n"
            "master_process %s;\n"
            "worker_processes 2;\n"
            "pid %s/nginx.pid;\n"
            "error_log stderr %s;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  log_format carry 'conn=$connection req=$connection_requests \"$request\" $status "
            "tp=$http_traceparent';\n"
            "  access_log \"\" carry;\n"
            "  client_body_temp_path %s/body;\n"
            "  proxy_temp_path %s/proxy;\n"
            "  fastcgi_temp_path %s/fastcgi;\n"
            "  uwsgi_temp_path %s/uwsgi;\n"
            "  scgi_temp_path %s/scgi;\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n",
            c->master ? "on" : "off", c->dir, c->level, c->dir, c->dir, c->dir, c->dir, c->dir,
            port);
    if (c->upstream != 0)
        fprintf(f, "    location / { proxy_pass http://127.0.0.1:%d; }\n", c->upstream);
    else
        fprintf(f, "    location / { return 200 \"hello $uri\\n\"; }\n");
    fprintf(f, "  }\n}\n");
    cr_assert_eq(fclose(f), 0);
    free(path);
}

/* nginx keeps its connections alive: its tests of connections' ids run
 * with CARRY_SCOPE=connection, unless requests (rule R) is asked for. */
static void nginx_start(struct server *s, bool carry, const char *extra_env,
                        const struct nginx_config *config, int *port, bool requests)
{
    char *bin = need_binary("nginx", "nginx-light");
    char *conf;
    cr_assert(asprintf(&conf, "%s/nginx.conf", config->dir) > 0);
    /* -e stderr: nginx's own messages before it reads the configuration. */
    const char *argv[] = {bin, "-p", config->dir, "-c", conf, "-e", "stderr", NULL};
    /* Printed once the listening socket is open. */
    server_start(s, "nginx",
                 carry ? carry_env2(extra_env, requests ? NULL : "CARRY_SCOPE=connection") : NULL, argv,
                 "getrlimit(RLIMIT_NOFILE)", port, nginx_write_config, (void *)config);
    free(conf);
    free(bin);
}

/* "*N " in an nginx error log line: the connection's number, or -1. */
static long nginx_connection(const char *text)
{
    const char *p = strstr(text, "#");
    p = p ? strstr(p, ": *") : NULL;
    if (p == NULL)
        return -1;
    char *end;
    long n = strtol(p + 3, &end, 10);
    return end > p + 3 && *end == ' ' ? n : -1;
}

#define NGINX_CONNS 1024

/* Fails the test unless every nginx error log line about a connection
 * ("*N ...") carries one id per N, different between connections; returns
 * how many connections it saw. */
static int nginx_check_error_lines(const char *log, uint64_t *id_of)
{
    char *copy = strdup(log);
    struct lines l = split_lines(copy);
    int seen = 0;
    for (size_t k = 0; k < l.n; k++) {
        struct tagged t = untag(l.v[k]);
        long n = nginx_connection(t.text);
        if (n < 0)
            continue;
        cr_assert_lt(n, NGINX_CONNS);
        cr_assert(t.tagged && t.id != 0, "untagged line about connection %ld: \"%s\"\n%s", n,
                  l.v[k], log);
        if (id_of[n] == 0) {
            id_of[n] = t.id;
            seen++;
        }
        cr_assert_eq(t.id, id_of[n],
                     "connection %ld: line tagged %016" PRIx64 ", its first %016" PRIx64
                     ": \"%s\"\n%s",
                     n, t.id, id_of[n], l.v[k], log);
    }
    uint64_t ids[NGINX_CONNS];
    size_t m = 0;
    for (size_t n = 0; n < NGINX_CONNS; n++)
        if (id_of[n] != 0)
            ids[m++] = id_of[n];
    assert_distinct(ids, m, "connections", log);
    free(l.v);
    free(copy);
    return seen;
}

TestSuite(nginx, .fini = kill_live_servers, .timeout = 120);

#define NGINX_CLIENTS 16
#define NGINX_REQUESTS 3

/* A master and 2 workers, each with its report; the workers serve the
 * connections, reading and writing each in its event's handler. */
Test(nginx, no_mismatch_under_concurrent_clients)
{
    char *dir = temp_dir();
    struct nginx_config config = {dir, true, "info", 0};
    struct server s;
    int port;
    nginx_start(&s, true, "CARRY_STATS=stderr", &config, &port, false);
    assert_no_mismatches(&s, "http", port, "20", 3);
    remove_dir(dir);
}

/*
 * The default mode (CARRY_EPOLL=batch), a master and 2 workers, the error
 * log at info: the access log lines (written after the response) and the
 * "*N client closed keepalive connection" lines (after the read that saw
 * the end) of every connection carry its id; a keep-alive connection's
 * requests share it.
 */
Test(nginx, access_and_error_lines_carry_the_connections_id)
{
    char *dir = temp_dir();
    struct nginx_config config = {dir, true, "info", 0};
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", "2", NULL};
    char *out[2], *log = NULL;
    for (int carry = 0; carry < 2; carry++) {
        struct server s;
        int port;
        nginx_start(&s, carry, NULL, &config, &port, false);
        out[carry] = run_client(&s, "http", port, args);
        cr_assert(server_wait(&s, "closed keepalive connection", NGINX_CLIENTS),
                  "nginx stopped:\n%s", s.log.s);
        server_stop(&s, SIGTERM);
        if (carry) {
            log = s.log.s;
        } else {
            cr_assert_null(strstr(s.log.s, "[carry "), "%s", s.log.s);
            free(s.log.s);
        }
    }
    /* The same responses (the Date header's value aside: the client
     * prints "-" for it). */
    cr_assert_str_eq(out[1], out[0]);

    /* Access log: conn=N req=R "GET /cI/rJ HTTP/1.1" 200. */
    static uint64_t id_of[NGINX_CONNS];
    memset(id_of, 0, sizeof id_of);
    long conn_of_client[NGINX_CLIENTS];
    for (int i = 0; i < NGINX_CLIENTS; i++)
        conn_of_client[i] = -1;
    char *copy = strdup(log);
    struct lines l = split_lines(copy);
    int access = 0;
    for (size_t k = 0; k < l.n; k++) {
        struct tagged t = untag(l.v[k]);
        long n, r;
        int i, j;
        if (sscanf(t.text, "conn=%ld req=%ld \"GET /c%d/r%d HTTP/1.1\" 200", &n, &r, &i, &j) != 4)
            continue;
        access++;
        cr_assert(n >= 0 && n < NGINX_CONNS && i >= 0 && i < NGINX_CLIENTS, "%s", l.v[k]);
        cr_assert(t.tagged && t.id != 0, "untagged access log line: \"%s\"\n%s", l.v[k], log);
        cr_assert_eq(r, j + 1, "request %d of client %d is request %ld on its connection", j, i,
                     r);
        if (conn_of_client[i] == -1)
            conn_of_client[i] = n;
        cr_assert_eq(conn_of_client[i], n, "client %d on two connections?\n%s", i, log);
        if (id_of[n] == 0)
            id_of[n] = t.id;
        /* Every request of a keep-alive connection: its id. */
        cr_assert_eq(t.id, id_of[n], "connection %ld: \"%s\" after %016" PRIx64 "\n%s", n, l.v[k],
                     id_of[n], log);
    }
    cr_assert_eq(access, NGINX_CLIENTS * NGINX_REQUESTS, "%d access log lines:\n%s", access, log);
    /* The error log's lines about a connection: the same ids, distinct. */
    static uint64_t error_id_of[NGINX_CONNS];
    memset(error_id_of, 0, sizeof error_id_of);
    int seen = nginx_check_error_lines(log, error_id_of);
    cr_assert_eq(seen, NGINX_CLIENTS, "%d connections in the error log:\n%s", seen, log);
    for (size_t n = 0; n < NGINX_CONNS; n++)
        cr_assert(error_id_of[n] == 0 || error_id_of[n] == id_of[n],
                  "connection %zu: error log %016" PRIx64 ", access log %016" PRIx64 "\n%s", n,
                  error_id_of[n], id_of[n], log);
    uint64_t ids[NGINX_CLIENTS];
    for (int i = 0; i < NGINX_CLIENTS; i++)
        ids[i] = id_of[conn_of_client[i]];
    assert_distinct(ids, NGINX_CLIENTS, "clients", log);

    free(l.v);
    free(copy);
    free(log);
    free(out[0]);
    free(out[1]);
    remove_dir(dir);
}

/*
 * The default scope (rule R), keep-alive connections, 2 workers: every
 * access log line (written after the response, in the request's context)
 * carries an id of its own and its connection's, the same connection for
 * a connection's requests and a different one for every connection; the
 * traceparent each request sent (logged beside it: $http_traceparent) is
 * the one carry adopted for that request's context (CARRY_DEBUG=2 says
 * which context adopted which).
 */
Test(nginx, keepalive_requests_have_ids_of_their_own_and_adopt_their_traceparent)
{
    char *dir = temp_dir();
    struct nginx_config config = {dir, true, "info", 0};
    const char *args[] = {"--connections", "8", "--requests", "3", "--waves", "2", "--trace", NULL};
    struct server s;
    int port;
    nginx_start(&s, true, "CARRY_DEBUG=2", &config, &port, true);
    free(run_client(&s, "http", port, args));
    cr_assert(server_wait(&s, "closed keepalive connection", NGINX_CLIENTS), "nginx stopped:\n%s",
              s.log.s);
    server_stop(&s, SIGTERM);
    char *log = s.log.s, *copy = strdup(log);
    struct lines l = split_lines(copy);

    /* "carry: ... context <id> adopts traceparent <55 bytes>" */
    enum { MAX_ADOPTED = 256 };
    uint64_t adopted_id[MAX_ADOPTED];
    char adopted_tp[MAX_ADOPTED][56];
    size_t adopted = 0;
    for (size_t k = 0; k < l.n; k++) {
        const char *a = strstr(l.v[k], "context ");
        unsigned long long id;
        char tp[56];
        if (a && sscanf(a, "context %16llx adopts traceparent %55s", &id, tp) == 2) {
            cr_assert_lt(adopted, (size_t)MAX_ADOPTED);
            adopted_id[adopted] = id;
            memcpy(adopted_tp[adopted++], tp, sizeof tp);
        }
    }

    uint64_t ids[NGINX_CLIENTS * NGINX_REQUESTS], conn_of_client[NGINX_CLIENTS] = {0};
    int access = 0;
    for (size_t k = 0; k < l.n; k++) {
        struct tagged t = untag(l.v[k]);
        long n, r;
        int i, j;
        char tp[64];
        if (sscanf(t.text, "conn=%ld req=%ld \"GET /c%d/r%d HTTP/1.1\" 200 tp=%63s", &n, &r, &i,
                   &j, tp) != 5)
            continue;
        cr_assert(i >= 0 && i < NGINX_CLIENTS && access < NGINX_CLIENTS * NGINX_REQUESTS, "%s",
                  l.v[k]);
        cr_assert(t.tagged && t.id != 0 && t.conn != 0 && t.conn != t.id,
                  "not tagged with a request and its connection: \"%s\"\n%s", l.v[k], log);
        ids[access++] = t.id;
        if (conn_of_client[i] == 0)
            conn_of_client[i] = t.conn;
        cr_assert_eq(t.conn, conn_of_client[i], "client %d, request %d: \"%s\"\n%s", i, j, l.v[k],
                     log);
        char want[56];
        snprintf(want, sizeof want, "00-4bf92f3577b34da6%08x%08x-00f067aa0ba902b7-01",
                 (unsigned)i, (unsigned)j);
        cr_assert_str_eq(tp, want, "%s", l.v[k]);
        size_t a = 0;
        while (a < adopted && adopted_id[a] != t.id)
            a++;
        cr_assert_lt(a, adopted, "request context %016" PRIx64 " adopted no traceparent\n%s",
                     t.id, log);
        cr_assert_str_eq(adopted_tp[a], tp, "context %016" PRIx64 " adopted another trace",
                         t.id);
    }
    cr_assert_eq(access, NGINX_CLIENTS * NGINX_REQUESTS, "%d access log lines:\n%s", access, log);
    assert_distinct(ids, (size_t)access, "requests", log);
    assert_distinct(conn_of_client, NGINX_CLIENTS, "connections", log);

    free(l.v);
    free(copy);
    free(log);
    remove_dir(dir);
}

/* Sends all of text on fd. */
static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        text += n;
        len -= (size_t)n;
    }
}

/* Reads one response of "hello PATH\n" (a whole one: it ends with it). */
static void read_response(int fd, const char *path)
{
    char want[128], buf[2048];
    snprintf(want, sizeof want, "\r\n\r\nhello %s\n", path);
    size_t len = 0;
    while (len < strlen(want) || strcmp(buf + len - strlen(want), want) != 0) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "no response for %s", path);
        len += (size_t)n;
        buf[len] = '\0';
    }
    cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
}

/*
 * CARRY_EPOLL=split and the error log at debug: every line nginx writes
 * about a connection, including those it writes before its first read of
 * an event (the handler's name, its buffer, "recv: eof:0, avail:-1"),
 * carries the connection's id, even when one epoll_wait delivers the
 * events of several connections: the worker is stopped (SIGSTOP) while
 * every connection sends, so that it finds them all ready at once.  (The
 * default, batch, switches at the first I/O of each event: those early
 * lines carry the previous event's id there; see README, Real servers.)
 */
Test(nginx, split_mode_tags_every_line_of_batched_events)
{
    char *dir = temp_dir();
    struct nginx_config config = {dir, false, "debug", 0};
    struct server s;
    int port;
    nginx_start(&s, true, "CARRY_EPOLL=split", &config, &port, false);
    enum { CONNS = 4 };
    int fds[CONNS];
    char path[32];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = carry_dial(port);
        snprintf(path, sizeof path, "/c%d/r0", i);
        char req[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: carry\r\n\r\n", path);
        send_text(fds[i], req);
        read_response(fds[i], path);
    }
    /* One batch of requests, then one batch of ends. */
    cr_assert_eq(kill(s.pid, SIGSTOP), 0);
    for (int i = 0; i < CONNS; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET /c%d/r1 HTTP/1.1\r\nHost: carry\r\n\r\n", i);
        send_text(fds[i], req);
    }
    cr_assert_eq(kill(s.pid, SIGCONT), 0);
    for (int i = 0; i < CONNS; i++) {
        snprintf(path, sizeof path, "/c%d/r1", i);
        read_response(fds[i], path);
    }
    cr_assert_eq(kill(s.pid, SIGSTOP), 0);
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
    cr_assert_eq(kill(s.pid, SIGCONT), 0);
    cr_assert(server_wait(&s, "closed keepalive connection", CONNS), "nginx stopped:\n%s",
              s.log.s);
    server_stop(&s, SIGTERM);

    static uint64_t id_of[NGINX_CONNS];
    memset(id_of, 0, sizeof id_of);
    int seen = nginx_check_error_lines(s.log.s, id_of);
    cr_assert_eq(seen, CONNS, "%d connections in the log:\n%s", seen, s.log.s);
    if (strstr(s.log.s, "[debug]") == NULL)
        cr_log_warn("this nginx has no debug log (built without --with-debug): only its info "
                    "lines were checked");
    free(s.log.s);
    remove_dir(dir);
}

/* ---- redis: a busy script killed -------------------------------------------- */

/* Reads one RESP line (up to "\r\n") from fd into buf. */
static void read_resp_line(int fd, char *buf, size_t size)
{
    size_t len = 0;
    while (len < 2 || strcmp(buf + len - 2, "\r\n") != 0) {
        cr_assert_lt(len + 1, size);
        ssize_t n = recv(fd, buf + len, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "no reply");
        len += (size_t)n;
        buf[len] = '\0';
    }
}

/* The id of the one line of log that contains needle; fails unless there
 * is exactly one. */
static struct tagged the_line(const char *log, const char *needle)
{
    char *copy = strdup(log);
    struct lines l = split_lines(copy);
    struct tagged found = {0};
    int seen = 0;
    for (size_t k = 0; k < l.n; k++)
        if (strstr(l.v[k], needle) != NULL) {
            found = untag(l.v[k]);
            seen++;
        }
    cr_assert_eq(seen, 1, "%d lines with \"%s\":\n%s", seen, needle, log);
    found.text = NULL; /* in copy, freed here */
    free(l.v);
    free(copy);
    return found;
}

/*
 * redis runs its event loop from inside a busy script (to serve SCRIPT
 * KILL from another client): that nested epoll_wait must not end the
 * EVAL's context, so "Lua script killed by user", which redis logs when
 * that loop returns into the script, is tagged as "Slow script detected"
 * of the same EVAL.
 */
Test(redis, a_killed_scripts_lines_carry_its_requests_id)
{
    char *bin = need_binary("redis-server", "redis-server");
    char *dir = temp_dir();
    struct server s;
    int port;
    const char *argv[] = {bin, "--port", "PORT", "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--loglevel", "verbose", "--logfile", "",
                          "--daemonize", "no", "--dir", dir, "--lua-time-limit", "50", NULL};
    server_start(&s, "redis-server", carry_env(NULL), argv, "Ready to accept connections", &port,
                 NULL, NULL);
    int eval = carry_dial(port);
    send_text(eval, "*3\r\n$4\r\nEVAL\r\n$17\r\nwhile true do end\r\n$1\r\n0\r\n");
    cr_assert(server_wait(&s, "Slow script detected", 1), "redis stopped:\n%s", s.log.s);
    int killer = carry_dial(port);
    send_text(killer, "*2\r\n$6\r\nSCRIPT\r\n$4\r\nKILL\r\n");
    char reply[512];
    read_resp_line(killer, reply, sizeof reply);
    cr_assert_str_eq(reply, "+OK\r\n");
    read_resp_line(eval, reply, sizeof reply);
    cr_assert(strstr(reply, "killed") != NULL, "%s", reply);
    cr_assert(server_wait(&s, "Lua script killed by user", 1), "redis stopped:\n%s", s.log.s);
    close(eval);
    close(killer);
    server_stop(&s, SIGTERM);
    struct tagged slow = the_line(s.log.s, "Slow script detected");
    struct tagged killed = the_line(s.log.s, "Lua script killed by user");
    cr_assert(slow.tagged && slow.id != 0, "%s", s.log.s);
    cr_assert(killed.tagged, "untagged:\n%s", s.log.s);
    cr_assert_eq(killed.id, slow.id, "%s", s.log.s);
    free(s.log.s);
    remove_dir(dir);
    free(bin);
}

/* ---- nginx as a reverse proxy (rule W outgoing) --------------------------- */

/* An upstream in this process, not under carry: answers n requests, one
 * connection each, and keeps the heads it received. */
struct upstream {
    int listener, port, n;
    pthread_t thread;
    char *heads[4];
};

static void *upstream_serve(void *arg)
{
    struct upstream *u = arg;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nup\n";
    for (int i = 0; i < u->n; i++) {
        int fd = accept(u->listener, NULL, NULL);
        cr_assert_geq(fd, 0);
        struct carry_text t = {0};
        char buf[1024];
        ssize_t got;
        while ((t.s == NULL || strstr(t.s, "\r\n\r\n") == NULL) &&
               (got = read(fd, buf, sizeof buf)) > 0)
            carry_text_add(&t, buf, (size_t)got);
        u->heads[i] = t.s;
        cr_assert_eq(write(fd, reply, sizeof reply - 1), (ssize_t)(sizeof reply - 1));
        close(fd);
    }
    return NULL;
}

static void upstream_start(struct upstream *u, int n)
{
    *u = (struct upstream){.n = n};
    u->listener = carry_listen(8, &u->port);
    cr_assert_eq(pthread_create(&u->thread, NULL, upstream_serve, u), 0);
}

/* The value of the one traceparent header in head (56 bytes with the NUL). */
static void head_traceparent(const char *head, char tp[56])
{
    cr_assert_eq(carry_count(head, "traceparent:"), 1, "%s", head);
    const char *v = strstr(head, "traceparent: ");
    cr_assert_not_null(v, "%s", head);
    cr_assert_eq(sscanf(v + 13, "%55s", tp), 1);
}

/* The access log line (CARRY_TAG_FORMAT=otel: the request context's
 * "trace_id=... span_id=..." in front) of the request for target. */
static void access_ids(const char *log, const char *target, char trace[33], char span[17])
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"GET %s HTTP/1.1\" 200", target);
    const char *hit = strstr(log, needle);
    cr_assert_not_null(hit, "no access line for %s:\n%s", target, log);
    const char *line = hit;
    while (line > log && line[-1] != '\n')
        line--;
    cr_assert_eq(sscanf(line, "trace_id=%32s span_id=%16s ", trace, span), 2, "%.*s",
                 (int)(hit - line) + 40, line);
}

/* The two requests sent through an nginx proxy: one from a caller with a
 * trace of its own, one without a traceparent. */
static const char *const proxied_requests[] = {
    "GET /with HTTP/1.1\r\nHost: a\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-"
    "b7ad6b7169203331-01\r\nConnection: close\r\n\r\n",
    "GET /without HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"};

/*
 * nginx under carry with CARRY_TRACE=inject, proxy_pass to an upstream
 * that records what it gets.  A request that comes with a traceparent: nginx
 * forwards the header (proxy_pass_request_headers), and carry gives it the
 * front request's span as parent-id; one without: the upstream gets the
 * front request's own trace and span.  The front request's ids are read
 * from its access log line, tagged with them (CARRY_TAG_FORMAT=otel), and
 * CARRY_DEBUG=2 says which traceparent it adopted.
 */
Test(nginx, as_a_proxy_passes_the_requests_trace_upstream)
{
    char *dir = temp_dir();
    struct upstream up;
    upstream_start(&up, 2);
    struct nginx_config config = {dir, false, "info", up.port};
    struct server s;
    int port;
    char *bin = need_binary("nginx", "nginx-light");
    char *conf;
    cr_assert(asprintf(&conf, "%s/nginx.conf", dir) > 0);
    const char *argv[] = {bin, "-p", dir, "-c", conf, "-e", "stderr", NULL};
    const char *extra[] = {"CARRY_TRACE=inject", "CARRY_TAG_FORMAT=otel", "CARRY_DEBUG=2"};
    server_start(&s, "nginx", carry_env_list(extra, 3), argv, "getrlimit(RLIMIT_NOFILE)", &port, nginx_write_config,
                 &config);
    static const char caller[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (int i = 0; i < 2; i++) {
        char *got = carry_exchange(port, proxied_requests[i]);
        cr_assert(strstr(got, "\r\n\r\nup\n"), "reply %d: %s", i, got);
        free(got);
    }
    pthread_join(up.thread, NULL);
    close(up.listener);
    cr_assert(server_wait(&s, "\"GET /without HTTP/1.1\" 200", 1), "nginx stopped:\n%s", s.log.s);
    server_stop(&s, SIGTERM);

    char trace[33], span[17], tp[56], want[56];
    /* With: the caller's trace, the front request's span as parent. */
    access_ids(s.log.s, "/with", trace, span);
    cr_assert_str_eq(trace, "0af7651916cd43dd8448eb211c80319c");
    char adopts[128];
    snprintf(adopts, sizeof adopts, "context %s adopts traceparent %s", span, caller);
    cr_assert_not_null(strstr(s.log.s, adopts), "no \"%s\" in:\n%s", adopts, s.log.s);
    head_traceparent(up.heads[0], tp);
    snprintf(want, sizeof want, "00-%s-%s-01", trace, span);
    cr_assert_str_eq(tp, want, "upstream got:\n%s", up.heads[0]);
    /* Without: the front request's own trace and span. */
    access_ids(s.log.s, "/without", trace, span);
    head_traceparent(up.heads[1], tp);
    snprintf(want, sizeof want, "00-%s-%s-01", trace, span);
    cr_assert_str_eq(tp, want, "upstream got:\n%s", up.heads[1]);
    cr_assert_neq(strcmp(trace, "0af7651916cd43dd8448eb211c80319c"), 0);
    for (int i = 0; i < 2; i++)
        free(up.heads[i]);
    free(conf);
    free(bin);
    remove_dir(dir);
}

/* ---- OpenTelemetry export (rule O) ------------------------------------- */

/* A span as the receiver decoded it (tests/support/otlp.h). */
struct span_rec {
    char trace[40], span[20], parent[20], name[40], kind[4], path[64], client[64], client_port[8],
        service[32];
    unsigned long long start, end;
};

/* The spans in the receiver's text whose server.port is port, into out
 * (room for max); returns how many there are in all. */
static size_t spans_of(const char *text, int port, struct span_rec *out, size_t max)
{
    size_t n = 0;
    char want[16], got[16], start[32], end[32];
    snprintf(want, sizeof want, "%d", port);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *next = strchr(line, '\n');
        struct span_rec r = {0};
        if (carry_otlp_field(line, "trace_id", r.trace, sizeof r.trace) &&
            carry_otlp_field(line, "server.port", got, sizeof got) && strcmp(got, want) == 0) {
            carry_otlp_field(line, "span_id", r.span, sizeof r.span);
            carry_otlp_field(line, "parent_span_id", r.parent, sizeof r.parent);
            carry_otlp_field(line, "name", r.name, sizeof r.name);
            carry_otlp_field(line, "kind", r.kind, sizeof r.kind);
            carry_otlp_field(line, "url.path", r.path, sizeof r.path);
            carry_otlp_field(line, "client.address", r.client, sizeof r.client);
            carry_otlp_field(line, "client.port", r.client_port, sizeof r.client_port);
            carry_otlp_field(line, "service.name", r.service, sizeof r.service);
            r.start = strtoull(carry_otlp_field(line, "start", start, sizeof start) ?: "0", NULL, 10);
            r.end = strtoull(carry_otlp_field(line, "end", end, sizeof end) ?: "0", NULL, 10);
            if (n < max)
                out[n] = r;
            n++;
        }
        line = next ? next + 1 : NULL;
    }
    return n;
}

/* kind is not a string in the receiver's JSON: "kind":2. */
static void kind_of(const char *text, const char *span, char *kind)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"span_id\":\"%s\"", span);
    const char *line = strstr(text, needle), *k = line ? strstr(line, "\"kind\":") : NULL;
    cr_assert_not_null(k, "span %s has no kind", span);
    snprintf(kind, 4, "%c", k[7]);
}

static const struct span_rec *span_by_path(const struct span_rec *spans, size_t n,
                                           const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(spans[i].path, path) == 0)
            return &spans[i];
    cr_assert_fail("no span of %s", path);
    return NULL;
}

TestSuite(export, .fini = kill_live_servers, .timeout = 120);

#define EXPORT_MC_CONNS 4
#define EXPORT_MC_ROUNDS 3
#define EXPORT_MC_COMMANDS (EXPORT_MC_CONNS * EXPORT_MC_ROUNDS * 6)

/*
 * memcached under export and CARRY_TAG_FORMAT=otel: one SERVER span per
 * command, each its own trace, with the connection's addresses and the
 * service's name; and every line memcached writes about a command names
 * that command's exported trace and span.
 */
Test(export, memcached_one_span_per_command_and_its_log_lines_name_it)
{
    struct carry_otlp rec;
    carry_otlp_start(&rec, NULL);
    const char *extra[] = {"CARRY_TAG_FORMAT=otel", rec.endpoint, "OTEL_SERVICE_NAME=cache"};
    struct server s;
    int port;
    memcached_start(&s, carry_env_list(extra, 3), &port);
    const char *args[] = {"--connections", "4", "--requests", "3", NULL};
    free(run_client(&s, "memcached", port, args));
    cr_assert(server_wait(&s, "connection closed", EXPORT_MC_CONNS), "memcached stopped:\n%s",
              s.log.s);
    carry_otlp_wait_spans(&rec, EXPORT_MC_COMMANDS);
    server_stop(&s, SIGTERM);
    char *text = carry_otlp_stop(&rec);

    static struct span_rec spans[EXPORT_MC_COMMANDS + 8];
    size_t n = spans_of(text, port, spans, sizeof spans / sizeof *spans);
    cr_assert_eq(n, EXPORT_MC_COMMANDS, "%zu spans for %d commands:\n%s", n, EXPORT_MC_COMMANDS,
                 text);
    for (size_t i = 0; i < n; i++) {
        const struct span_rec *r = &spans[i];
        char kind[4];
        kind_of(text, r->span, kind);
        cr_assert_str_eq(kind, "2", "a SERVER span");
        cr_assert_str_eq(r->name, "request");
        cr_assert_str_eq(r->parent, "", "a command starts a trace of its own");
        cr_assert_str_eq(r->service, "cache");
        cr_assert_str_eq(r->client, "127.0.0.1");
        cr_assert_neq(atoi(r->client_port), 0);
        cr_assert(r->start > 0 && r->start <= r->end, "span %s: %llu..%llu", r->span, r->start,
                  r->end);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(spans[j].trace, r->trace, "two commands in one trace");
    }

    /* "trace_id=T span_id=S <28 get c0:k0": each command's line names an
     * exported span, and its trace.  memcached's threads write some lines
     * in pieces, so another thread's line may start in the middle of one:
     * that one cannot be tagged, and is counted apart. */
    size_t lines = 0, interleaved = 0;
    for (const char *p = s.log.s; (p = strchr(p, '<')) != NULL; p++) {
        int fd;
        char verb[16];
        if (sscanf(p, "<%d %15s", &fd, verb) != 2 ||
            !(strcmp(verb, "get") == 0 || strcmp(verb, "set") == 0 ||
              strcmp(verb, "append") == 0 || strcmp(verb, "delete") == 0))
            continue;
        const char *tag = p - 67;
        if (p - s.log.s < 67 || strncmp(tag, "trace_id=", 9) != 0 ||
            (tag > s.log.s && tag[-1] != '\n')) {
            cr_assert(p > s.log.s && p[-1] != '\n', "an untagged command line: %.60s", p);
            interleaved++;
            continue;
        }
        char trace[33], span[17], needle[128];
        cr_assert_eq(sscanf(tag, "trace_id=%32s span_id=%16s", trace, span), 2);
        snprintf(needle, sizeof needle, "\"trace_id\":\"%s\",\"span_id\":\"%s\"", trace, span);
        cr_assert_not_null(strstr(text, needle), "the line of span %s names no exported span", span);
        lines++;
    }
    lines += interleaved;
    cr_assert_eq(lines, EXPORT_MC_COMMANDS, "%zu command lines:\n%s", lines, s.log.s);
    free(text);
    free(s.log.s);
}

/* redis-server under export: one span per command, on the connection that
 * sent it. */
Test(export, redis_one_span_per_command)
{
    struct carry_otlp rec;
    carry_otlp_start(&rec, NULL);
    const char *extra[] = {rec.endpoint, "OTEL_SERVICE_NAME=store"};
    char *dir = temp_dir();
    struct server s;
    int port;
    redis_start(&s, carry_env_list(extra, 2), dir, &port);
    const char *args[] = {"--connections", "3", "--requests", "2", "--peers", NULL};
    char *out = run_client(&s, "redis", port, args);
    cr_assert(server_wait(&s, "Client closed connection", 3), "redis stopped:\n%s", s.log.s);
    carry_otlp_wait_spans(&rec, 36);
    server_stop(&s, SIGTERM);
    char *text = carry_otlp_stop(&rec);

    static struct span_rec spans[64];
    size_t n = spans_of(text, port, spans, 64);
    cr_assert_eq(n, 36, "%zu spans for 36 commands:\n%s", n, text);
    /* "conn I 127.0.0.1:PORT": each client connection sent 12 commands. */
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "conn %d", i);
        char *line = carry_line(out, name);
        cr_assert_not_null(line, "%s", out);
        const char *peer_port = strrchr(line, ':');
        cr_assert_not_null(peer_port);
        int count = 0;
        for (size_t j = 0; j < n; j++)
            count += strcmp(spans[j].client_port, peer_port + 1) == 0;
        cr_assert_eq(count, 12, "connection %d (%s): %d spans", i, line, count);
        free(line);
    }
    for (size_t j = 0; j < n; j++) {
        cr_assert_str_eq(spans[j].service, "store");
        cr_assert(spans[j].start <= spans[j].end);
    }
    free(out);
    free(text);
    free(s.log.s);
    remove_dir(dir);
}

/*
 * Two unmodified nginx, a front proxying to a back, both under carry with
 * CARRY_TRACE=inject and export: a client request with a traceparent
 * yields two SERVER spans in the caller's trace, the back's parent being
 * the front's span; without one, the front starts a trace the back joins
 * the same way.
 */
Test(export, nginx_proxy_and_upstream_spans_share_the_trace)
{
    struct carry_otlp rec;
    carry_otlp_start(&rec, NULL);
    char *bin = need_binary("nginx", "nginx-light");
    char *dirs[2] = {temp_dir(), temp_dir()};
    struct server servers[2];
    int ports[2];
    static const char *const services[] = {"OTEL_SERVICE_NAME=back", "OTEL_SERVICE_NAME=front"};
    for (int i = 0; i < 2; i++) {
        struct nginx_config config = {dirs[i], false, "info", i == 1 ? ports[0] : 0};
        char *conf;
        cr_assert(asprintf(&conf, "%s/nginx.conf", dirs[i]) > 0);
        const char *argv[] = {bin, "-p", dirs[i], "-c", conf, "-e", "stderr", NULL};
        const char *extra[] = {"CARRY_TRACE=inject", rec.endpoint, services[i]};
        server_start(&servers[i], "nginx", carry_env_list(extra, 3), argv,
                     "getrlimit(RLIMIT_NOFILE)", &ports[i], nginx_write_config, &config);
        free(conf);
    }
    for (int i = 0; i < 2; i++) {
        char *got = carry_exchange(ports[1], proxied_requests[i]);
        cr_assert(strstr(got, " 200 OK"), "reply %d: %s", i, got);
        free(got);
    }
    for (int i = 1; i >= 0; i--) {
        cr_assert(server_wait(&servers[i], "\"GET /without HTTP/1.", 1), "nginx stopped:\n%s",
                  servers[i].log.s);
        server_stop(&servers[i], SIGTERM);
    }
    char *text = carry_otlp_stop(&rec);

    struct span_rec back[8], front[8];
    size_t nb = spans_of(text, ports[0], back, 8), nf = spans_of(text, ports[1], front, 8);
    cr_assert(nb == 2 && nf == 2, "%zu back and %zu front spans:\n%s", nb, nf, text);
    const struct span_rec *fw = span_by_path(front, 2, "/with"),
                          *bw = span_by_path(back, 2, "/with"),
                          *fo = span_by_path(front, 2, "/without"),
                          *bo = span_by_path(back, 2, "/without");
    cr_assert_str_eq(fw->service, "front");
    cr_assert_str_eq(bw->service, "back");
    cr_assert_str_eq(fw->name, "GET");
    /* With: the caller's trace; the front's parent is the caller's span,
     * the back's the front's. */
    cr_assert_str_eq(fw->trace, "0af7651916cd43dd8448eb211c80319c");
    cr_assert_str_eq(fw->parent, "b7ad6b7169203331");
    cr_assert_str_eq(bw->trace, fw->trace);
    cr_assert_str_eq(bw->parent, fw->span);
    /* The back's span lies within the front's. */
    cr_assert(fw->start <= bw->start && bw->end <= fw->end, "front %llu..%llu, back %llu..%llu",
              fw->start, fw->end, bw->start, bw->end);
    /* Without: a fresh trace, started by the front, joined by the back. */
    cr_assert_str_neq(fo->trace, fw->trace);
    cr_assert_str_eq(fo->parent, "");
    cr_assert_str_eq(bo->trace, fo->trace);
    cr_assert_str_eq(bo->parent, fo->span);
    free(text);
    for (int i = 0; i < 2; i++) {
        free(servers[i].log.s);
        remove_dir(dirs[i]);
    }
    free(bin);
}
