/* CARRY_STATS: the report at exit (report.c); the counters are stats.h's. */
#ifndef CARRY_REPORT_H
#define CARRY_REPORT_H

#include "common.h"

/* Starts counting and arranges the report for target ("stderr" or a path;
 * NULL or empty: none).  False, having said why, when there is none. */
bool carry__report_start(const char *target);

/* The report, as printed at exit; returns its length. */
size_t carry__report_format(char *buf, size_t size);

/* A forked child counts afresh: its report is its own. */
void carry__report_atfork_child(void);

#endif /* CARRY_REPORT_H */
