/*
 * The OpenTelemetry process context (OTEP 4719), see procctx.h.  The
 * payload is a protobuf ProcessContext (the OTEP's definition):
 *
 *   message ProcessContext {
 *     opentelemetry.proto.resource.v1.Resource resource = 1;
 *     repeated opentelemetry.proto.common.v1.KeyValue extra_attributes = 2;
 *   }
 *
 * encoded with otlp.h's writer.  All system calls are carry's own
 * (sys.h): a memfd, a mapping, its name.
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

/* The names of trace.h's attribute key indexes, as readers of the thread
 * context find them in threadlocal.attribute_key_map. */
static const char *const carry__trace_key_map[CARRY__TRACE_ATTRS] = {
    [CARRY__TRACE_ATTR_METHOD] = "http.request.method",
};

/* The Resource the process is published with, kept for a forked child. */
static const struct carry__resource *carry__procctx_resource;

enum { CARRY__PROCCTX_RESOURCE = 1, CARRY__PROCCTX_EXTRA = 2 };

/* The payload for the Resource r of process pid: its size, or 0 when it
 * does not fit in cap bytes. */
static size_t carry__procctx_encode(uint8_t *out, size_t cap, const struct carry__resource *r,
                                    long pid)
{
    struct carry__pb pb = {out, cap, 0, false};
    carry__otlp_resource(&pb, CARRY__PROCCTX_RESOURCE, r, pid);
    carry__pb_attr_str(&pb, CARRY__PROCCTX_EXTRA, "threadlocal.schema_version",
                       CARRY__PROCCTX_SCHEMA, strlen(CARRY__PROCCTX_SCHEMA));
    carry__pb_attr_strs(&pb, CARRY__PROCCTX_EXTRA, "threadlocal.attribute_key_map",
                        carry__trace_key_map, CARRY__COUNT(carry__trace_key_map));
    return pb.over ? 0 : pb.len;
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
    size_t n = carry__procctx_encode(payload, sizeof payload, carry__procctx_resource,
                                     carry__sys(SYS_getpid));
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

void carry__procctx_start(const struct carry__resource *resource)
{
    carry__procctx_resource = resource;
    carry__procctx_publish();
}

void carry__procctx_atfork_child(void)
{
    if (carry__procctx_resource != NULL)
        carry__procctx_publish();
}
