/* Rule W, trace identity (trace.h). */
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "sys.h"
#include "trace.h"

/* The process's keys: 0 until seeded, then fixed for the image and its
 * forked children. */
uint64_t carry__trace_keys[4];
static _Atomic bool carry__trace_seeded;
static carry__spin carry__trace_seed_lock;

/* A stand-in when the kernel has no entropy to give without blocking
 * (early boot): different per process and start, which is what ids need
 * to differ between hosts; not secret. */
static void carry__trace_weak_seed(uint64_t *k, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&ts;
    for (size_t i = 0; i < n; i++) {
        /* splitmix64 */
        uint64_t z = (x += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        k[i] = z ^ (z >> 31);
    }
}

void carry__trace_seed(void)
{
    if (atomic_load_explicit(&carry__trace_seeded, memory_order_acquire))
        return;
    carry__spin_lock(&carry__trace_seed_lock);
    if (!atomic_load_explicit(&carry__trace_seeded, memory_order_relaxed)) {
        long rc = carry__sys(SYS_getrandom, carry__trace_keys, sizeof carry__trace_keys,
                             1 /* GRND_NONBLOCK */);
        if (rc != (long)sizeof carry__trace_keys)
            carry__trace_weak_seed(carry__trace_keys, CARRY__COUNT(carry__trace_keys));
        atomic_store_explicit(&carry__trace_seeded, true, memory_order_release);
    }
    carry__spin_unlock(&carry__trace_seed_lock);
}

void carry__trace_child(struct carry__trace *t, uint64_t id, const struct carry__trace *parent)
{
    memcpy(t->trace_id, parent->trace_id, sizeof t->trace_id);
    carry__trace_record(t, id, parent->flags);
    uint64_t p;
    memcpy(&p, parent->span_id, 8);
    t->parent_span = __builtin_bswap64(p);
}

/* 16 hex digits, already validated. */
static uint64_t carry__unhex16(const char *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 4 | (uint64_t)carry__unhex(s[i]);
    return v;
}

void carry__trace_adopt(struct carry__trace *t, const char *tp)
{
    carry__trace_put_be64(t->trace_id, carry__unhex16(tp + 3));
    carry__trace_put_be64(t->trace_id + 8, carry__unhex16(tp + 19));
    t->parent_span = carry__unhex16(tp + 36);
    t->flags = (uint8_t)(carry__unhex(tp[53]) << 4 | carry__unhex(tp[54]));
}

void carry__trace_set_method(struct carry__trace *t, const char *method, size_t len)
{
    if (len > CARRY__TRACE_METHOD_MAX)
        len = CARRY__TRACE_METHOD_MAX;
    t->attrs[0] = CARRY__TRACE_ATTR_METHOD;
    t->attrs[1] = (uint8_t)len;
    carry__copy((char *)t->attrs + 2, method, len);
    t->attrs_size = (uint16_t)(2 + len);
}

#ifdef __SSE2__
/* Every byte of v spread to two, one per nibble, the most significant
 * first, then turned into digits sixteen at once (SSE2 is in every
 * x86-64). */
void carry__hex16(char *out, uint64_t v)
{
    const __m128i low_nibbles = _mm_set1_epi8(0x0f);
    __m128i x = _mm_cvtsi64_si128((long long)__builtin_bswap64(v));
    __m128i nibbles = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi16(x, 4), low_nibbles),
                                        _mm_and_si128(x, low_nibbles));
    __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)),
                                    _mm_set1_epi8('a' - '0' - 10));
    _mm_storeu_si128((__m128i *)(void *)out,
                     _mm_add_epi8(nibbles, _mm_add_epi8(letters, _mm_set1_epi8('0'))));
}
#else
/* Eight hex digits of v, eight bytes at once: each nibble spread to a
 * byte of its own, turned into its digit, the most significant first. */
static inline uint64_t carry__hex8(uint32_t v)
{
    uint64_t x = ((uint64_t)(v & 0xffff0000u) << 16) | (v & 0xffffu);
    x = ((x & UINT64_C(0x0000ff000000ff00)) << 8) | (x & UINT64_C(0x000000ff000000ff));
    x = ((x & UINT64_C(0x00f000f000f000f0)) << 4) | (x & UINT64_C(0x000f000f000f000f));
    uint64_t letters = ((x + UINT64_C(0x0606060606060606)) >> 4) & UINT64_C(0x0101010101010101);
    x += UINT64_C(0x3030303030303030) + letters * ('a' - '0' - 10);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

void carry__hex16(char *out, uint64_t v)
{
    uint64_t hi = carry__hex8((uint32_t)(v >> 32)), lo = carry__hex8((uint32_t)v);
    memcpy(out, &hi, 8);
    memcpy(out + 8, &lo, 8);
}
#endif

void carry__trace_format(char *out, const struct carry__trace *t)
{
    uint64_t span;
    memcpy(&span, t->span_id, 8);
    memcpy(out, "00-", 3);
    carry__hex16(out + 3, carry__trace_hi(t));
    carry__hex16(out + 19, carry__trace_lo(t));
    out[35] = '-';
    carry__hex16(out + 36, __builtin_bswap64(span));
    out[52] = '-';
    out[53] = "0123456789abcdef"[t->flags >> 4];
    out[54] = "0123456789abcdef"[t->flags & 15];
}
