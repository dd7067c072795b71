/*
 * ctx.h -- the context: the one owner of a session's memory.
 *
 * Internal to the library.  A context owns the arena (syntax trees, child
 * arrays, strings), the DAG with its intern table and exact constants, the
 * loaded sources and cases, and the diagnostics.  gp_ctx_free() releases all
 * of it, clearing every GMP value first.
 */
#ifndef GP_CTX_H
#define GP_CTX_H
#include <gmp.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "gradproof.h"

typedef uint32_t gp_id;         /* a DAG node; ids are a topological order */
#define GP_NIL ((gp_id)0xFFFFFFFFu) /* "no node": a failed construction */

typedef struct gp_node gp_node;
typedef struct gp_leaf gp_leaf;
typedef struct gp_label gp_label;

struct gp_ctx {
    arena mem;           /* everything without its own clear */
    gp_limits lim;       /* limits in force */
    gp_status status;    /* sticky failure of a constructor (GP_ENOMEM, GP_ELIMIT) */

    gp_source *src;      /* loaded sources */
    int nsrc, capsrc;
    gp_diag *diag;       /* diagnostics, in order */
    size_t ndiag, capdiag;
    size_t nerr;         /* errors among them */

    /* the DAG (dag.c) */
    gp_node *node;       /* node[id] */
    size_t nnode, capnode;
    gp_id *htab;         /* open-addressing intern table of node ids */
    size_t hcap;         /* a power of two */
    mpq_t *num;          /* exact constants, by index */
    size_t nnum, capnum;
    gp_leaf *leaf;       /* symbols: params, inputs, targets, constants */
    size_t nleaf, capleaf;
    uint32_t nleafkind[4]; /* leaves of each gp_leaf_kind so far */
    gp_label *label;     /* display names of intermediates (label[0] unused) */
    size_t nlabel, caplabel;
    gp_id *assume;       /* nodes assumed nonzero by a simplification */
    size_t nassume, capassume;

    gp_case **cases;     /* loaded cases, freed with the context */
    size_t ncases, capcases;

    uintptr_t stack_base;   /* an address near the top of the stack at the entry point */
    size_t stack_budget;    /* bytes of stack the recursive parts may use below it */
};

/* Read a whole file ("-": standard input) into a malloc'd NUL-terminated
   buffer.  Returns 0; -1 when it cannot be read (errno says why); -2 when it
   is larger than max bytes. */
int ctx_read_file(const char *path, size_t max, char **text, size_t *len);

/* Note where the stack is at a library entry point, before recursing. */
void ctx_stack_mark(gp_ctx *c);
/* Is there stack left for another level of recursion?  The recursive
   descent and the expression builder check it, so that a deep input is an
   error, whatever --max-depth says, and never a stack overflow. */
int ctx_stack_ok(const gp_ctx *c);

/* Grow a dynamic array *pp of element size sz to hold at least `need`
   elements; 0 when out of memory. */
int ctx_grow(void **pp, size_t *cap, size_t need, size_t sz);
#endif
