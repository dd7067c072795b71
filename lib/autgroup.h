/*
 * autgroup.h -- the permutation symmetries of a network: the automorphism
 * group of its coloured expression DAG, computed with nauty.
 *
 * A permutation of the params is reported only when it maps the DAG of the
 * roots onto itself (every node to a node of the same operation whose
 * children are the images of its children), fixing every input, target,
 * constant, number and root: substituting it into the loss gives the same
 * expression, so it is a symmetry of the function, exactly.  The converse
 * does not hold: a symmetry that the DAG does not show (two forms of the same
 * function the simplifier does not identify) is not found, so the group is a
 * subgroup of the true one, never larger.
 */
#ifndef GP_AUTGROUP_H
#define GP_AUTGROUP_H
#include <stdint.h>

#include "dag.h"

typedef struct autgroup {
    size_t nparam;        /* params the permutations act on */
    size_t ngen;          /* generators, each nontrivial on the params */
    uint32_t *gen;        /* [ngen * nparam]: gen[g * nparam + i] = ordinal of the image of param i (malloc) */
    double order;         /* group order: nauty's grpsize1 * 10^grpsize2 for the core times the
                             private part; inf beyond DBL_MAX (see log10_order) */
    int order_exact;      /* order < 2^53: `order` is the exact integer */
    double log10_order;   /* log10 of the order: finite where `order` overflows to inf */
    size_t nvert, nedge;  /* size of the coloured graph given to nauty, after
                             private subtrees and chains went into colours */
} autgroup;

/*
 * The automorphisms of the cone of roots[0..nroot) that fix every input,
 * target, constant, number and root, as permutations of the params
 * param_leaf[0..nparam) (leaf indices into ctx->leaf, each a param, no
 * repeats).  A param outside the cone, or itself a root, is fixed; a param
 * leaf of the cone missing from the list is fixed too.  Roots may repeat or
 * be GP_NIL (ignored).  Interchangeable private subtrees (the units of a
 * layer under one sum) come as a swap and a cycle, the rest as nauty's
 * generators; every generator is checked against the DAG before it is
 * reported.  *g is written on every path (empty on failure; free it with
 * autgroup_free() in every case).  GP_OK, GP_ENOMEM; GP_ELIMIT with a
 * diagnostic when the graph has more vertices than nauty takes;
 * GP_EINTERNAL when the arguments break the contract or a check fails.
 * Time: near-linear in the cone plus nauty's search on what remains; memory:
 * the generators take ngen * nparam entries.
 *
 * Not reentrant across threads with a nauty built without thread-local
 * storage; nauty's own work arrays are released before returning.  nauty
 * itself exits the process when it runs out of memory (alloc_error).
 */
gp_status autgroup_find(autgroup *g, gp_ctx *c, size_t nroot, const gp_id *roots, size_t nparam,
                        const uint32_t *param_leaf);
/* Free the generators; accepts a zeroed or already freed group. */
void autgroup_free(autgroup *g);
#endif
