/*
 * Fuzz target: a context's store (store.h) against a plain model of it.
 * The input is a program of sets, unsets, gets, lists and recycles on keys
 * from a fixed pool (short, long, sharing prefixes, bytes of either sign:
 * enough to take the store from its list to its index and through its
 * index's growth) and keys the input spells itself.  Every read agrees
 * with the model, and every value a read returned keeps its bytes while
 * the context lives, as carry_get promises.
 */
#include <errno.h>
#include <string.h>

#include "carry.h"
#include "context.h"
#include "current.h"
#include "fuzz.h"
#include "store.h"

#define POOL 48
#define MODEL_MAX 96
#define KEPT_MAX 64

static char pool[POOL][CARRY_KEY_MAX + 1];

static void pool_init(void)
{
    static const char *const fixed[] = {
        "a", "ab", "abc", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh1", "user", "users",
        "use", "trace_id", "span_id", "conn", "seq", "peer", "local", "http.method",
        "http.target", "\x7f", "\x80", "\xff\xfe", "a\x80", "key1", "key2", "key10",
    };
    size_t n = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < POOL; i++) {
        if (i < n)
            strcpy(pool[i], fixed[i]);
        else
            snprintf(pool[i], sizeof pool[i], "k%zu", i);
    }
    memset(pool[POOL - 1], 'z', CARRY_KEY_MAX);
    pool[POOL - 1][CARRY_KEY_MAX] = '\0';
}

/* The model: keys with their value (NULL: unset), in no order. */
static struct {
    char key[CARRY_KEY_MAX + 1];
    char *value;
} model[MODEL_MAX];
static size_t model_n;

static char **model_value(const char *key, bool add)
{
    for (size_t i = 0; i < model_n; i++)
        if (strcmp(model[i].key, key) == 0)
            return &model[i].value;
    if (!add || model_n == MODEL_MAX)
        return NULL;
    strcpy(model[model_n].key, key);
    model[model_n].value = NULL;
    return &model[model_n++].value;
}

static void model_clear(void)
{
    for (size_t i = 0; i < model_n; i++)
        free(model[i].value);
    model_n = 0;
}

/* Values reads returned, with a copy of their bytes then. */
static struct {
    const char *got;
    char *copy;
} kept[KEPT_MAX];
static size_t kept_n;

static void kept_check_and_clear(void)
{
    for (size_t i = 0; i < kept_n; i++) {
        FUZZ_CHECK(strcmp(kept[i].got, kept[i].copy) == 0, "a value returned before changed");
        free(kept[i].copy);
    }
    kept_n = 0;
}

/* A key: one of the pool's, or (one time in eight) spelt by the input. */
static void take_key(struct fuzz_input *in, char key[CARRY_KEY_MAX + 1])
{
    unsigned pick = fuzz_take(in);
    if (pick % 8 != 7) {
        strcpy(key, pool[pick % POOL]);
        return;
    }
    size_t len = fuzz_take(in) % (CARRY_KEY_MAX + 1);
    if (len > in->n)
        len = in->n;
    memcpy(key, in->p, len);
    key[len] = '\0';
    in->p += len;
    in->n -= len;
}

/* A value's length: mostly short, sometimes past a chunk, rarely past the
 * limit. */
static size_t take_len(struct fuzz_input *in)
{
    unsigned a = fuzz_take(in), b = fuzz_take(in);
    switch (a % 8) {
    case 7:
        return CARRY_VALUE_MAX - 1 + b % 3;
    case 6:
        return 4000 + b * 16;
    default:
        return b % 40;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (pool[0][0] == '\0')
        pool_init();
    struct fuzz_input in = {data, size};
    carry_ctx *ctx = carry__ctx_new();
    FUZZ_CHECK(ctx != NULL, "out of memory");
    static char value[CARRY_VALUE_MAX + 2];
    static const char hidden_bytes[16] = "0123456789abcde";
    char *hidden = NULL;
    while (in.n > 0) {
        unsigned op = fuzz_take(&in);
        char key[CARRY_KEY_MAX + 1];
        take_key(&in, key);
        size_t key_len;
        bool key_ok = carry__key_check(key, &key_len) == 0;
        FUZZ_CHECK(key_ok == (key[0] != '\0'), "key of %zu bytes judged wrongly", strlen(key));
        switch (op % 6) {
        case 0:
        case 1: { /* set, or setn with bytes that may hold a NUL */
            size_t len = take_len(&in);
            memset(value, 'a' + (int)(op % 26), len);
            value[len] = '\0';
            if (op % 6 == 1 && len > 2)
                value[len / 2] = (char)fuzz_take(&in);
            char **v = key_ok ? model_value(key, true) : NULL;
            if (v == NULL)
                break; /* an empty key, or the model full */
            int err = op % 6 == 0 ? carry__ctx_set(ctx, key, value)
                                  : carry__ctx_setn(ctx, key, value, len);
            if (len > CARRY_VALUE_MAX) {
                FUZZ_CHECK(err == E2BIG, "a value of %zu bytes: %d", len, err);
                break;
            }
            FUZZ_CHECK(err == 0, "set: %d", err);
            free(*v);
            *v = strdup(value); /* up to the first NUL, as reads see it */
            break;
        }
        case 2: { /* unset */
            if (!key_ok)
                break;
            int err = carry__store_unset(&ctx->store, &ctx->lock, key);
            char **v = model_value(key, false);
            bool had = v != NULL && *v != NULL;
            FUZZ_CHECK(err == (had ? 0 : ENOENT), "unset: %d", err);
            if (had) {
                free(*v);
                *v = NULL;
            }
            break;
        }
        case 3:
        case 4: { /* get */
            if (!key_ok)
                break;
            const char *got = carry__store_get(&ctx->store, key);
            char **v = model_value(key, false);
            const char *want = v != NULL ? *v : NULL;
            FUZZ_CHECK((got == NULL) == (want == NULL) && (got == NULL || strcmp(got, want) == 0),
                       "get of a key gave %s", got ? "another value" : "none");
            if (got != NULL && kept_n < KEPT_MAX) {
                kept[kept_n].got = got;
                kept[kept_n++].copy = strdup(got);
            }
            break;
        }
        default: /* list, or (rarely) recycle: the context's next life */
            if (op % 32 != 5) {
                const char *keys[MODEL_MAX], *values[MODEL_MAX];
                size_t n = carry__store_list(&ctx->store, keys, values, MODEL_MAX);
                size_t want = 0;
                for (size_t i = 0; i < model_n; i++)
                    want += model[i].value != NULL;
                FUZZ_CHECK(n == want, "list: %zu keys, the model has %zu", n, want);
                for (size_t i = 0; i < n && i < MODEL_MAX; i++) {
                    char **v = model_value(keys[i], false);
                    FUZZ_CHECK(v != NULL && *v != NULL && strcmp(*v, values[i]) == 0,
                               "list: a key with another value");
                }
                break;
            }
            kept_check_and_clear();
            carry__store_free_arena(carry__store_recycle(&ctx->store));
            model_clear();
            /* A connection's next life begins with its hidden addresses. */
            if (fuzz_take(&in) & 1) {
                hidden = carry__store_add_hidden(&ctx->store, sizeof hidden_bytes);
                FUZZ_CHECK(hidden != NULL, "out of memory");
                memcpy(hidden, hidden_bytes, sizeof hidden_bytes);
            } else {
                hidden = NULL;
            }
            break;
        }
    }
    kept_check_and_clear();
    FUZZ_CHECK(carry__store_hidden(&ctx->store) == hidden &&
                   (hidden == NULL || memcmp(hidden, hidden_bytes, sizeof hidden_bytes) == 0),
               "the hidden entry lost");
    model_clear();
    carry__ctx_unref(ctx);
    return 0;
}
