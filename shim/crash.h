/* Crash reports: CARRY_CRASH (crash.c). */
#ifndef CARRY_CRASH_H
#define CARRY_CRASH_H

/* Installs carry's handler for the fatal signals when carry is active and
 * CARRY_CRASH=1.  Once, from libcarry's constructor, after carry__init:
 * it loads libunwind, which an entry point (perhaps called inside an
 * allocator's lock) must not; actions the program set before are read from
 * the kernel. */
void carry__crash_start(void);

/* Whether this thread is writing a crash report, from its signal handler
 * (what the report calls, libunwind's pipe among them, must allocate
 * nothing). */
bool carry__crash_reporting(void);

#endif /* CARRY_CRASH_H */
