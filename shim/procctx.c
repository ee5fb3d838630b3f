/*
 * The OpenTelemetry process context (OTEP 4719), see procctx.h.  The
 * payload is a protobuf ProcessContext (the OTEP's definition):
 *
 *   message ProcessContext {
 *     opentelemetry.proto.resource.v1.Resource resource = 1;
 *     repeated opentelemetry.proto.common.v1.KeyValue extra_attributes = 2;
 *   }
 *
 * encoded here by a writer that knows just the wire format it needs.  All
 * system calls are carry's own (sys.h): a memfd, a mapping, its name.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include "log.h"
#include "procctx.h"
#include "sys.h"
#include "trace.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define CARRY__PROCCTX_NAME "OTEL_CTX"
/* The longest service.name published, in bytes. */
#define CARRY__PROCCTX_SERVICE_MAX 256

/* The names of trace.h's attribute key indexes, as readers of the thread
 * context find them in threadlocal.attribute_key_map. */
static const char *const carry__trace_key_map[CARRY__TRACE_ATTRS] = {
    [CARRY__TRACE_ATTR_METHOD] = "http.request.method",
};

/* What the process was published as, kept for a forked child. */
static const char *carry__procctx_service, *carry__procctx_program;

/* A protobuf writer into a fixed buffer; full once anything did not fit
 * (the message is then dropped whole). */
struct carry__pb {
    uint8_t *buf;
    size_t len, cap;
    bool full;
};

static size_t carry__pb_varint_encode(uint8_t out[10], uint64_t v)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

static void carry__pb_put(struct carry__pb *pb, const void *src, size_t n)
{
    if (n > pb->cap - pb->len) {
        pb->full = true;
        return;
    }
    memcpy(pb->buf + pb->len, src, n);
    pb->len += n;
}

static void carry__pb_varint(struct carry__pb *pb, uint64_t v)
{
    uint8_t b[10];
    carry__pb_put(pb, b, carry__pb_varint_encode(b, v));
}

enum { CARRY__PB_VARINT = 0, CARRY__PB_LEN = 2 };

static void carry__pb_tag(struct carry__pb *pb, unsigned field, unsigned wire)
{
    carry__pb_varint(pb, field << 3 | wire);
}

static void carry__pb_bytes(struct carry__pb *pb, unsigned field, const char *s, size_t n)
{
    carry__pb_tag(pb, field, CARRY__PB_LEN);
    carry__pb_varint(pb, n);
    carry__pb_put(pb, s, n);
}

/* A length-delimited field whose length is known once its content is
 * written: opening leaves one byte for it and returns where the content
 * starts; closing writes the length, moving the content up if the length
 * takes more than that byte. */
static size_t carry__pb_open(struct carry__pb *pb, unsigned field)
{
    carry__pb_tag(pb, field, CARRY__PB_LEN);
    carry__pb_put(pb, "", 1);
    return pb->len;
}

static void carry__pb_close(struct carry__pb *pb, size_t start)
{
    if (pb->full)
        return;
    size_t len = pb->len - start;
    uint8_t b[10];
    size_t n = carry__pb_varint_encode(b, len);
    if (n - 1 > pb->cap - pb->len) {
        pb->full = true;
        return;
    }
    memmove(pb->buf + start + n - 1, pb->buf + start, len);
    memcpy(pb->buf + start - 1, b, n);
    pb->len += n - 1;
}

/* KeyValue {key = 1; AnyValue value = 2} as field of the enclosing message;
 * returns where the AnyValue's content starts (close it, then the pair). */
static size_t carry__pb_pair_open(struct carry__pb *pb, unsigned field, const char *key,
                                  size_t *pair)
{
    *pair = carry__pb_open(pb, field);
    carry__pb_bytes(pb, 1, key, strlen(key));
    return carry__pb_open(pb, 2);
}

static void carry__pb_pair_close(struct carry__pb *pb, size_t pair, size_t value)
{
    carry__pb_close(pb, value);
    carry__pb_close(pb, pair);
}

/* AnyValue.string_value = 1. */
static void carry__pb_attr_str(struct carry__pb *pb, unsigned field, const char *key,
                               const char *s, size_t n)
{
    size_t pair, value = carry__pb_pair_open(pb, field, key, &pair);
    carry__pb_bytes(pb, 1, s, n);
    carry__pb_pair_close(pb, pair, value);
}

/* AnyValue.int_value = 3. */
static void carry__pb_attr_int(struct carry__pb *pb, unsigned field, const char *key, long v)
{
    size_t pair, value = carry__pb_pair_open(pb, field, key, &pair);
    carry__pb_tag(pb, 3, CARRY__PB_VARINT);
    carry__pb_varint(pb, (uint64_t)v);
    carry__pb_pair_close(pb, pair, value);
}

/* AnyValue.array_value = 5, ArrayValue.values = 1, each a string. */
static void carry__pb_attr_strs(struct carry__pb *pb, unsigned field, const char *key,
                                const char *const *strs, size_t count)
{
    size_t pair, value = carry__pb_pair_open(pb, field, key, &pair);
    size_t array = carry__pb_open(pb, 5);
    for (size_t i = 0; i < count; i++) {
        size_t item = carry__pb_open(pb, 1);
        carry__pb_bytes(pb, 1, strs[i], strlen(strs[i]));
        carry__pb_close(pb, item);
    }
    carry__pb_close(pb, array);
    carry__pb_pair_close(pb, pair, value);
}

/* The bytes of s that fit in max, cut before a UTF-8 continuation byte. */
static size_t carry__utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

enum { CARRY__PROCCTX_RESOURCE = 1, CARRY__PROCCTX_EXTRA = 2, CARRY__RESOURCE_ATTRIBUTES = 1 };

size_t carry__procctx_encode(uint8_t *out, size_t cap, const char *service, const char *program,
                             long pid)
{
    struct carry__pb pb = {.buf = out, .cap = cap};
    size_t resource = carry__pb_open(&pb, CARRY__PROCCTX_RESOURCE);
    carry__pb_attr_str(&pb, CARRY__RESOURCE_ATTRIBUTES, "service.name", service,
                       carry__utf8_prefix(service, CARRY__PROCCTX_SERVICE_MAX));
    static const char *const sdk[][2] = {
        {"telemetry.sdk.name", "carry"},
        /* The semantic conventions' value for C and C++. */
        {"telemetry.sdk.language", "cpp"},
        {"telemetry.sdk.version", CARRY_VERSION},
    };
    for (size_t i = 0; i < CARRY__COUNT(sdk); i++)
        carry__pb_attr_str(&pb, CARRY__RESOURCE_ATTRIBUTES, sdk[i][0], sdk[i][1],
                           strlen(sdk[i][1]));
    carry__pb_attr_int(&pb, CARRY__RESOURCE_ATTRIBUTES, "process.pid", pid);
    carry__pb_attr_str(&pb, CARRY__RESOURCE_ATTRIBUTES, "process.executable.name", program,
                       strlen(program));
    carry__pb_close(&pb, resource);
    carry__pb_attr_str(&pb, CARRY__PROCCTX_EXTRA, "threadlocal.schema_version",
                       CARRY__PROCCTX_SCHEMA, strlen(CARRY__PROCCTX_SCHEMA));
    carry__pb_attr_strs(&pb, CARRY__PROCCTX_EXTRA, "threadlocal.attribute_key_map",
                        carry__trace_key_map, CARRY__COUNT(carry__trace_key_map));
    return pb.full ? 0 : pb.len;
}

static bool carry__sys_failed(long rc)
{
    return (unsigned long)rc > -4096UL;
}

/* OTEP 4719's publication: a memfd's private mapping (else an anonymous
 * one), not inherited across fork, the header's timestamp written last,
 * the mapping named "OTEL_CTX" (both names work for readers: the memfd's,
 * "/memfd:OTEL_CTX", and the one prctl gives; without either there is no
 * way to find it, and nothing is published). */
static void carry__procctx_publish(void)
{
    uint8_t payload[CARRY__PROCCTX_PAYLOAD_MAX];
    size_t n = carry__procctx_encode(payload, sizeof payload, carry__procctx_service,
                                     carry__procctx_program, carry__sys(SYS_getpid));
    if (n == 0) {
        carry__debug(1, "no process context (its payload exceeds %zu bytes)", sizeof payload);
        return;
    }
    size_t size = sizeof(struct carry__procctx_header) + n;
    long fd = carry__sys(SYS_memfd_create, CARRY__PROCCTX_NAME,
                         MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd == -EINVAL) /* a kernel before MFD_NOEXEC_SEAL (6.3) */
        fd = carry__sys(SYS_memfd_create, CARRY__PROCCTX_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    long map;
    if (fd >= 0) {
        long rc = carry__sys(SYS_ftruncate, fd, size);
        map = rc < 0 ? rc
                     : carry__sys(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        carry__sys(SYS_close, fd);
    } else {
        map = carry__sys(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    }
    if (carry__sys_failed(map)) {
        carry__debug(1, "no process context (no mapping: %ld)", map);
        return;
    }
    struct carry__procctx_header *h = (struct carry__procctx_header *)map;
    long rc = carry__sys(SYS_madvise, h, size, MADV_DONTFORK);
    if (rc == 0) {
        memcpy(h + 1, payload, n);
        memcpy(h->signature, CARRY__PROCCTX_NAME, sizeof h->signature);
        h->version = CARRY__PROCCTX_VERSION;
        h->payload_size = (uint32_t)n;
        h->payload = (uint64_t)(uintptr_t)(h + 1);
        struct timespec now = {0};
        carry__sys(SYS_clock_gettime, CLOCK_BOOTTIME, &now);
        uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        /* Readers take a non-zero timestamp to mean the rest is whole. */
        atomic_thread_fence(memory_order_seq_cst);
        *(volatile uint64_t *)&h->published_at_ns = ns != 0 ? ns : 1;
        rc = carry__sys(SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, h, size, CARRY__PROCCTX_NAME);
        if (fd >= 0)
            rc = 0;
    }
    if (rc != 0) {
        carry__sys(SYS_munmap, h, size);
        carry__debug(1, "no process context (madvise or naming failed: %ld)", rc);
    }
}

void carry__procctx_start(carry__getenv_fn *getenv_fn, const char *program)
{
    const char *service = getenv_fn("OTEL_SERVICE_NAME");
    carry__procctx_service = service != NULL && service[0] != '\0' ? service : program;
    carry__procctx_program = program;
    carry__procctx_publish();
}

void carry__procctx_atfork_child(void)
{
    if (carry__procctx_program != NULL)
        carry__procctx_publish();
}
