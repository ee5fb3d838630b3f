/*
 * Rule R on datagram sockets: every datagram an unconnected UDP socket
 * receives begins a context of its own, with its peer and local address;
 * a reply sent after a recvmmsg batch runs in its own datagram's context;
 * libuv's receive callbacks run in their datagram's.  The fixtures are
 * udp_server (epoll; its client checks every reply) and uv_udp; the real
 * server is Debian's unbound, whose query log lines must each carry
 * their query's id.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

struct client_summary {
    long sent, replies, echoes, zero, dup, wrong_peer, lost;
};

/* Runs udp_server's client against port: clients threads, bursts bursts of
 * burst datagrams each (bursts scaled down under the sanitizers). */
static struct client_summary run_client(int port, int clients, int bursts, int burst)
{
    char port_text[16], clients_text[16], bursts_text[16], burst_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    snprintf(clients_text, sizeof clients_text, "%d", clients);
    snprintf(bursts_text, sizeof bursts_text, "%d", bursts / carry_test_scale());
    snprintf(burst_text, sizeof burst_text, "%d", burst);
    const char *argv[] = {carry_test_fixture("udp_server"), "client", port_text, clients_text,
                          bursts_text, burst_text, NULL};
    struct carry_run_result r = carry_run_program(false, NULL, argv);
    cr_assert_eq(r.status, 0, "client: %s%s", r.out, r.err);
    struct client_summary s;
    cr_assert_eq(sscanf(r.out,
                        "done sent=%ld replies=%ld echoes=%ld zero=%ld dup=%ld wrongpeer=%ld "
                        "lost=%ld",
                        &s.sent, &s.replies, &s.echoes, &s.zero, &s.dup, &s.wrong_peer, &s.lost),
                 7, "%s", r.out);
    cr_assert_gt(s.sent, 0);
    carry_run_free(&r);
    return s;
}

/* 16 clients, 20,000 datagrams in bursts of 4 to the server argv runs;
 * every reply names a context of its own (never 0) and the datagram's
 * peer. */
static void assert_each_datagram_its_own(const char *const *argv)
{
    struct carry_server srv = carry_server_start(true, NULL, argv);
    struct client_summary s = run_client(srv.port, 16, 313, 4);
    free(carry_server_stop(&srv));
    cr_assert_eq(s.lost, 0, "%s %s: %ld of %ld datagrams unanswered", argv[0], argv[1], s.lost,
                 s.sent);
    cr_assert_eq(s.replies, s.sent);
    cr_assert_eq(s.zero, 0, "%s %s: %ld replies in no context", argv[0], argv[1], s.zero);
    cr_assert_eq(s.dup, 0, "%s %s: %ld ids shared between datagrams", argv[0], argv[1], s.dup);
    cr_assert_eq(s.wrong_peer, 0, "%s %s: %ld replies name another peer", argv[0], argv[1],
                 s.wrong_peer);
}

Test(udp, recvfrom_each_datagram_its_own_context, .timeout = 240)
{
    const char *argv[] = {carry_test_fixture("udp_server"), "serve", "recvfrom", NULL};
    assert_each_datagram_its_own(argv);
}

/* recvmsg with an address buffer, and recvfrom and recvmsg without one:
 * carry still names the peer, and the program's msghdr is left as the
 * kernel leaves it (the fixture aborts otherwise). */
Test(udp, recvmsg_and_no_address_buffer, .timeout = 240)
{
    const char *modes[] = {"recvmsg", "noname"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        const char *argv[] = {carry_test_fixture("udp_server"), "serve", modes[i], NULL};
        struct carry_server srv = carry_server_start(true, NULL, argv);
        struct client_summary s = run_client(srv.port, 8, 125, 4);
        free(carry_server_stop(&srv));
        cr_assert_eq(s.lost, 0, "%s", modes[i]);
        cr_assert_eq(s.zero + s.dup + s.wrong_peer, 0, "%s: zero %ld dup %ld wrong peer %ld",
                     modes[i], s.zero, s.dup, s.wrong_peer);
    }
}

/* recvmmsg: the replies go out after the whole batch; each send to a peer
 * of the batch makes its datagram's context current, which the server's
 * line after the send shows. */
Test(udp, recvmmsg_replies_after_the_batch_run_in_their_datagrams, .timeout = 240)
{
    const char *argv[] = {carry_test_fixture("udp_server"), "serve", "recvmmsg", NULL};
    struct carry_server srv = carry_server_start(true, NULL, argv);
    struct client_summary s = run_client(srv.port, 16, 313, 4);
    char *out = carry_server_stop(&srv);
    cr_assert_eq(s.lost, 0);
    cr_assert_eq(s.echoes, s.sent);
    long replies, zero, wrong_peer, reused, batches;
    const char *line = strstr(out, "checked ");
    cr_assert(line != NULL && sscanf(line, "checked replies=%ld zero=%ld wrongpeer=%ld reused=%ld "
                                           "batches=%ld",
                                     &replies, &zero, &wrong_peer, &reused, &batches) == 5,
              "%s", out);
    free(out);
    cr_assert_eq(replies, s.sent);
    cr_assert_gt(batches, 0, "no batch of several datagrams");
    cr_assert_eq(zero, 0, "%ld replies in no context", zero);
    cr_assert_eq(reused, 0, "%ld replies in an earlier datagram's context", reused);
    cr_assert_eq(wrong_peer, 0, "%ld replies in a context naming another peer", wrong_peer);
}

/* CARRY_SCOPE=connection turns rule R off: a datagram begins nothing, and
 * the server, which accepted no connection, runs in no context, as it
 * does without carry. */
/* A wait ends the thread's batch of datagrams (rule D), on the epoll fd
 * of its last wait too: a reply to one of the batch's peers after it
 * stays in no context. */
Test(udp, a_wait_ends_the_batch_of_datagrams_before_it)
{
    for (int mode = 0; mode < 2; mode++) {
        const char *env[] = {mode ? "CARRY_EPOLL=split" : "CARRY_EPOLL=batch", NULL};
        const char *argv[] = {carry_test_probe(), "dgramwait", NULL};
        struct carry_run_result r = carry_run_program(true, env, argv);
        cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
        cr_assert_not_null(strstr(r.out, "batch n=2\n"), "%s", r.out);
        cr_assert_not_null(strstr(r.out, "reply in=none\n"), "%s", r.out);
        carry_run_free(&r);
    }
}

Test(udp, connection_scope_has_no_datagram_contexts, .timeout = 120)
{
    const char *env[] = {"CARRY_SCOPE=connection", NULL};
    const char *argv[] = {carry_test_fixture("udp_server"), "serve", "recvfrom", NULL};
    for (int preload = 0; preload < 2; preload++) {
        struct carry_server srv = carry_server_start(preload, preload ? env : NULL, argv);
        struct client_summary s = run_client(srv.port, 4, 50, 4);
        free(carry_server_stop(&srv));
        cr_assert_eq(s.lost, 0);
        cr_assert_eq(s.zero, s.sent, "%s: %ld of %ld replies in a context",
                     preload ? "connection scope" : "without carry", s.sent - s.zero, s.sent);
        cr_assert_eq(s.wrong_peer, s.sent);
    }
}

Test(udp, libuv_recv_callbacks_run_in_their_datagrams, .timeout = 240)
{
    const char *argv[] = {carry_test_fixture("uv_udp"), "plain", NULL};
    assert_each_datagram_its_own(argv);
}

/* UV_UDP_RECVMMSG: libuv (1.44 through syscall(SYS_recvmmsg)) calls back
 * once per message of a batch; each callback runs in its own datagram's
 * context, not the first's nor the one uv_udp_recv_start captured. */
Test(udp, libuv_recvmmsg_callbacks_run_in_their_datagrams, .timeout = 240)
{
    const char *argv[] = {carry_test_fixture("uv_udp"), "mmsg", NULL};
    struct carry_server srv = carry_server_start(true, NULL, argv);
    struct client_summary s = run_client(srv.port, 16, 313, 4);
    char *out = carry_server_stop(&srv);
    long chunks = -1;
    const char *line = strstr(out, "chunks=");
    cr_assert(line != NULL && sscanf(line, "chunks=%ld", &chunks) == 1, "%s", out);
    cr_assert_eq(chunks, s.sent, "libuv called back for %ld messages of batches of %ld: %s",
                 chunks, s.sent, out);
    free(out);
    cr_assert_eq(s.lost, 0);
    cr_assert_eq(s.zero + s.dup + s.wrong_peer, 0, "zero %ld dup %ld wrong peer %ld", s.zero,
                 s.dup, s.wrong_peer);
}

/* ---- unbound --------------------------------------------------------- */

static const char *need_unbound(void)
{
    const char *paths[] = {"/usr/sbin/unbound", "/usr/bin/unbound"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    cr_skip_test("unbound is not installed (Debian package unbound; scripts/test installs it "
                 "when run as root)");
    return NULL;
}

/* Reads what fd gives into t until text holds needle or fd ends (false). */
static bool read_until(int fd, struct carry_text *t, const char *needle)
{
    while (t->s == NULL || strstr(t->s, needle) == NULL) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 30000) != 1)
            return false;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return false;
        carry_text_add(t, buf, (size_t)n);
    }
    return true;
}

/* A DNS query for name, type A, with id; its length. */
static size_t dns_query(unsigned char *out, unsigned id, const char *name)
{
    unsigned char header[12] = {id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(out, header, sizeof header);
    size_t n = sizeof header;
    for (const char *label = name; *label;) {
        size_t len = strcspn(label, ".");
        out[n++] = (unsigned char)len;
        memcpy(out + n, label, len);
        n += len;
        label += len + (label[len] == '.');
    }
    out[n++] = 0;
    const unsigned char tail[4] = {0, 1, 0, 1};
    memcpy(out + n, tail, sizeof tail);
    return n + sizeof tail;
}

/* The id of the tagged line of log that contains needle; fails the test
 * if there is no such line or it is not tagged. */
static unsigned long long tagged_id(const char *log, const char *needle)
{
    const char *hit = strstr(log, needle);
    cr_assert_not_null(hit, "no line with \"%s\" in:\n%s", needle, log);
    const char *start = hit;
    while (start > log && start[-1] != '\n')
        start--;
    unsigned long long id = 0;
    cr_assert_eq(sscanf(start, "[carry %llx", &id), 1, "untagged: %.*s", (int)(hit - start + 40),
                 start);
    cr_assert_neq(id, 0);
    return id;
}

/* Debian's unbound (libevent, one thread), unmodified, with query and
 * reply logging on stderr: each query's two lines carry its own id. */
Test(udp, unbound_each_querys_lines_carry_its_id, .timeout = 120)
{
    const char *unbound = need_unbound();
    enum { QUERIES = 6 };
    char dir[] = "/tmp/carry-unbound-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = carry_free_port(SOCK_DGRAM);
    char *conf, *conf_path;
    cr_assert(asprintf(&conf_path, "%s/unbound.conf", dir) > 0);
    cr_assert(asprintf(&conf,
                       "server:\n  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n  do-tcp: no\n"
                       "  num-threads: 1\n  use-syslog: no\n  logfile: \"\"\n"
                       "  log-queries: yes\n  log-replies: yes\n  verbosity: 1\n"
                       "  username: \"\"\n  chroot: \"\"\n  directory: \"%s\"\n  pidfile: \"\"\n"
                       "  do-daemonize: no\n  local-zone: \"test.\" static\n"
                       "  local-data: \"q0.test. A 127.0.0.2\"\n"
                       "remote-control:\n  control-enable: no\n",
                       port, dir) > 0);
    FILE *f = fopen(conf_path, "w");
    cr_assert_not_null(f);
    fputs(conf, f);
    fclose(f);

    const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
    char *preload;
    if (runtime && *runtime)
        cr_assert(asprintf(&preload, "LD_PRELOAD=%s:%s", runtime, carry_test_lib()) > 0);
    else
        cr_assert(asprintf(&preload, "LD_PRELOAD=%s", carry_test_lib()) > 0);
    const char *env[] = {preload, "CARRY_TAG=stderr", "CARRY_STATS=stderr", NULL};
    const char *argv[] = {unbound, "-d", "-c", conf_path, NULL};
    int out;
    int pid = carry_spawn_group(false, env, argv, &out);
    struct carry_text log = {0};
    cr_assert(read_until(out, &log, "start of service"), "unbound did not start:\n%s",
              log.s ? log.s : "");

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (unsigned i = 0; i < QUERIES; i++) {
        char name[32];
        snprintf(name, sizeof name, "q%u.test", i);
        unsigned char q[512], reply[512];
        size_t n = dns_query(q, i + 1, name);
        cr_assert_eq(sendto(fd, q, n, 0, (struct sockaddr *)&server, sizeof server), (ssize_t)n);
        struct pollfd p = {fd, POLLIN, 0};
        cr_assert_eq(poll(&p, 1, 30000), 1, "no answer to %s", name);
        cr_assert_geq(recv(fd, reply, sizeof reply, 0), 12);
        cr_assert_eq(reply[0] << 8 | reply[1], (int)(i + 1));
    }
    close(fd);
    kill(-pid, SIGTERM);
    read_until(out, &log, "lost to memory");
    waitpid(pid, NULL, 0);
    close(out);

    unsigned long long ids[QUERIES];
    for (unsigned i = 0; i < QUERIES; i++) {
        char query[64], answer[64];
        snprintf(query, sizeof query, " q%u.test. A IN\n", i);
        snprintf(answer, sizeof answer, " q%u.test. A IN %s", i, i == 0 ? "NOERROR" : "NXDOMAIN");
        ids[i] = tagged_id(log.s, query);
        cr_assert_eq(tagged_id(log.s, answer), ids[i], "query %u's lines carry two ids:\n%s", i,
                     log.s);
        for (unsigned j = 0; j < i; j++)
            cr_assert_neq(ids[i], ids[j], "queries %u and %u share an id:\n%s", j, i, log.s);
    }
    cr_assert_not_null(strstr(log.s, "datagrams: 6 received"), "%s", log.s);
    free(log.s);
    free(preload);
    free(conf);
    unlink(conf_path);
    free(conf_path);
    rmdir(dir);
}
