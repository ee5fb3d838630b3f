/*
 * What micro.c shares with the benchmarks in the other files of micro.
 */
#ifndef CARRY_MICRO_H
#define CARRY_MICRO_H

#include <stdint.h>

/* Exits with what failed and errno's message. */
void micro_die(const char *what);

/* Event-loop libraries (loops.c): per library, a callback dispatch with 64
 * fd watchers ready at once, each registered from its own context, and one
 * registration (start/add + stop/del of a timer) in a context. */
void micro_setup_levent(void);
void micro_loop_levent(uint64_t n);
void micro_teardown_levent(void);
void micro_loop_levent_add_del(uint64_t n);
void micro_setup_libev(void);
void micro_loop_libev(uint64_t n);
void micro_teardown_libev(void);
void micro_loop_libev_start_stop(uint64_t n);
void micro_setup_uv(void);
void micro_loop_uv(uint64_t n);
void micro_teardown_uv(void);
void micro_loop_uv_start_stop(uint64_t n);

/* With libcarry loaded: every callback must run in the context its watcher
 * was registered from.  Returns the number of problems (printed). */
int micro_sanity_loops(void);

#endif
