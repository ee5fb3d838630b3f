#include "run.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *carry_test_env(const char *name)
{
    const char *value = getenv(name);
    cr_assert_not_null(value, "%s is not set: run the tests through meson test", name);
    return value;
}

const char *carry_test_lib(void) { return carry_test_env("CARRY_TEST_LIB"); }
const char *carry_test_probe(void) { return carry_test_env("CARRY_TEST_PROBE"); }
const char *carry_test_source(void) { return carry_test_env("CARRY_TEST_SOURCE"); }

const char *carry_test_fixture(const char *name)
{
    /* Kept for the life of the test process: callers put them in argv. */
    static struct {
        const char *name;
        char *path;
    } known[8];
    size_t i = 0;
    while (i < 8 && known[i].name != NULL && strcmp(known[i].name, name) != 0)
        i++;
    cr_assert_lt(i, 8, "too many fixtures");
    if (known[i].name == NULL) {
        cr_assert(asprintf(&known[i].path, "%s/%s", carry_test_env("CARRY_TEST_FIXTURES"),
                           name) > 0);
        known[i].name = name;
    }
    return known[i].path;
}

int carry_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
              "connect to port %d: %s", port, strerror(errno));
    return fd;
}

int carry_listen(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&addr, len) == 0 &&
                  listen(fd, backlog) == 0 && getsockname(fd, (struct sockaddr *)&addr, &len) == 0,
              "listen on 127.0.0.1: %s", strerror(errno));
    *port = ntohs(addr.sin_port);
    return fd;
}

char *carry_exchange(int port, const char *request)
{
    int fd = carry_dial(port);
    cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    struct carry_text got = {0};
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        carry_text_add(&got, buf, (size_t)n);
    close(fd);
    if (got.s == NULL)
        carry_text_add(&got, "", 0);
    return got.s;
}

struct buffer {
    char *data;
    size_t len, cap;
};

static void buffer_read(struct buffer *b, int fd, bool *open)
{
    if (b->cap - b->len < 4097) {
        b->cap = b->cap * 2 + 8192;
        b->data = realloc(b->data, b->cap);
        cr_assert_not_null(b->data);
    }
    ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
    if (n > 0)
        b->len += (size_t)n;
    else if (n == 0 || errno != EINTR)
        *open = false;
    b->data[b->len] = '\0';
}

/* Whether env (NAME=VALUE strings) sets the variable of entry. */
static bool carry_env_sets(const char *const *env, const char *entry)
{
    size_t len = strcspn(entry, "=");
    for (; env && *env; env++)
        if (strncmp(*env, entry, len) == 0 && (*env)[len] == '=')
            return true;
    return false;
}

/* The environment for a child: ours minus CARRY_*, LD_PRELOAD and what env
 * sets, plus libcarry if preload (*owned: free it), plus env. */
static char **carry_env_build(bool preload, const char *const *env, char **owned)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (env && env[extra])
        extra++;
    char **envp = calloc(n + extra + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CARRY_", 6) != 0 || strncmp(environ[i], "CARRY_TEST_", 11) == 0)
            if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && !carry_env_sets(env, environ[i]))
                envp[k++] = environ[i];
    *owned = NULL;
    if (preload) {
        cr_assert(asprintf(owned, "LD_PRELOAD=%s", carry_test_lib()) > 0);
        envp[k++] = *owned;
    }
    for (size_t i = 0; i < extra; i++)
        envp[k++] = (char *)env[i];
    envp[k] = NULL;
    return envp;
}


/* Starts argv with the environment of carry_env_build and two pipes: the
 * child's fd child_fd[i] is one end, parent_fd[i] gets the other; to_child
 * tells which way each pipe flows. */
static pid_t carry_spawn(bool preload, const char *const *env, const char *const *argv,
                         const int child_fd[2], const bool to_child[2], int parent_fd[2])
{
    char *owned;
    char **envp = carry_env_build(preload, env, &owned);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    int child_end[2];
    for (int i = 0; i < 2; i++) {
        int p[2];
        cr_assert(pipe(p) == 0);
        child_end[i] = to_child[i] ? p[0] : p[1];
        parent_fd[i] = to_child[i] ? p[1] : p[0];
        posix_spawn_file_actions_adddup2(&actions, child_end[i], child_fd[i]);
        posix_spawn_file_actions_addclose(&actions, parent_fd[i]);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv, envp);
    cr_assert_eq(rc, 0, "cannot start %s: %s", argv[0], strerror(rc));
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 2; i++)
        close(child_end[i]);
    free(owned);
    free(envp);
    return pid;
}

int carry_spawn_group(bool preload, const char *const *env, const char *const *argv, int *out)
{
    char *owned;
    char **envp = carry_env_build(preload, env, &owned);
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(null, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls here: the parent has threads. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
            _exit(127);
        execve(argv[0], (char *const *)argv, envp);
        static const char msg[] = "carry_spawn_group: execve failed\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
    /* Either side may run first: set the group from here too. */
    setpgid(pid, pid);
    close(p[1]);
    close(null);
    free(owned);
    free(envp);
    *out = p[0];
    return pid;
}

struct carry_server carry_server_try(bool preload, const char *const *env,
                                     const char *const *argv, int *status)
{
    int fds[2];
    pid_t pid = carry_spawn(preload, env, argv, (int[]){0, 1}, (bool[]){true, false}, fds);
    struct carry_server s = {pid, fds[0], fds[1], 0, 0};
    char *line = carry_server_line(&s);
    bool started = line != NULL && sscanf(line, "port=%d", &s.port) == 1;
    free(line);
    if (!started) {
        free(carry_server_stop(&s));
        s.port = 0;
        if (status != NULL)
            *status = s.status;
    }
    return s;
}

struct carry_server carry_server_start(bool preload, const char *const *env,
                                       const char *const *argv)
{
    int status;
    struct carry_server s = carry_server_try(preload, env, argv, &status);
    cr_assert_neq(s.port, 0, "%s printed no port line (exit status %d)", argv[0], status);
    return s;
}

char *carry_server_line(struct carry_server *s)
{
    size_t len = 0, cap = 128;
    char *line = malloc(cap);
    for (;;) {
        char c;
        ssize_t n = read(s->out, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 && len == 0) {
            free(line);
            return NULL;
        }
        if (n <= 0 || c == '\n')
            break;
        if (len + 2 > cap)
            line = realloc(line, cap *= 2);
        line[len++] = c;
    }
    line[len] = '\0';
    return line;
}

char *carry_server_stop(struct carry_server *s)
{
    kill(s->pid, SIGTERM);
    close(s->in);
    struct buffer b = {0};
    bool open = true;
    while (open)
        buffer_read(&b, s->out, &open);
    close(s->out);
    int status = 0;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return b.data ? b.data : strdup("");
}

int carry_test_scale(void)
{
    const char *scale = getenv("CARRY_TEST_SCALE");
    return scale && atoi(scale) > 0 ? atoi(scale) : 1;
}

struct carry_run_result carry_run_program(bool preload, const char *const *env,
                                          const char *const *argv)
{
    int fds[2];
    pid_t pid = carry_spawn(preload, env, argv, (int[]){1, 2}, (bool[]){false, false}, fds);
    int out = fds[0], err = fds[1];
    struct buffer bo = {0}, be = {0};
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        struct pollfd p[2] = {{out_open ? out : -1, POLLIN, 0}, {err_open ? err : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            cr_assert_eq(errno, EINTR);
            continue;
        }
        if (p[0].revents)
            buffer_read(&bo, out, &out_open);
        if (p[1].revents)
            buffer_read(&be, err, &err_open);
    }
    close(out);
    close(err);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    struct carry_run_result r = {
        bo.data ? bo.data : strdup(""),
        be.data ? be.data : strdup(""),
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
        status,
    };
    return r;
}

void carry_run_free(struct carry_run_result *r)
{
    free(r->out);
    free(r->err);
}

char *carry_line(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, len) == 0 && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
            return strndup(p, strcspn(p, "\n"));
    }
    return NULL;
}

char *carry_field(const char *line, const char *key)
{
    size_t len = strlen(key);
    for (const char *p = line; p && *p; p = strchr(p, ' '), p = p ? p + 1 : NULL)
        if (strncmp(p, key, len) == 0 && p[len] == '=')
            return strndup(p + len + 1, strcspn(p + len + 1, " \n"));
    return NULL;
}

uint64_t carry_line_id(const char *text, const char *name)
{
    char *line = carry_line(text, name);
    cr_assert_not_null(line, "no line '%s' in:\n%s", name, text);
    char *id = carry_field(line, "id");
    cr_assert_not_null(id, "no id= in '%s'", line);
    cr_assert_eq(strlen(id), 16, "id '%s' is not 16 hex digits", id);
    uint64_t value = strtoull(id, NULL, 16);
    free(id);
    free(line);
    return value;
}

void carry_text_add(struct carry_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        cr_assert_not_null(t->s);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

char *carry_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    struct carry_text t = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        carry_text_add(&t, buf, n);
    fclose(f);
    if (t.s == NULL)
        carry_text_add(&t, "", 0);
    return t.s;
}

int carry_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

char *carry_drive(bool preload, const char *const *env, const char *server,
                  const char *server_mode, const char *conns, long requests, const char *extra)
{
    return carry_drive_report(preload, env, server, server_mode, conns, requests, extra, NULL);
}

char *carry_drive_report(bool preload, const char *const *env, const char *server,
                         const char *server_mode, const char *conns, long requests,
                         const char *extra, char **report)
{
    const char *server_argv[] = {carry_test_fixture(server), server_mode, "4", NULL};
    struct carry_server s = carry_server_start(preload, env, server_argv);
    char port[16], total[32];
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(total, sizeof total, "%ld", requests / carry_test_scale());
    const char *client_argv[8] = {carry_test_fixture("epoll_client"), port, conns, total};
    size_t n = 4;
    if (extra != NULL && strcmp(extra, "--churn") == 0) {
        client_argv[n++] = "--churn";
        client_argv[n++] = "5";
    } else if (extra != NULL && strcmp(extra, "--pipeline") == 0) {
        client_argv[n++] = "--pipeline";
        client_argv[n++] = "4";
    } else if (extra != NULL) {
        client_argv[n++] = extra;
    }
    client_argv[n] = NULL;
    struct carry_run_result r = carry_run_program(false, NULL, client_argv);
    char *rest = carry_server_stop(&s);
    const char *complaints[] = {"STALE", "DOUBLE", "GETTER", "STEP"};
    for (size_t i = 0; i < sizeof complaints / sizeof *complaints; i++)
        cr_assert_null(strstr(rest, complaints[i]), "%s %s:\n%s", server, server_mode, rest);
    cr_assert_eq(r.status, 0, "%s %s: client failed:\n%s%s", server, server_mode, r.out, r.err);
    char *line = strndup(r.out, strcspn(r.out, "\n"));
    carry_run_free(&r);
    if (report != NULL)
        *report = rest;
    else
        free(rest);
    return line;
}

void carry_assert_loops_matter(const char *server, const char *server_mode)
{
    carry_assert_fails_without(server, server_mode, "CARRY_MODE=threads,epoll,accept", "rule L");
}

void carry_assert_fails_without(const char *server, const char *server_mode,
                                const char *mode_env, const char *what)
{
    const char *env[] = {mode_env, NULL};
    const char *server_argv[] = {carry_test_fixture(server), server_mode, "4", NULL};
    struct carry_server s = carry_server_start(true, env, server_argv);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    const char *client_argv[] = {carry_test_fixture("epoll_client"), port, "20", "200", NULL};
    struct carry_run_result r = carry_run_program(false, NULL, client_argv);
    free(carry_server_stop(&s));
    cr_assert_neq(r.status, 0, "%s %s passed without %s:\n%s", server, server_mode, what, r.out);
    /* Every request answered: it failed on contexts, not by crashing. */
    cr_assert_not_null(strstr(r.out, "requests=200 "), "%s", r.out);
    cr_assert_null(strstr(r.out, "mismatches=0 zero=0 "), "%s", r.out);
    carry_run_free(&r);
}

void carry_assert_clean_in_each_epoll_mode(const char *server, const char *server_mode)
{
    const char *modes[] = {"CARRY_EPOLL=batch", "CARRY_EPOLL=split"};
    for (int i = 0; i < 2; i++) {
        const char *env[] = {modes[i], NULL};
        char *line = carry_drive(true, env, server, server_mode, "200", 100000, NULL);
        carry_assert_clean_run(line, 100000, 200, modes[i]);
        free(line);
    }
}

void carry_assert_clean_churn(const char *server, const char *server_mode)
{
    char *line = carry_drive(true, NULL, server, server_mode, "100", 100000, "--churn");
    cr_assert_not_null(strstr(line, "mismatches=0 zero=0 shared_ids=0"), "%s", line);
    free(line);
}

void carry_assert_pipelined_bursts(const char *server, const char *server_mode)
{
    char *line = carry_drive(true, NULL, server, server_mode, "20", 8000, "--pipeline");
    cr_assert_not_null(strstr(line, "mismatches=0 zero=0 shared_ids=0"), "%s", line);
    free(line);
}

void carry_assert_same_without_carry(const char *server, const char *server_mode)
{
    char *line = carry_drive(false, NULL, server, server_mode, "50", 5000, "--no-carry");
    cr_assert_not_null(strstr(line, "mismatches=0"), "%s %s: %s", server, server_mode, line);
    free(line);
}

void carry_assert_clean_run(const char *line, long requests, int conns, const char *what)
{
    char want[128];
    snprintf(want, sizeof want, "requests=%ld connections=%d mismatches=0 zero=0 shared_ids=0",
             requests / carry_test_scale(), conns);
    cr_assert_str_eq(line, want, "%s", what);
}

const char *carry_failalloc_preload(void)
{
    static char *preload;
    if (preload == NULL) {
        const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
        bool sanitized = runtime != NULL && runtime[0] != '\0';
        cr_assert(asprintf(&preload, "LD_PRELOAD=%s:%s%s%s", carry_test_fixture("failalloc.so"),
                           sanitized ? runtime : "", sanitized ? ":" : "", carry_test_lib()) > 0);
    }
    return preload;
}

long carry_number_after(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    if (p == NULL)
        return -1;
    p += strlen(label);
    while (*p == ' ')
        p++;
    char digits[32];
    size_t n = 0;
    for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
        if (*p != ',' && n + 1 < sizeof digits)
            digits[n++] = *p;
    digits[n] = '\0';
    return n ? atol(digits) : -1;
}

long carry_lost_to_memory(const char *text)
{
    long n = carry_number_after(text, "lost to memory:");
    cr_assert_geq(n, 0, "no \"lost to memory\" count in the report:\n%s", text);
    return n;
}

int carry_free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&addr, len) == 0 &&
              getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    close(fd);
    return ntohs(addr.sin_port);
}
