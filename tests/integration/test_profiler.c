/*
 * Rule P, read from another process the way a profiler reads it: the
 * OpenTelemetry thread context (OTEP 4947) of a thread of the profiled
 * fixture while it serves a request, and between requests; the process
 * context (OTEP 4719) that says how to read it.
 *
 * The thread's otel_thread_ctx_v1 is found as a profiler finds it, with
 * nothing from the fixture: libcarry's load address from /proc/PID/maps,
 * the symbol's offset in its TLS block from libcarry's .dynsym, the
 * block's offset below the thread pointer from the dynamic loader's
 * link_map for libcarry (glibc puts the TLS of every library loaded at
 * start-up in the static TLS area, at l_tls_offset: the link_map list
 * comes from ld.so's _r_debug, the field's position in struct link_map
 * from libc's own description of it for debuggers,
 * _thread_db_link_map_l_tls_offset, as libthread_db reads it), and the
 * thread pointer from the stopped thread's registers (ptrace, fs_base).
 * The fixture's own view of the address (dlsym) only checks the result.
 * Memory is read with process_vm_readv while the thread is stopped, as
 * OTEP 4947 asks of readers.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

/* What a profiler may be refused (no CAP_SYS_PTRACE, Yama): the test is
 * skipped, saying so. */
static void skip_if_refused(long rc, const char *what)
{
    if (rc < 0 && (errno == EPERM || errno == EACCES))
        cr_skip_test("%s refused (%s): run the profiler tests as root", what, strerror(errno));
}

static void remote_read(int pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    skip_if_refused(n, "process_vm_readv");
    cr_assert_eq(n, (ssize_t)len, "process_vm_readv(%d, %#" PRIx64 ", %zu): %s", pid, addr, len,
                 strerror(errno));
}

/* A mapping of /proc/PID/maps: the first whose name matches (ends with
 * suffix, or starts with one of prefixes), with its start. */
struct mapping {
    uint64_t start, end, offset;
    char name[512];
};

static bool find_mapping(int pid, bool (*match)(const char *name, const void *arg),
                         const void *arg, struct mapping *out)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        int name_at = 0;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*s %n", &out->start,
                   &out->end, &out->offset, &name_at) != 3 || name_at == 0)
            continue;
        snprintf(out->name, sizeof out->name, "%s", line + name_at);
        out->name[strcspn(out->name, "\n")] = '\0';
        found = match(out->name, arg);
    }
    fclose(f);
    return found;
}

static bool name_ends_with(const char *name, const void *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && strcmp(name + n - m, suffix) == 0;
}

/* An ELF object as a profiler sees it: the file of a mapping, its load
 * bias in the process (l_addr), its .dynsym. */
struct object {
    const uint8_t *file;
    size_t size;
    uint64_t bias;
};

static struct object open_object(int pid, const char *suffix)
{
    struct mapping m;
    cr_assert(find_mapping(pid, name_ends_with, suffix, &m), "no %s in /proc/%d/maps", suffix, pid);
    cr_assert_eq(m.offset, 0, "%s: its first mapping is not its head", m.name);
    int fd = open(m.name, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s: %s", m.name, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    struct object o = {mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0),
                       (size_t)st.st_size, 0};
    close(fd);
    cr_assert_neq(o.file, MAP_FAILED, "%s: %s", m.name, strerror(errno));
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)o.file;
    cr_assert(memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64);
    /* The lowest PT_LOAD is mapped at the head mapping's start. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(o.file + eh->e_phoff);
    uint64_t lowest = UINT64_MAX;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < lowest)
            lowest = ph[i].p_vaddr;
    o.bias = m.start - (lowest & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1));
    return o;
}

/* The .dynsym entry named name; fails the test if there is none. */
static Elf64_Sym dynsym(const struct object *o, const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)o->file;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(o->file + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        const Elf64_Sym *syms = (const Elf64_Sym *)(o->file + sh[i].sh_offset);
        const char *strs = (const char *)(o->file + sh[sh[i].sh_link].sh_offset);
        for (size_t j = 0; j < sh[i].sh_size / sizeof *syms; j++)
            if (syms[j].st_shndx != SHN_UNDEF && strcmp(strs + syms[j].st_name, name) == 0)
                return syms[j];
    }
    cr_assert_fail("no %s in .dynsym", name);
    return (Elf64_Sym){0};
}

/* Where libcarry's static TLS block sits below (x86_64) or above
 * (aarch64) a thread's pointer: its link_map's l_tls_offset. */
static uint64_t carry_tls_offset(int pid, const struct object *carry)
{
    struct object ld = open_object(pid, "/ld-linux-x86-64.so.2"), libc = open_object(pid, "/libc.so.6");
    /* glibc's description of a field for libthread_db: its size in bits,
     * its count, its offset. */
    uint32_t desc[3];
    remote_read(pid, libc.bias + dynsym(&libc, "_thread_db_link_map_l_tls_offset").st_value, desc,
                sizeof desc);
    cr_assert_eq(desc[0], 64, "l_tls_offset is %u bits", desc[0]);
    /* struct r_debug {int r_version; struct link_map *r_map; ...} and
     * link_map's public head {l_addr, l_name, l_ld, l_next, l_prev}. */
    uint64_t map;
    remote_read(pid, ld.bias + dynsym(&ld, "_r_debug").st_value + 8, &map, sizeof map);
    for (; map != 0; remote_read(pid, map + 24, &map, sizeof map)) {
        uint64_t l_addr;
        remote_read(pid, map, &l_addr, sizeof l_addr);
        if (l_addr != carry->bias)
            continue;
        uint64_t offset;
        remote_read(pid, map + desc[2], &offset, sizeof offset);
        return offset;
    }
    cr_assert_fail("no link_map for libcarry (bias %#" PRIx64 ")", carry->bias);
    return 0;
}

/* OTEP 4947's record: 28 bytes, then attrs_size bytes of attributes. */
struct record {
    uint64_t address;  /* otel_thread_ctx_v1's, in the thread */
    uint64_t pointer;  /* its value: the record, 0 if none */
    uint8_t trace_id[16], span_id[8], valid, flags;
    uint16_t attrs_size;
    uint8_t attrs[640];
};

/* Stops thread tid of pid, reads its thread context, lets it go. */
static struct record read_thread(int pid, int tid)
{
    struct object carry = open_object(pid, "/libcarry.so");
    Elf64_Sym sym = dynsym(&carry, "otel_thread_ctx_v1");
    cr_assert_eq(ELF64_ST_TYPE(sym.st_info), STT_TLS, "otel_thread_ctx_v1 is not a TLS symbol");
    uint64_t tls_offset = carry_tls_offset(pid, &carry);

    long rc = ptrace(PTRACE_SEIZE, tid, 0, 0);
    skip_if_refused(rc, "ptrace");
    cr_assert_eq(rc, 0, "PTRACE_SEIZE %d: %s", tid, strerror(errno));
    cr_assert_eq(ptrace(PTRACE_INTERRUPT, tid, 0, 0), 0, "%s", strerror(errno));
    int status;
    cr_assert_eq(waitpid(tid, &status, __WALL), tid, "%s", strerror(errno));
    cr_assert(WIFSTOPPED(status), "thread %d: status %#x", tid, status);

    struct record r = {0};
#if defined(__x86_64__)
    struct user_regs_struct regs;
    cr_assert_eq(ptrace(PTRACE_GETREGS, tid, 0, &regs), 0, "%s", strerror(errno));
    /* TLS variant II: blocks below the thread pointer. */
    r.address = regs.fs_base - tls_offset + sym.st_value;
#else
    (void)tls_offset;
    cr_skip_test("the thread pointer is read for x86_64 only");
#endif
    remote_read(pid, r.address, &r.pointer, sizeof r.pointer);
    if (r.pointer != 0) {
        uint8_t head[28];
        remote_read(pid, r.pointer, head, sizeof head);
        memcpy(r.trace_id, head, 16);
        memcpy(r.span_id, head + 16, 8);
        r.valid = head[24];
        r.flags = head[25];
        memcpy(&r.attrs_size, head + 26, 2);
        cr_assert_leq(r.attrs_size, sizeof r.attrs);
        if (r.attrs_size > 0)
            remote_read(pid, r.pointer + 28, r.attrs, r.attrs_size);
    }
    cr_assert_eq(ptrace(PTRACE_DETACH, tid, 0, 0), 0, "%s", strerror(errno));
    munmap((void *)carry.file, carry.size);
    return r;
}

static void hex(char *out, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* The value of key index key in the record's attributes (the last
 * occurrence, as OTEP 4947 says), or "-". */
static void attr(const struct record *r, uint8_t key, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    for (size_t i = 0; i + 2 <= r->attrs_size && i + 2 + r->attrs[i + 1] <= r->attrs_size;
         i += 2 + r->attrs[i + 1])
        if (r->attrs[i] == key)
            snprintf(out, cap, "%.*s", r->attrs[i + 1], (const char *)r->attrs + i + 2);
}

/* The fixture's "serving" line. */
struct serving {
    int tid;
    char id[17], trace[33], method[16];
    uint64_t tls;
};

static struct serving next_serving(struct carry_server *s)
{
    char *line = carry_server_line(s);
    cr_assert_not_null(line, "the server stopped");
    struct serving v;
    cr_assert_eq(sscanf(line, "serving tid=%d id=%16s trace=%32s method=%15s tls=%" SCNx64, &v.tid,
                        v.id, v.trace, v.method, &v.tls),
                 5, "%s", line);
    free(line);
    return v;
}

/* What a profiler sampling the serving thread sees: the request, its
 * trace, its method. */
static void assert_record_names(int pid, const struct serving *v, const char *trace,
                                uint8_t flags)
{
    struct record r = read_thread(pid, v->tid);
    cr_assert_eq(r.address, v->tls, "computed %#" PRIx64 ", the loader says %#" PRIx64,
                 r.address, v->tls);
    cr_assert_neq(r.pointer, 0, "no thread context while serving request %s", v->id);
    char span[17], trace_hex[33], method[64];
    hex(span, r.span_id, 8);
    hex(trace_hex, r.trace_id, 16);
    attr(&r, 0, method, sizeof method);
    cr_assert_eq(r.valid, 1);
    cr_assert_str_eq(span, v->id, "span_id is the request's id");
    cr_assert_str_eq(trace_hex, v->trace, "trace_id is the request's trace");
    cr_assert_str_eq(trace_hex, trace);
    cr_assert_eq(r.flags, flags);
    cr_assert_str_eq(method, v->method, "key 0 is the method");
}

/* Waits until thread tid of pid is blocked in epoll_wait, as its
 * /proc/PID/task/TID/syscall shows. */
static void await_epoll_wait(int pid, int tid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
    for (;;) {
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s: %s", path, strerror(errno));
        long nr = -1;
        int n = fscanf(f, "%ld", &nr);
        fclose(f);
        if (n == 1 && (nr == SYS_epoll_pwait
#ifdef SYS_epoll_wait
                       || nr == SYS_epoll_wait
#endif
                       ))
            return;
        sched_yield();
    }
}

static void send_text(int fd, const char *text)
{
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Lets the server answer and reads the answer. */
static void finish_request(struct carry_server *s, int conn)
{
    send_text(s->in, "\n");
    char buf[256];
    ssize_t n = read(conn, buf, sizeof buf - 1);
    cr_assert_gt(n, 0, "no reply");
    buf[n] = '\0';
    cr_assert(strstr(buf, "200 OK") != NULL, "%s", buf);
}

static struct carry_server start_profiled(const char *arg)
{
    const char *argv[] = {carry_test_fixture("profiled"), arg, NULL};
    return carry_server_start(true, NULL, argv);
}

TestSuite(profiler, .timeout = 60);

Test(profiler, the_thread_context_names_the_request_being_served)
{
    struct carry_server s = start_profiled(NULL);
    int conn = carry_dial(s.port);

    /* A request with a traceparent: its trace is the caller's. */
    const char *caller = "4bf92f3577b34da6a3ce929d0e0e4736";
    send_text(conn, "GET /a HTTP/1.1\r\nHost: x\r\n"
                    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
    struct serving get = next_serving(&s);
    cr_assert_str_eq(get.method, "GET");
    assert_record_names(s.pid, &get, caller, 0x01);
    finish_request(&s, conn);

    /* Between requests, back in epoll_wait: no request is published. */
    await_epoll_wait(s.pid, get.tid);
    struct record idle = read_thread(s.pid, get.tid);
    cr_assert_eq(idle.address, get.tls);
    cr_assert_eq(idle.pointer, 0, "a thread in epoll_wait publishes %#" PRIx64, idle.pointer);

    /* The next request on the connection, without a traceparent: a new
     * span in a trace of its own. */
    send_text(conn, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    struct serving post = next_serving(&s);
    cr_assert_str_eq(post.method, "POST");
    cr_assert_str_neq(post.id, get.id);
    cr_assert_str_neq(post.trace, caller);
    assert_record_names(s.pid, &post, post.trace, 0x01);
    finish_request(&s, conn);

    /* After the connection closed. */
    close(conn);
    char *closed = carry_server_line(&s);
    cr_assert(closed != NULL && strncmp(closed, "closed ", 7) == 0, "%s", closed);
    free(closed);
    await_epoll_wait(s.pid, post.tid);
    cr_assert_eq(read_thread(s.pid, post.tid).pointer, 0);
    free(carry_server_stop(&s));
}

static bool is_process_context(const char *name, const void *arg)
{
    (void)arg;
    /* The names OTEP 4719 gives the mapping: named by prctl (shared or
     * anonymous memory), or only the memfd's own name. */
    static const char *const prefixes[] = {"[anon_shmem:OTEL_CTX]", "[anon:OTEL_CTX]",
                                           "/memfd:OTEL_CTX"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* OTEP 4719's reading protocol: the header, then the payload, then the
 * header's timestamp again, which must not have changed.  Returns the
 * payload (malloc'd), its size in *size. */
static uint8_t *read_process_context(int pid, size_t *size)
{
    struct mapping m;
    cr_assert(find_mapping(pid, is_process_context, NULL, &m), "no OTEL_CTX mapping in /proc/%d/maps",
              pid);
    for (;;) {
        struct {
            char signature[8];
            uint32_t version, payload_size;
            uint64_t published_at_ns, payload;
        } h;
        remote_read(pid, m.start, &h, sizeof h);
        cr_assert(memcmp(h.signature, "OTEL_CTX", 8) == 0, "signature %.8s", h.signature);
        cr_assert_eq(h.version, 2);
        if (h.published_at_ns == 0)
            continue;
        cr_assert(h.payload_size > 0 && h.payload_size < 65536, "payload of %u bytes", h.payload_size);
        uint8_t *payload = malloc(h.payload_size);
        remote_read(pid, h.payload, payload, h.payload_size);
        uint64_t again;
        remote_read(pid, m.start + 16, &again, sizeof again);
        if (again == h.published_at_ns) {
            *size = h.payload_size;
            return payload;
        }
        free(payload);
    }
}

/* A protobuf reader, for the few messages of the payload. */
struct pb {
    const uint8_t *p, *end;
};

static uint64_t pb_varint(struct pb *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return v;
    }
    cr_assert_fail("a varint runs past its message");
    return 0;
}

/* The next field of r: its number; *sub is a length-delimited field's
 * content, *v a varint's value. */
static bool pb_next(struct pb *r, unsigned *field, struct pb *sub, uint64_t *v)
{
    if (r->p == r->end)
        return false;
    uint64_t key = pb_varint(r);
    *field = (unsigned)(key >> 3);
    if ((key & 7) == 0) {
        *v = pb_varint(r);
    } else {
        cr_assert_eq(key & 7, 2, "field %u of wire type %u", *field, (unsigned)(key & 7));
        uint64_t n = pb_varint(r);
        cr_assert_leq(n, (uint64_t)(r->end - r->p), "field %u runs past its message", *field);
        *sub = (struct pb){r->p, r->p + n};
        r->p += n;
    }
    return true;
}

/* AnyValue as text: a string as it is, an int in decimal, an array as
 * [a,b]. */
static void any_value_text(struct pb r, struct carry_text *out)
{
    unsigned field;
    struct pb sub;
    uint64_t v;
    while (pb_next(&r, &field, &sub, &v)) {
        if (field == 1) {
            carry_text_add(out, (const char *)sub.p, (size_t)(sub.end - sub.p));
        } else if (field == 3) {
            char num[24];
            carry_text_add(out, num, (size_t)sprintf(num, "%" PRId64, (int64_t)v));
        } else {
            cr_assert_eq(field, 5, "AnyValue field %u", field);
            carry_text_add(out, "[", 1);
            unsigned item_field;
            struct pb item;
            for (bool first = true; pb_next(&sub, &item_field, &item, &v); first = false) {
                cr_assert_eq(item_field, 1);
                if (!first)
                    carry_text_add(out, ",", 1);
                any_value_text(item, out);
            }
            carry_text_add(out, "]", 1);
        }
    }
}

/* KeyValue as "where key=value\n". */
static void key_value_text(const char *where, struct pb r, struct carry_text *out)
{
    unsigned field;
    struct pb sub;
    uint64_t v;
    carry_text_add(out, where, strlen(where));
    carry_text_add(out, " ", 1);
    while (pb_next(&r, &field, &sub, &v)) {
        if (field == 1) {
            carry_text_add(out, (const char *)sub.p, (size_t)(sub.end - sub.p));
            carry_text_add(out, "=", 1);
        } else {
            cr_assert_eq(field, 2, "KeyValue field %u", field);
            any_value_text(sub, out);
        }
    }
    carry_text_add(out, "\n", 1);
}

/* ProcessContext {Resource resource = 1; repeated KeyValue
 * extra_attributes = 2}, Resource {repeated KeyValue attributes = 1}, as
 * lines "resource KEY=VALUE" and "extra KEY=VALUE". */
static char *process_context_text(const uint8_t *payload, size_t size)
{
    struct carry_text out = {0};
    struct pb r = {payload, payload + size}, sub, attr;
    unsigned field, attr_field;
    uint64_t v;
    carry_text_add(&out, "", 0);
    while (pb_next(&r, &field, &sub, &v)) {
        if (field == 1) {
            while (pb_next(&sub, &attr_field, &attr, &v)) {
                cr_assert_eq(attr_field, 1, "Resource field %u", attr_field);
                key_value_text("resource", attr, &out);
            }
        } else {
            cr_assert_eq(field, 2, "ProcessContext field %u", field);
            key_value_text("extra", sub, &out);
        }
    }
    return out.s;
}

/* Fails unless text has the line. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    cr_assert_fail("no line \"%s\" in:\n%s", line, text);
}

/* node's path from PATH, or NULL. */
static char *find_node(void)
{
    const char *path = getenv("PATH");
    for (const char *dir = path; dir != NULL && *dir != '\0';) {
        size_t n = strcspn(dir, ":");
        char *file;
        if (asprintf(&file, "%.*s/node", (int)n, dir) > 0 && access(file, X_OK) == 0)
            return file;
        free(file);
        dir += n + (dir[n] == ':');
    }
    return NULL;
}

/* The payload decoded by protobufjs with the official definitions
 * (tests/support/otlp/procctx.js, the packages scripts/test installs) must
 * read as text does; where node or the packages are not installed, only
 * this file's reader has read it. */
static void assert_official_decoding(const uint8_t *payload, size_t size, const char *text)
{
    char *node = find_node(), file[] = "/tmp/carry-procctx-XXXXXX", script[512];
    if (node == NULL) {
        cr_log_info("no node: the process context is decoded by test_profiler.c's reader only");
        return;
    }
    int fd = mkstemp(file);
    cr_assert(fd >= 0 && write(fd, payload, size) == (ssize_t)size);
    close(fd);
    snprintf(script, sizeof script, "%s/tests/support/otlp/procctx.js", carry_test_source());
    const char *argv[] = {node, script, file, NULL}, *modules = getenv("CARRY_TEST_OTLP_NODE");
    char node_path[4200];
    snprintf(node_path, sizeof node_path, "NODE_PATH=%s", modules ? modules : "");
    const char *env[] = {node_path, NULL};
    struct carry_run_result r = carry_run_program(false, env, argv);
    unlink(file);
    free(node);
    if (r.status != 0 && strstr(r.err, "Cannot find module") != NULL) {
        cr_log_info("protobufjs and the opentelemetry-proto definitions are not installed "
                    "(npm ci in tests/support/otlp): the process context is decoded by "
                    "test_profiler.c's reader only");
    } else {
        cr_assert_eq(r.status, 0, "procctx.js: %s", r.err);
        cr_assert_str_eq(r.out, text, "protobufjs decodes otherwise");
    }
    carry_run_free(&r);
}

/* What the process context of process pid must say. */
static void assert_process_context(int pid, const char *service)
{
    size_t size;
    uint8_t *payload = read_process_context(pid, &size);
    char *text = process_context_text(payload, size), line[128];
    assert_official_decoding(payload, size, text);
    snprintf(line, sizeof line, "resource service.name=%s", service);
    assert_line(text, line);
    cr_assert_eq(carry_count(text, "resource service.name="), 1, "%s", text);
    snprintf(line, sizeof line, "resource process.pid=%d", pid);
    assert_line(text, line);
    assert_line(text, "resource process.executable.name=profiled");
    assert_line(text, "resource telemetry.sdk.name=carry");
    assert_line(text, "resource telemetry.sdk.language=cpp");
    cr_assert(strstr(text, "\nresource telemetry.sdk.version=") != NULL, "%s", text);
    assert_line(text, "extra threadlocal.schema_version=tlsdesc_v1_dev");
    /* Key index 0 of the records, the method. */
    assert_line(text, "extra threadlocal.attribute_key_map=[http.request.method]");
    free(text);
    free(payload);
}

Test(profiler, the_process_context_says_how_to_read_the_records)
{
    struct carry_server s = start_profiled(NULL);
    assert_process_context(s.pid, "profiled");
    free(carry_server_stop(&s));

    const char *env[] = {"OTEL_SERVICE_NAME=checkout", NULL};
    const char *argv[] = {carry_test_fixture("profiled"), NULL};
    s = carry_server_start(true, env, argv);
    assert_process_context(s.pid, "checkout");
    free(carry_server_stop(&s));

    /* Without OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES's service.name,
     * as in the exporter's Resource. */
    const char *listed[] = {"OTEL_RESOURCE_ATTRIBUTES=service.name=web,team=t1", NULL};
    s = carry_server_start(true, listed, argv);
    assert_process_context(s.pid, "web");
    free(carry_server_stop(&s));
}

/* A forked child has a process context of its own (the parent's is not
 * inherited, MADV_DONTFORK), and the parent keeps its own. */
Test(profiler, a_forked_child_publishes_its_own)
{
    struct carry_server s = start_profiled("fork");
    char *line = carry_server_line(&s);
    int child = 0;
    cr_assert(line != NULL && sscanf(line, "child pid=%d", &child) == 1, "%s", line);
    free(line);
    assert_process_context(child, "profiled");
    assert_process_context(s.pid, "profiled");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", child);
    char *maps = carry_read_file(path);
    cr_assert_eq(carry_count(maps, "OTEL_CTX"), 1, "%s", maps);
    free(maps);
    free(carry_server_stop(&s));
}

/* Without libcarry there is no process context. */
Test(profiler, no_process_context_without_carry)
{
    const char *argv[] = {carry_test_fixture("profiled"), NULL};
    struct carry_server s = carry_server_start(false, NULL, argv);
    struct mapping m;
    cr_assert_not(find_mapping(s.pid, is_process_context, NULL, &m), "%s", m.name);
    free(carry_server_stop(&s));
}
