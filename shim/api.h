/* The API of carry.h, behind one exported entry point (api.c). */
#ifndef CARRY_API_H
#define CARRY_API_H

#include "common.h"

/* The table of carry.h's functions (carry.h looks it up by the name
 * CARRY_ENTRY_POINT), or NULL when carry is passive in this program. */
CARRY__EXPORT const struct carry_api *carry_api_v1(void);

#endif /* CARRY_API_H */
