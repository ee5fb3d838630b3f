/*
 * The API of carry.h, exported as one table behind one versioned entry
 * point so that the header needs no link-time dependency.
 */
#include <stdlib.h>

#include "api.h"
#include "config.h"
#include "current.h"
#include "init.h"
#include "log.h"
#include "span.h"
#include "store.h"

static uint64_t carry__api_id(void)
{
    carry_ctx *ctx = carry__current();
    return ctx ? ctx->id : 0;
}

static const char *carry__api_get(const char *key)
{
    carry_ctx *ctx = carry__current();
    /* No key is empty (the store's hidden entry has the empty key). */
    if (ctx == NULL || key == NULL || key[0] == '\0')
        return NULL;
    return carry__ctx_get(ctx, key);
}

/* Checks in the order carry.h documents: key, value, current context. */
static int carry__api_write(const char *key, const char *value, bool unset)
{
    size_t len;
    carry_ctx *ctx = carry__current();
    int err = carry__key_check(key, &len);
    if (err == 0 && !unset && value == NULL)
        err = EINVAL;
    if (err == 0 && ctx == NULL)
        err = ESRCH;
    if (err == 0)
        err = unset ? carry__ctx_unset(ctx, key) : carry__ctx_set(ctx, key, value);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

static int carry__api_set(const char *key, const char *value)
{
    return carry__api_write(key, value, false);
}

static int carry__api_unset(const char *key)
{
    return carry__api_write(key, NULL, true);
}

static carry_ctx *carry__api_capture(void)
{
    carry_ctx *ctx = carry__current();
    return ctx ? carry__ctx_handle(ctx) : NULL;
}

static void carry__api_release(carry_ctx *ctx)
{
    if (ctx != NULL)
        carry__ctx_release_handle(ctx);
}

/* A context handed back by the application must be live; a dead one is a
 * use after release, reported and treated as no context. */
static bool carry__live_handle(carry_ctx *ctx, const char *fn)
{
    if (ctx == NULL || carry__ctx_alive(ctx))
        return true;
    carry__warn("%s(%p): the context is dead (used after its last release); running with no "
                "context",
                fn, (void *)ctx);
    if (carry__config.debug >= 3)
        abort();
    return false;
}

static void *carry__api_run(carry_ctx *ctx, void *(*fn)(void *), void *arg)
{
    if (fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (!carry__live_handle(ctx, "carry_run"))
        ctx = NULL;
    if (ctx != NULL)
        carry__ctx_ref_local(ctx);
    /* The cleanup also runs when fn's thread is cancelled or exits and the
     * stack unwinds through this frame. */
    carry_ctx *prev CARRY__SCOPED(carry__scope_leave) = carry__scope_enter(ctx);
    return fn(arg);
}

static carry_ctx *carry__api_begin(void)
{
    carry_ctx *ctx = carry__ctx_new_local(), *outer = carry__current();
    if (ctx == NULL)
        return NULL;
    /* Rule W: work begun inside a context is a span of its trace; rule O
     * sends it (INTERNAL) when the context it was begun in is sent too,
     * so that its id, which goes on the wire as a parent, names a span
     * the collector has. */
    if (outer != NULL) {
        carry__trace_child(&ctx->trace, ctx->id, &outer->trace);
        if (carry__span_started(&outer->trace) != 0)
            carry__span_begin(&ctx->trace);
    }
    carry__ctx_handle(ctx);
    carry__current_adopt(ctx);
    return ctx;
}

static int carry__api_enter(carry_ctx *ctx)
{
    if (!carry__live_handle(ctx, "carry_enter")) {
        errno = EINVAL;
        return -1;
    }
    carry__current_switch(ctx);
    return 0;
}

static uint64_t carry__api_ctx_id(const carry_ctx *ctx)
{
    return ctx ? ctx->id : 0;
}

static int carry__api_traceparent(char *buf)
{
    carry_ctx *ctx = carry__current();
    if (buf == NULL || ctx == NULL) {
        errno = buf == NULL ? EINVAL : ESRCH;
        return -1;
    }
    carry__trace_format(buf, &ctx->trace);
    buf[CARRY__TRACEPARENT_TEXT] = '\0';
    return 0;
}

static const struct carry_api carry__api = {
    .size = sizeof(struct carry_api),
    .id = carry__api_id,
    .get = carry__api_get,
    .set = carry__api_set,
    .unset = carry__api_unset,
    .capture = carry__api_capture,
    .release = carry__api_release,
    .run = carry__api_run,
    .begin = carry__api_begin,
    .enter = carry__api_enter,
    .ctx_id = carry__api_ctx_id,
    .traceparent = carry__api_traceparent,
};

CARRY__EXPORT const struct carry_api *carry_api_v1(void)
{
    carry__ensure_init();
    return carry__config.active ? &carry__api : NULL;
}
