/* Rule T: threads start in their creator's context (thread.c). */
#ifndef CARRY_THREAD_H
#define CARRY_THREAD_H

#include "common.h"

/* Rule T.  If the new thread should start in the current context, replaces
 * *fn and *arg with a trampoline that enters it and returns true; the
 * caller then passes them to the real pthread_create, and calls
 * carry__thread_abandon(*arg) if that fails. */
bool carry__thread_capture(void *(**fn)(void *), void **arg);
void carry__thread_abandon(void *arg);

#endif /* CARRY_THREAD_H */
