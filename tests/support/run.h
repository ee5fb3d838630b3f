/*
 * Helpers for the integration tests: run a program in a controlled
 * environment (libcarry preloaded or not), capture what it prints, and pick
 * fields out of the "name key=value..." lines the fixtures print.
 */
#ifndef CARRY_TEST_RUN_H
#define CARRY_TEST_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct carry_run_result {
    char *out;   /* stdout, NUL-terminated */
    char *err;   /* stderr, NUL-terminated */
    int status;  /* exit status, or 128 + signal */
    int wait_status; /* as waitpid gave it (WCOREDUMP...) */
};

/* Paths handed over by meson through the environment. */
const char *carry_test_lib(void);      /* build/libcarry.so */
const char *carry_test_probe(void);    /* build/tests/fixtures/probe */
const char *carry_test_source(void);   /* the source tree */
/* A fixture's path, build/tests/fixtures/NAME. */
const char *carry_test_fixture(const char *name);

/* A connected TCP socket to 127.0.0.1:port. */
int carry_dial(int port);

/* A TCP socket listening on 127.0.0.1 with room for backlog connections,
 * on a port the kernel picks (into *port). */
int carry_listen(int backlog, int *port);

/* Sends request on a fresh connection to 127.0.0.1:port and returns the
 * whole reply, up to end of file (malloc'd, "" when there is none). */
char *carry_exchange(int port, const char *request);

/*
 * Runs argv (NULL-terminated) with the test's environment minus every
 * CARRY_* variable and LD_PRELOAD, plus LD_PRELOAD=libcarry when preload is
 * true, plus the NAME=VALUE strings of env (NULL-terminated, may be NULL),
 * which replace the test's own variables of those names.
 * Fails the current test if the program cannot be started.
 */
struct carry_run_result carry_run_program(bool preload, const char *const *env,
                                          const char *const *argv);
void carry_run_free(struct carry_run_result *r);

/* The first line of text that starts with "name " (or is exactly name), as
 * a malloc'd string, or NULL. */
char *carry_line(const char *text, const char *name);

/* The value of key=... in line, as a malloc'd string, or NULL. */
char *carry_field(const char *line, const char *key);

/* Hex id field ("id=...") of the line named name; fails the test if the
 * line or field is missing. */
uint64_t carry_line_id(const char *text, const char *name);

/* A program left running: a server under test. */
struct carry_server {
    int pid;
    int in;          /* its stdin */
    int out;         /* its stdout */
    int port;        /* from its first line, "port=N" */
    int status;      /* once stopped: its exit status, or 128 + signal */
};

/* Starts argv like carry_run_program and reads its "port=N" line. */
struct carry_server carry_server_start(bool preload, const char *const *env,
                                       const char *const *argv);

/* The same, but a server that ends without its port line is no failure:
 * port 0, and *status (NULL: not asked) its exit status, as
 * carry_run_result's. */
struct carry_server carry_server_try(bool preload, const char *const *env,
                                     const char *const *argv, int *status);

/* The next line the server prints (malloc'd, without the newline), or NULL
 * at end of file. */
char *carry_server_line(struct carry_server *s);

/* Stops the server (SIGTERM) and returns what else it printed on stdout. */
char *carry_server_stop(struct carry_server *s);

/*
 * Starts argv[0] (a path) with the environment of carry_run_program, stdin
 * from /dev/null and stdout and stderr both into one pipe, whose read end
 * it puts in *out.  The child leads a process group of its own (kill
 * -pid stops it and whatever it forks) and gets SIGKILL if the calling
 * thread dies first.  Fails the current test if it cannot start.
 */
int carry_spawn_group(bool preload, const char *const *env, const char *const *argv, int *out);

/* How much to scale heavy tests down by: CARRY_TEST_SCALE (the sanitizer
 * test setups set it), else 1. */
int carry_test_scale(void);

/*
 * Starts fixture SERVER in SERVER_MODE (4 threads) and drives it with
 * epoll_client: CONNS connections, REQUESTS / carry_test_scale() requests,
 * extra "--churn" (5 requests a connection) or "--no-carry" or NULL.
 * Fails the test if the client fails or the server printed a complaint
 * (STALE, DOUBLE, GETTER, STEP); returns the client's summary line (malloc'd).
 */
char *carry_drive(bool preload, const char *const *env, const char *server,
                  const char *server_mode, const char *conns, long requests, const char *extra);

/* carry_drive, and what else the server printed on stdout after its port
 * line, up to its exit (*report, malloc'd). */
char *carry_drive_report(bool preload, const char *const *env, const char *server,
                         const char *server_mode, const char *conns, long requests,
                         const char *extra, char **report);

/* Fails the test unless line is epoll_client's summary of a clean run:
 * every one of REQUESTS / carry_test_scale() answered over CONNS
 * connections, no mismatch, no id 0, no id shared between connections.
 * what names the run in the failure message. */
void carry_assert_clean_run(const char *line, long requests, int conns, const char *what);

/* Fails the test unless SERVER in SERVER_MODE, run with rule L off
 * (CARRY_MODE=threads,epoll,accept), fails epoll_client's check: proof
 * that a passing run is carry's work, not luck. */
void carry_assert_loops_matter(const char *server, const char *server_mode);

/* The same with the environment entry mode_env (a CARRY_MODE without the
 * rule named what). */
void carry_assert_fails_without(const char *server, const char *server_mode,
                                const char *mode_env, const char *what);

/* The checks every request/reply fixture under rule L passes: 100,000
 * requests over 200 connections, clean in each CARRY_EPOLL mode; 100,000
 * with churn (a new connection every 5 requests), clean; bursts of 4
 * pipelined requests, one request context each (rule R's limit); and
 * without libcarry, every reply as the protocol says. */
void carry_assert_clean_in_each_epoll_mode(const char *server, const char *server_mode);
void carry_assert_clean_churn(const char *server, const char *server_mode);
void carry_assert_pipelined_bursts(const char *server, const char *server_mode);
void carry_assert_same_without_carry(const char *server, const char *server_mode);

/*
 * "LD_PRELOAD=..." for a run in which carry's own allocations fail and the
 * program's succeed: tests/fixtures/failalloc.so first, then the sanitizer
 * runtime of a sanitizer build, then libcarry.  The preload reads
 * CARRY_TEST_FAILALLOC_AFTER and CARRY_TEST_FAILALLOC_MMAP (failalloc.c).
 * Kept for the life of the test process.
 */
const char *carry_failalloc_preload(void);

/* The number after the first label in text (spaces after the label
 * skipped, commas in the number dropped), or -1 when there is none. */
long carry_number_after(const char *text, const char *label);

/* The count on the "lost to memory:" line of a CARRY_STATS report in text;
 * fails the test if there is none. */
long carry_lost_to_memory(const char *text);

/* A growable NUL-terminated text (zero-initialise it; free s). */
struct carry_text {
    char *s;
    size_t len, cap;
};

void carry_text_add(struct carry_text *t, const char *s, size_t n);

/* The whole of the file at path (fails the test if it cannot be read);
 * free it. */
char *carry_read_file(const char *path);

/* How many times needle occurs in text. */
int carry_count(const char *text, const char *needle);

/* A port of 127.0.0.1 for sockets of type (SOCK_STREAM, SOCK_DGRAM) that
 * was free a moment ago: another process may take it before it is bound. */
int carry_free_port(int type);

#endif
