/*
 * arena.c -- a bump allocator.
 *
 * Every syntax node, DAG child array and name string of a context is carved
 * from its arena and released all at once by arena_free().  The arena never
 * frees single objects, and it knows nothing of GMP limbs: whoever stores an
 * mpq_t in arena memory must clear it before the arena goes (dag.c does).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk *next; /* the previous (older) chunk */
    size_t size;       /* usable bytes in data[] */
    max_align_t data[];
};

enum { CHUNK_MIN = 64 * 1024 };

void arena_init(arena *a) { a->head = NULL; a->used = 0; a->total = 0; }

void arena_free(arena *a)
{
    arena_chunk *k = a->head;
    while (k) {
        arena_chunk *next = k->next;
        free(k);
        k = next;
    }
    arena_init(a);
}

void *arena_alloc(arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    if (!a->head || a->head->size - a->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        /* grow chunks with the arena so that big DAGs take few mallocs */
        if (a->head && a->head->size * 2 > size && a->head->size < (64u << 20))
            size = a->head->size * 2;
        arena_chunk *k = malloc(sizeof *k + size);
        if (!k)
            return NULL;
        k->next = a->head;
        k->size = size;
        a->head = k;
        a->used = 0;
    }
    void *p = (char *)a->head->data + a->used;
    a->used += n;
    a->total += n;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
