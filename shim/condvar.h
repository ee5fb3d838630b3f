/*
 * Rule H's condition variables (dataflow, opt-in): a signal or broadcast
 * made in a context hands it to the threads it wakes (condvar.c).
 */
#ifndef CARRY_CONDVAR_H
#define CARRY_CONDVAR_H

#include "common.h"

/* pthread_cond_signal (broadcast false) or _broadcast on cond is about to
 * run in the current context: it becomes cond's record, replacing the one
 * there.  In no context, cond's record goes: the signal hands nothing
 * over. */
void carry__cv_signal(const void *cond, bool broadcast);

/* A wait on cond is about to begin: what to give carry__cv_woken when it
 * has returned 0 (a record made before the wait began woke no one in it). */
uint64_t carry__cv_waiting(const void *cond);

/* A wait on cond that began at seen returned 0: if a signal recorded a
 * context for cond since, it becomes current (a signal's record is taken
 * by the first waiter to return, a broadcast's by each); else the current
 * context stays. */
void carry__cv_woken(const void *cond, uint64_t seen);

#endif /* CARRY_CONDVAR_H */
