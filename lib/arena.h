/* arena.h -- bump allocation for objects that live as long as their context. */
#ifndef GP_ARENA_H
#define GP_ARENA_H
#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;  /* most recent chunk; older ones follow through ->next */
    size_t used;        /* bytes handed out from head */
    size_t total;       /* bytes handed out overall, for limits and statistics */
} arena;

void arena_init(arena *a);
void arena_free(arena *a);
/* n bytes aligned for any object; NULL when out of memory. */
void *arena_alloc(arena *a, size_t n);
/* A copy of s[0..n) with a terminating NUL; NULL when out of memory. */
char *arena_strndup(arena *a, const char *s, size_t n);
#endif
